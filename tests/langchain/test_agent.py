"""Agent runs: a chat model calls the tools, the ToolMessages carry the artifacts.

The model is scripted (no LLM offline); everything after its tool call is the real
LangChain path: ``AIMessage.tool_calls`` → ``BaseTool.invoke(tool_call)`` → the tool
on the core's REST client → the local server over a real socket → ``ToolMessage``.
The tone engine makes the audio checkable: 200 ms per word at speed 1.
"""

from __future__ import annotations

import wave
from io import BytesIO
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage

from langchain_smallest import SmallestTextToSpeechTool, SmallestToolkit, SpeechAudio
from smallest_core import ClonedVoice, Voice
from smallest_local import Server

from .conftest import ScriptedChatModel, arun_agent, run_agent, write_voice_sample

SENTENCE = "Your order ships on Monday morning."
WORD_S = 0.2  # tone engine: one word at speed 1.0


def speak_call(text: str, call_id: str = "call_1", **args: object) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {"name": "smallest_text_to_speech", "args": {"text": text, **args}, "id": call_id}
        ],
    )


def wav_seconds(data: bytes) -> float:
    with wave.open(BytesIO(data)) as w:
        assert (w.getnchannels(), w.getsampwidth()) == (1, 2)
        return w.getnframes() / w.getframerate()


def tool_messages(messages: list[BaseMessage]) -> list[ToolMessage]:
    return [m for m in messages if isinstance(m, ToolMessage)]


def test_agent_speaks_and_the_tool_message_carries_the_audio(
    smallest_server: Server, tmp_path: Path
):
    toolkit = SmallestToolkit(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url, output_dir=tmp_path
    )
    model = ScriptedChatModel(replies=[speak_call(SENTENCE), AIMessage("Done, I said it.")])

    messages = run_agent(model, toolkit.get_tools(), "Tell the customer when the order ships.")

    [result] = tool_messages(messages)
    assert result.status == "success" and result.tool_call_id == "call_1"
    audio = result.artifact
    assert isinstance(audio, SpeechAudio)
    assert audio.output_format == "wav" and audio.sample_rate == 24000
    assert wav_seconds(audio.audio) == pytest.approx(6 * WORD_S) == audio.duration
    assert audio.path is not None and audio.path.parent == tmp_path
    assert audio.path.read_bytes() == audio.audio  # the file is the artifact, byte for byte
    assert f"{audio.duration:.2f} s" in result.content and str(audio.path) in result.content
    assert "RIFF" not in result.content  # the model reads a summary, never the audio
    assert messages[-1].content == "Done, I said it."
    assert smallest_server.stats.syntheses_completed == 1
    toolkit.close()


async def test_async_agent_speaks_without_writing_files(smallest_server: Server, tmp_path: Path):
    tts = SmallestTextToSpeechTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url, output_format="pcm"
    )
    model = ScriptedChatModel(
        replies=[speak_call(SENTENCE, speed=2.0, sample_rate=16000), AIMessage("Done.")]
    )

    messages = await arun_agent(model, [tts], "Say it quickly.")

    [result] = tool_messages(messages)
    audio = result.artifact
    assert isinstance(audio, SpeechAudio) and audio.path is None
    assert (audio.output_format, audio.sample_rate) == ("pcm", 16000)
    assert len(audio.audio) == 6 * round(WORD_S / 2.0 * 16000 / 2) * 4  # 6 words at 2x
    assert "not saved" in result.content
    assert list(tmp_path.iterdir()) == []


