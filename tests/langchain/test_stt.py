"""Speech-to-text in LangChain: the transcription tool from a model's tool call, and the
audio document loader — over real sockets to smallest_local's tone recognizer, which hears
each tone word slot as ``tag<value>`` with exact 200 ms word times.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.utils.function_calling import convert_to_openai_tool

from langchain_smallest import SmallestAudioLoader, SmallestSpeechToTextTool, SmallestToolkit
from smallest_core import AuthenticationError, STTOptions, Transcription, pcm_to_wav
from smallest_local import Server
from smallest_local.engines import ToneEngine, tone_word

from .conftest import ScriptedChatModel, arun_agent, run_agent

WORD_S = 0.2  # tone engine: one word slot


def tone(words: int, tag: str, rate: int = 16000) -> bytes:
    """PCM the tone recognizer hears as ``words`` times ``tone_word(tag)``."""
    return (
        ToneEngine().synthesize(" ".join(["w"] * words), voice_id="", sample_rate=rate, tag=tag).pcm
    )


def recording(path: Path, *tags: str) -> Path:
    """A WAV of one tone word per tag, in order."""
    path.write_bytes(pcm_to_wav(b"".join(tone(1, tag) for tag in tags), 16000))
    return path


def plain(text: str) -> list[str]:
    """Transcript words without the capitals and final period ``format`` adds."""
    return [w.strip(".,").lower() for w in text.split()]


def transcribe_call(call_id: str = "call_1", **args: object) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[{"name": "smallest_speech_to_text", "args": args, "id": call_id}],
    )


def echo_transcript(messages: list[BaseMessage]) -> AIMessage:
    """The model's second turn: it read the transcript from the ToolMessage."""
    tool_message = messages[-1]
    assert isinstance(tool_message, ToolMessage)
    return AIMessage(f"The caller said: {tool_message.content}")


def tool(server: Server, **kw: object) -> SmallestSpeechToTextTool:
    return SmallestSpeechToTextTool(api_key=server.api_key, base_url=server.http_url, **kw)  # type: ignore[arg-type]


# -- the tool, from a model's tool call --------------------------------------------------------
def test_agent_transcribes_a_file_and_reads_the_transcript(smallest_server: Server, tmp_path: Path):
    path = recording(tmp_path / "call.wav", "alpha", "bravo", "charlie")
    toolkit = SmallestToolkit(api_key=smallest_server.api_key, base_url=smallest_server.http_url)
    model = ScriptedChatModel(replies=[transcribe_call(file_path=str(path)), echo_transcript])

    messages = run_agent(model, toolkit.get_tools(), "What does call.wav say?")

    [result] = [m for m in messages if isinstance(m, ToolMessage)]
    expected = [tone_word("alpha"), tone_word("bravo"), tone_word("charlie")]
    assert result.status == "success" and result.name == "smallest_speech_to_text"
    assert plain(str(result.content)) == expected
    transcription = result.artifact
    assert isinstance(transcription, Transcription)
    assert transcription.text == result.content
    assert [w.word for w in transcription.words] == expected
    times = [t for w in transcription.words for t in (w.start, w.end)]
    assert times == pytest.approx([0.0, WORD_S, WORD_S, 2 * WORD_S, 2 * WORD_S, 3 * WORD_S])
    assert transcription.duration == pytest.approx(3 * WORD_S, abs=0.01)
    assert messages[-1].content == f"The caller said: {result.content}"
    toolkit.close()


async def test_async_agent_transcribes_with_a_language_argument(
    smallest_server: Server, tmp_path: Path
):
    path = recording(tmp_path / "hola.wav", "uno", "dos")
    stt = tool(smallest_server)
    model = ScriptedChatModel(
        replies=[transcribe_call(file_path=str(path), language="es"), echo_transcript]
    )

    messages = await arun_agent(model, [stt], "Transcribe hola.wav, it is Spanish.")

    result = messages[2]
    assert isinstance(result, ToolMessage) and result.status == "success"
    assert plain(str(result.content)) == [tone_word("uno"), tone_word("dos")]
    assert result.artifact.language in (None, "es")


@pytest.mark.parametrize("kind", ["bytes", "file", "pcm"])
async def test_code_passes_the_audio_itself(smallest_server: Server, kind: str):
    pcm = tone(2, "inline", rate=8000)
    wav = pcm_to_wav(pcm, 8000)
    audio: object = {"bytes": wav, "file": io.BytesIO(wav), "pcm": pcm}[kind]
    stt = tool(smallest_server, sample_rate=8000)  # the rate of headerless PCM
    call = {"type": "tool_call", "id": "c", "name": stt.name, "args": {"audio": audio}}

    message = await stt.ainvoke(call) if kind != "file" else stt.invoke(call)

    assert message.status == "success"
    assert plain(message.content) == [tone_word("inline")] * 2
    assert message.artifact.duration == pytest.approx(2 * WORD_S, abs=0.01)


def test_the_model_never_sees_the_audio_argument(smallest_server: Server):
    stt = tool(smallest_server)
    schema = convert_to_openai_tool(stt)["function"]["parameters"]["properties"]
    assert set(schema) == {"file_path", "language"}
    assert "audio" in stt.get_input_schema().model_fields  # code may still pass it


