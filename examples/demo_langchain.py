"""Demo scenes: langchain_smallest — an agent that calls the speak tool, and a chat model
piped into ``SmallestSpeech`` (speech starts while the model is still streaming).

The chat models are langchain-core fakes so this runs offline; swap in any real chat
model (tool-calling for the agent) and nothing else changes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from demo_common import SceneResult, progress, write_wav
from langchain_core.language_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage

from langchain_smallest import SmallestSpeech, SmallestToolkit
from smallest_core import wav_to_pcm

AGENT = "langchain agent tool"
PIPE = "langchain model|speech"
SAID_BY_TOOL = "Your table for two is ready. Please follow me."
ANSWER = "Of course. The museum opens at nine o'clock on Monday. I would like to see you there."


class ToolCallingFake(GenericFakeChatModel):
    """Stands in for a tool-calling chat model (e.g. ChatOpenAI)."""

    def bind_tools(self, tools: Sequence[Any], **kwargs: Any) -> ToolCallingFake:  # type: ignore[override]
        return self


async def agent_scene(
    base_url: str | None, api_key: str | None, out: Path, sockets: Callable[[], int | None]
) -> SceneResult:
    """The model asks for speech; the tool's ``ToolMessage`` carries the audio."""
    script = [
        AIMessage(
            "",
            tool_calls=[
                {"name": "smallest_text_to_speech", "args": {"text": SAID_BY_TOOL}, "id": "call_1"}
            ],
        ),
        AIMessage("I told the guests out loud."),
    ]
    kwargs = {"api_key": api_key} if api_key else {}
    toolkit = (
        SmallestToolkit(base_url=base_url, **kwargs) if base_url else SmallestToolkit(**kwargs)
    )
    tools = {tool.name: tool for tool in toolkit.get_tools()}
    model = ToolCallingFake(messages=iter(script)).bind_tools(list(tools.values()))
    before = sockets()
    messages: list[BaseMessage] = [HumanMessage("Tell the guests their table is ready.")]
    artifact = None
    ttfa = 0.0
    while True:  # the tool-calling loop that langchain's create_agent runs
        reply = await model.ainvoke(messages)
        messages.append(reply)
        if not isinstance(reply, AIMessage) or not reply.tool_calls:
            break
        for call in reply.tool_calls:
            progress(AGENT, f"model calls {call['name']}({call['args']['text']!r})")
            start = time.perf_counter()
            result: ToolMessage = await tools[call["name"]].ainvoke({**call, "type": "tool_call"})
            ttfa = (time.perf_counter() - start) * 1000
            messages.append(result)
            artifact = result.artifact
            progress(AGENT, f"model reads: {result.content}")
    toolkit.close()
    progress(AGENT, f"agent says: {messages[-1].content}")
    assert artifact is not None
    pcm = artifact.audio if artifact.output_format == "pcm" else wav_to_pcm(artifact.audio)[0]
    seconds = write_wav(out / "langchain_agent.wav", pcm, artifact.sample_rate)
    after = sockets()
    opened = None if before is None or after is None else after - before
    return SceneResult(
        AGENT, str(out / "langchain_agent.wav"), ttfa, seconds, opened, None, SAID_BY_TOOL
    )


async def pipe_scene(
    base_url: str | None, api_key: str | None, out: Path, sockets: Callable[[], int | None]
) -> SceneResult:
    """``chat_model | SmallestSpeech()``: PCM chunks arrive while the model streams."""
    kwargs: dict[str, Any] = {"api_key": api_key} if api_key else {}
    if base_url:
        kwargs["base_url"] = base_url
    speech = SmallestSpeech(voice_id="magnus", **kwargs)
    model = GenericFakeChatModel(messages=iter([ANSWER]))  # streams word by word
    before = sockets()
    pcm = bytearray()
    start = time.perf_counter()
    first = 0.0
    progress(PIPE, "model | speech streaming")
    async for chunk in (model | speech).astream("When does the museum open?"):
        first = first or time.perf_counter()
        pcm += chunk
    await speech.aclose()
    after = sockets()
    seconds = write_wav(out / "langchain_speech.wav", bytes(pcm), speech.sample_rate)
    progress(PIPE, f"wrote {out / 'langchain_speech.wav'} ({seconds:.1f} s)")
    opened = None if before is None or after is None else after - before
    return SceneResult(
        PIPE,
        str(out / "langchain_speech.wav"),
        (first - start) * 1000,
        seconds,
        opened,
        None,
        ANSWER,
    )