async def test_async_agent_lists_clones_and_speaks_with_the_new_voice(
    smallest_server: Server, tmp_path: Path
):
    """list voices → clone from a recording (waiting for the job) → speak with the clone."""
    sample = write_voice_sample(tmp_path / "me.wav")
    toolkit = SmallestToolkit(api_key=smallest_server.api_key, base_url=smallest_server.http_url)

    def speak_with_clone(messages: list[BaseMessage]) -> AIMessage:
        clone = tool_messages(messages)[-1].artifact
        return speak_call("Hello in my own voice.", "call_3", voice_id=clone.voice_id)

    model = ScriptedChatModel(
        replies=[
            AIMessage(
                content="",
                tool_calls=[
                    {"name": "smallest_list_voices", "args": {"language": "hindi"}, "id": "call_1"}
                ],
            ),
            AIMessage(
                content="",
                tool_calls=[
                    {
                        "name": "smallest_clone_voice",
                        "args": {"file_path": str(sample), "display_name": "Me", "wait": True},
                        "id": "call_2",
                    }
                ],
            ),
            speak_with_clone,
            AIMessage("Here you are."),
        ]
    )

    messages = await arun_agent(model, toolkit.get_tools(), "Clone my voice and greet me.")

    listed, cloned, spoken = tool_messages(messages)
    voices = listed.artifact
    assert voices and all(isinstance(v, Voice) for v in voices)
    assert all(any(n.startswith("hindi") for n in v.languages) for v in voices)
    assert all(v.voice_id in listed.content for v in voices)
    clone = cloned.artifact
    assert isinstance(clone, ClonedVoice) and clone.ready
    assert f"voice_id={clone.voice_id!r}" in cloned.content
    assert spoken.status == "success" and spoken.artifact.voice_id == clone.voice_id
    assert spoken.artifact.duration == pytest.approx(5 * WORD_S)
    toolkit.close()


def test_clone_without_waiting_reports_the_pending_job(smallest_server: Server, tmp_path: Path):
    toolkit = SmallestToolkit(
        api_key=smallest_server.api_key,
        base_url=smallest_server.http_url,
        clone_root_dir=tmp_path,
    )
    write_voice_sample(tmp_path / "me.wav")
    clone_tool = toolkit.get_tools()[2]

    message = clone_tool.invoke(
        {
            "type": "tool_call",
            "id": "c1",
            "name": clone_tool.name,
            "args": {"file_path": "me.wav", "display_name": "Me"},  # relative to the root
        }
    )

    assert message.status == "success"
    assert not message.artifact.final and message.artifact.voice_id in message.content
    toolkit.close()


def test_invoking_with_plain_args_returns_the_summary_only(smallest_server: Server):
    """LangChain keeps the artifact only with a tool call id; plain args give the content."""
    tts = SmallestTextToSpeechTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    )
    content = tts.invoke({"text": "Two words."})
    assert isinstance(content, str) and content.startswith("Spoke 0.40 s of audio")
    tts.close()


@pytest.mark.parametrize(
    ("output_format", "sample_rate"),
    [("wav", 44100), ("pcm", 24000), ("mp3", 24000), ("ulaw", 8000), ("alaw", 8000)],
)
async def test_every_output_format_reports_its_duration(
    smallest_server: Server, tmp_path: Path, output_format: str, sample_rate: int
):
    tts = SmallestTextToSpeechTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url, output_dir=tmp_path
    )
    message = await tts.ainvoke(
        speak_call("One two three four five.", output_format=output_format,
                   sample_rate=sample_rate).tool_calls[0]
    )  # fmt: skip
    audio = message.artifact
    assert (audio.output_format, audio.sample_rate) == (output_format, sample_rate)
    assert audio.duration == pytest.approx(1.0, abs=0.06)  # mp3 frames pad the end a little
    assert audio.path.suffix == f".{output_format}" and audio.path.read_bytes() == audio.audio


def test_the_toolkit_shares_one_client(smallest_server: Server):
    toolkit = SmallestToolkit(api_key=smallest_server.api_key, base_url=smallest_server.http_url)
    tools = toolkit.get_tools()
    assert [t.name for t in tools] == [
        "smallest_text_to_speech",
        "smallest_list_voices",
        "smallest_clone_voice",
        "smallest_speech_to_text",
    ]
    assert len({id(t.client) for t in tools}) == 1 and tools[0].client is not None
    for tool, args in ((tools[0], {"text": "Hi."}), (tools[1], {})):  # both use that client
        assert tool.invoke({"type": "tool_call", "id": "1", "name": tool.name, "args": args})
    toolkit.close()