def test_empty_speech_says_so(smallest_server: Server):
    stt = tool(smallest_server)
    silence = pcm_to_wav(bytes(16000), 16000)  # half a second of zeros
    message = stt.invoke(
        {"type": "tool_call", "id": "s", "name": stt.name, "args": {"audio": silence}}
    )
    assert (
        message.status == "success" and message.content == "No speech was heard in the recording."
    )
    assert message.artifact.text == ""


# -- errors: a ToolException the model can act on ----------------------------------------------
def test_bad_arguments_are_tool_errors_before_any_request(smallest_server: Server, tmp_path: Path):
    stt = tool(smallest_server, root_dir=tmp_path)
    outside = recording(tmp_path.parent / "outside.wav", "x")

    def call(**args: object) -> ToolMessage:
        return stt.invoke({"type": "tool_call", "id": "e", "name": stt.name, "args": args})

    missing = call(file_path="nope.wav")
    assert missing.status == "error" and "does not exist" in missing.content
    escaped = call(file_path=str(outside))
    assert escaped.status == "error" and "outside the allowed directory" in escaped.content
    neither = call()
    assert neither.status == "error" and "exactly one of 'file_path'" in neither.content
    streaming_only = call(file_path="nope.wav", language="multi")
    assert streaming_only.status == "error" and "language" in streaming_only.content
    wrong_language = call(file_path="nope.wav", language="klingon")
    assert wrong_language.status == "error" and "language" in wrong_language.content
    assert smallest_server.stats.stt_batch_requests == 0


def test_server_failures_become_tool_errors(smallest_server: Server, tmp_path: Path):
    path = recording(tmp_path / "a.wav", "a")
    stt = tool(smallest_server, max_retries=1)
    smallest_server.faults.http_error(503, path="/waves/v1/stt/", times=2)
    message = stt.invoke(
        {"type": "tool_call", "id": "f", "name": stt.name, "args": {"file_path": str(path)}}
    )
    assert message.status == "error" and "try again later" in message.content

    rejected = SmallestSpeechToTextTool(api_key="sk_wrong", base_url=smallest_server.http_url)
    message = rejected.invoke(
        {"type": "tool_call", "id": "k", "name": stt.name, "args": {"file_path": str(path)}}
    )
    assert message.status == "error" and "API key" in message.content
    assert "sk_wrong" not in message.content


def test_bad_defaults_fail_at_construction(smallest_server: Server):
    with pytest.raises(Exception, match="pulse-pro"):
        tool(smallest_server, model="pulse-pro", language="hi")
    with pytest.raises(Exception, match="sample_rate"):
        tool(smallest_server, sample_rate=11025)


# -- the document loader -------------------------------------------------------------------------
def test_loader_yields_one_document_per_file_with_word_times(
    smallest_server: Server, tmp_path: Path
):
    first = recording(tmp_path / "one.wav", "red", "green")
    second = recording(tmp_path / "two.wav", "blue")
    loader = SmallestAudioLoader(
        [first, str(second)], api_key=smallest_server.api_key, base_url=smallest_server.http_url
    )

    docs = list(loader.lazy_load())

    assert [d.metadata["source"] for d in docs] == [str(first), str(second)]
    assert plain(docs[0].page_content) == [tone_word("red"), tone_word("green")]
    assert plain(docs[1].page_content) == [tone_word("blue")]
    words = docs[0].metadata["words"]
    assert [(w["word"], w["start"], w["end"]) for w in words] == [
        (tone_word("red"), pytest.approx(0.0), pytest.approx(WORD_S)),
        (tone_word("green"), pytest.approx(WORD_S), pytest.approx(2 * WORD_S)),
    ]
    assert docs[0].metadata["duration"] == pytest.approx(2 * WORD_S, abs=0.01)
    assert smallest_server.stats.stt_batch_requests == 2


async def test_loader_async_and_without_word_times(smallest_server: Server, tmp_path: Path):
    path = recording(tmp_path / "a.wav", "async")
    loader = SmallestAudioLoader(
        path,
        api_key=smallest_server.api_key,
        base_url=smallest_server.http_url,
        options=STTOptions(word_timestamps=False),
    )
    docs = [doc async for doc in loader.alazy_load()]
    assert [plain(d.page_content) for d in docs] == [[tone_word("async")]]
    assert "words" not in docs[0].metadata
    assert (await loader.aload())[0].page_content == docs[0].page_content


def test_loader_raises_the_typed_core_error(smallest_server: Server, tmp_path: Path):
    loader = SmallestAudioLoader(
        recording(tmp_path / "a.wav", "x"), api_key="sk_bad", base_url=smallest_server.http_url
    )
    with pytest.raises(AuthenticationError) as caught:
        loader.load()
    assert "sk_bad" not in str(caught.value) and "sk_bad" not in repr(loader)
    with pytest.raises(ValueError, match="API key"):
        SmallestAudioLoader("a.wav", api_key=" ", base_url=smallest_server.http_url)
