"""An agent calls Smallest text-to-speech; the ToolMessage carries the audio (runs offline)."""

from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, HumanMessage

from langchain_smallest import SmallestToolkit
from smallest_local import Server


class ScriptedModel(GenericFakeChatModel):
    """Stands in for a tool-calling chat model (e.g. ChatOpenAI) so this runs offline."""

    def bind_tools(self, tools, **kwargs):
        return self


script = [
    AIMessage(
        "",
        tool_calls=[
            {
                "name": "smallest_text_to_speech",
                "args": {"text": "Your table for two is ready."},
                "id": "call_1",
            }
        ],
    ),
    AIMessage("I told the guests out loud."),
]

with Server(engine="espeak") as server:  # the real API: drop this, set SMALLEST_API_KEY
    toolkit = SmallestToolkit(api_key=server.api_key, base_url=server.http_url, output_dir="speech")
    tools = {tool.name: tool for tool in toolkit.get_tools()}
    model = ScriptedModel(messages=iter(script)).bind_tools(list(tools.values()))

    messages = [HumanMessage("Tell the guests their table is ready, out loud.")]
    while True:  # the tool-calling loop (langchain's create_agent runs the same one)
        reply = model.invoke(messages)
        messages.append(reply)
        if not reply.tool_calls:
            break
        for call in reply.tool_calls:
            result = tools[call["name"]].invoke(call)  # a ToolMessage
            messages.append(result)
            print("model reads:", result.content)
            print("app gets:", result.artifact)  # .audio holds the WAV bytes
    print("agent:", messages[-1].content)
    toolkit.close()
