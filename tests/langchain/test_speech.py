"""``SmallestSpeech`` inside real LangChain pipelines, against the local server.

A gated fake chat model streams a multi-sentence answer token by token and stops
half-way until the test has received audio (see ``GatedStreamingModel``): a passing run
proves the first audio came while the model was still writing. The tone engine makes
durations exact (200 ms per word at speed 1) and tells whose audio is whose
(``describe``); the espeak engine plus pocketsphinx checks the speech is intelligible.
"""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import BaseCallbackHandler
from langchain_core.messages import AIMessage
from langchain_core.prompt_values import StringPromptValue
from langchain_core.runnables import RunnableLambda

from langchain_smallest import SmallestSpeech
from smallest_core import AuthenticationError, pcm_duration
from smallest_local import Server
from smallest_local.engines.tone import ToneEngine, describe, tag_value
from tests.support.asr import transcribe, wer

from .conftest import GatedStreamingModel, tokens

RATE = 24000
ANSWER = (
    "The weather today is sunny and warm. Tomorrow it will rain in the afternoon. "
    "Bring an umbrella if you go out."
)
WORDS = len(ANSWER.split())
#: The model stops after the first token of the second sentence: the segmenter has then
#: released the first sentence, and nothing later may be needed for the first audio.
GATE_AFTER = tokens(ANSWER).index("Tomorrow ") + 1
PAIRS_PER_WORD = ToneEngine().pairs_per_word(RATE)


def speech_for(server: Server, **kwargs: Any) -> SmallestSpeech:
    return SmallestSpeech(api_key=server.api_key, base_url=server.http_url, **kwargs)


def assert_one_intact_utterance(pcm: bytes, words: int) -> None:
    """Tone audio of exactly one request: one contiguous run of ``words`` words."""
    runs = describe(pcm)
    assert len(runs) == 1, runs
    [(first, count)] = next(iter(runs.values()))
    assert (first, count) == (0, words * PAIRS_PER_WORD)


async def test_astream_speaks_while_the_model_is_still_writing(smallest_server: Server):
    model = GatedStreamingModel(text=ANSWER, gate_after=GATE_AFTER)
    speech = speech_for(smallest_server)
    chunks: list[bytes] = []
    model_done_at_first_audio = None

    async for pcm in (model | speech).astream("What's the weather?"):
        if not chunks:
            model_done_at_first_audio = model.finished
            model.open_gate()
        chunks.append(pcm)

    assert model_done_at_first_audio is False and model.finished
    audio = b"".join(chunks)
    assert len(chunks) > 1
    assert pcm_duration(audio, RATE) == pytest.approx(WORDS * 0.2)
    assert_one_intact_utterance(audio, WORDS)
    assert smallest_server.stats.syntheses_cancelled == 0
    await speech.aclose()


def test_stream_speaks_while_the_model_is_still_writing(smallest_server: Server):
    model = GatedStreamingModel(text=ANSWER, gate_after=GATE_AFTER)
    speech = speech_for(smallest_server)
    chunks: list[bytes] = []
    model_done_at_first_audio = None

    for pcm in (model | speech).stream("What's the weather?"):
        if not chunks:
            model_done_at_first_audio = model.finished
            model.open_gate()
        chunks.append(pcm)

    assert model_done_at_first_audio is False and model.finished
    audio = b"".join(chunks)
    assert pcm_duration(audio, RATE) == pytest.approx(WORDS * 0.2)
    assert_one_intact_utterance(audio, WORDS)
    speech.close()


@pytest.mark.slow
@pytest.mark.smallest_server(engine="espeak")
async def test_streamed_speech_is_intelligible(smallest_server: Server):
    text = (
        "Please call me back tomorrow morning. I would like to order a large pizza. "
        "Your appointment is scheduled for Monday at three o'clock."
    )
    model = GatedStreamingModel(text=text, gate_after=tokens(text).index("I ") + 1)
    speech = speech_for(smallest_server, voice_id="magnus", speed=0.8)
    chunks: list[bytes] = []
    async for pcm in (model | speech).astream("Leave a message."):
        if not chunks:
            model.open_gate()
        chunks.append(pcm)
    audio = b"".join(chunks)

    heard = transcribe(audio, RATE)
    assert wer(text, heard) <= 0.35, heard
    assert wer("The weather today is sunny and warm.", heard) >= 0.6, heard
    await speech.aclose()


@pytest.mark.smallest_server(realtime_factor=0.5)
async def test_stopping_the_consumer_cancels_the_utterance_on_the_same_socket(
    smallest_server: Server,
):
    speech = speech_for(smallest_server)
    long_answer = " ".join(["word"] * 60) + "."  # 12 s of audio, paced at 2x real time
    stream = speech.astream(long_answer)
    first = await anext(stream)
    await stream.aclose()  # the consumer walks away after the first chunk

    # The next answer goes out on the socket that carried the cancel, behind it.
    after = await speech.ainvoke("Sure, go ahead.")

    stats = smallest_server.stats
    assert first and stats.syntheses_cancelled == 1
    assert stats.ws_connections_active == stats.ws_connections_total  # no socket closed
    assert_one_intact_utterance(after, 3)  # none of the cancelled audio leaked in
    await speech.aclose()


@pytest.mark.smallest_server(realtime_factor=0.5)
def test_closing_a_sync_stream_cancels_the_utterance(smallest_server: Server):
    speech = speech_for(smallest_server)
    stream = speech.stream(" ".join(["word"] * 60) + ".")
    assert next(stream)
    stream.close()

    after = speech.invoke("Sure, go ahead.")

    assert smallest_server.stats.syntheses_cancelled == 1
    assert_one_intact_utterance(after, 3)
    speech.close()


@pytest.mark.smallest_server(realtime_factor=0.5)
async def test_cancelling_the_consumer_task_cancels_the_utterance(smallest_server: Server):
    speech = speech_for(smallest_server)
    first_audio = asyncio.Event()

    async def play() -> None:
        async for _ in speech.astream(" ".join(["word"] * 60) + "."):
            first_audio.set()

    player = asyncio.create_task(play())
    await first_audio.wait()
    player.cancel()  # barge-in
    with pytest.raises(asyncio.CancelledError):
        await player
    await speech.ainvoke("Okay.")

    assert smallest_server.stats.syntheses_cancelled == 1
    await speech.aclose()


async def test_a_barge_in_also_cancels_the_model_stream(smallest_server: Server):
    """Cancelling the consumer reaches upstream: the model stops mid-answer.

    Not necessarily by the time ``await player`` returns: when the cancel lands while
    LangChain holds a chunk, the pipeline's generators are closed by asyncio's
    async-generator finalizer a few loop iterations later. So the test waits for it.
    """
    model = GatedStreamingModel(text=ANSWER, gate_after=GATE_AFTER)
    speech = speech_for(smallest_server)
    first_audio = asyncio.Event()

    async def play() -> None:
        async for _ in (model | speech).astream("What's the weather?"):
            first_audio.set()  # the gate stays shut: the model is still "thinking"

    player = asyncio.create_task(play())
    await first_audio.wait()
    player.cancel()
    with pytest.raises(asyncio.CancelledError):
        await player

    await model.wait_cancelled()
    assert model.cancelled and not model.finished
    await speech.ainvoke("Okay.")  # on the socket that carried the cancel, behind it
    assert smallest_server.stats.syntheses_cancelled == 1
    await speech.aclose()


async def test_prewarm_opens_a_socket_before_the_first_answer(smallest_server: Server):
    speech = speech_for(smallest_server)
    await speech.aprewarm()
    stats = smallest_server.stats
    # the first answer's socket and its warm spare: the answer opens none beside it
    assert (stats.ws_connections_total, stats.syntheses_started) == (2, 0)
    assert_one_intact_utterance(await speech.ainvoke("Ready when you are."), 4)
    assert stats.ws_connections_total == 2
    await speech.aclose()

    speech.prewarm()  # the sync methods have their own pool
    assert stats.syntheses_started == 1 and stats.ws_connections_active >= 1
    assert_one_intact_utterance(speech.invoke("Ready."), 1)
    speech.close()


async def test_invoke_accepts_text_messages_and_prompts(smallest_server: Server):
    speech = speech_for(smallest_server, sample_rate=16000)
    whole = await speech.ainvoke("One two three four.")
    from_message = await speech.ainvoke(AIMessage("One two."))
    from_prompt = speech.invoke(StringPromptValue(text="One two three."))

    assert pcm_duration(whole, 16000) == pytest.approx(0.8)
    assert pcm_duration(from_message, 16000) == pytest.approx(0.4)
    assert pcm_duration(from_prompt, 16000) == pytest.approx(0.6)
    assert await speech.ainvoke("") == b""  # nothing to say: no audio, no error
    await speech.aclose()
    speech.close()


async def test_abatch_and_batch_give_each_input_its_own_utterance(smallest_server: Server):
    speech = speech_for(smallest_server)
    texts = ["One.", "One two.", "One two three."]

    async_results = await speech.abatch(texts)
    sync_results = await asyncio.to_thread(speech.batch, texts)

    for results in (async_results, sync_results):
        for words, pcm in enumerate(results, start=1):
            assert_one_intact_utterance(pcm, words)
    # Six requests, one per input, each heard in exactly one result. (Told apart by request
    # id: two ids' 15-bit tone tags match about once in 2,200 runs of six.)
    ids = smallest_server.stats.request_ids
    assert len(ids) == len(set(ids)) == 6, ids
    tags = sorted(next(iter(describe(pcm))) for pcm in async_results + sync_results)
    assert tags == sorted(tag_value(i) for i in ids)
    await speech.aclose()
    speech.close()


class RunRecorder(BaseCallbackHandler):
    """Names, parents, inputs and outputs of every chain and chat-model run."""

    def __init__(self) -> None:
        self.names: dict[UUID, str] = {}
        self.parents: dict[UUID, UUID | None] = {}
        self.inputs: dict[UUID, Any] = {}
        self.outputs: dict[UUID, Any] = {}

    def on_chain_start(self, serialized: Any, inputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self.names[run_id] = kw.get("name") or ""
        self.parents[run_id] = kw.get("parent_run_id")

    def on_chat_model_start(self, serialized: Any, messages: Any, *, run_id: UUID, **kw: Any):
        self.names[run_id] = "chat_model"
        self.parents[run_id] = kw.get("parent_run_id")

    def on_chain_end(self, outputs: Any, *, run_id: UUID, **kw: Any) -> None:
        self.inputs[run_id] = kw.get("inputs")
        self.outputs[run_id] = outputs

    def run(self, name: str) -> UUID:
        [run_id] = [rid for rid, n in self.names.items() if n == name]
        return run_id


def test_callbacks_see_the_speech_run_inside_the_chain(smallest_server: Server):
    """A sync ``model | speech`` stream: the model is read in a helper thread, and its run
    still hangs under the chain's, next to the speech run (inputs and output traced)."""
    speech = speech_for(smallest_server)
    recorder = RunRecorder()
    model = GatedStreamingModel(text="It will rain at noon.", gate_after=0)
    model.open_gate()
    chain = model | speech

    pcm = b"".join(chain.stream("about rain", config={"callbacks": [recorder]}))

    speech_run, model_run = recorder.run("SmallestSpeech"), recorder.run("chat_model")
    chain_run = recorder.parents[speech_run]
    assert chain_run is not None and recorder.parents[model_run] == chain_run
    assert recorder.outputs[speech_run] == pcm
    assert recorder.inputs[speech_run].text == "It will rain at noon."
    assert pcm_duration(pcm, RATE) == pytest.approx(5 * 0.2)
    speech.close()


async def test_astream_events_show_the_audio_stream(smallest_server: Server):
    speech = speech_for(smallest_server)
    kinds: list[str] = []
    streamed = b""
    async for event in speech.astream_events("One two three.", version="v2"):
        if event["name"] == "SmallestSpeech":
            kinds.append(event["event"])
            if event["event"] == "on_chain_stream":
                streamed += event["data"]["chunk"]
    assert kinds[0] == "on_chain_start" and kinds[-1] == "on_chain_end"
    assert "on_chain_stream" in kinds
    assert_one_intact_utterance(streamed, 3)
    await speech.aclose()


async def test_an_error_in_the_input_stream_reaches_the_caller(smallest_server: Server):
    speech = speech_for(smallest_server)

    async def broken_model(_: Any):
        yield "A first sentence. And then"
        raise RuntimeError("the model crashed")

    with pytest.raises(RuntimeError, match="the model crashed"):
        async for _ in (RunnableLambda(broken_model) | speech).astream("x"):
            pass
    # The pool is still usable after the failed call.
    assert_one_intact_utterance(await speech.ainvoke("Still here."), 2)
    await speech.aclose()


def test_input_of_the_wrong_type_is_refused(smallest_server: Server):
    speech = speech_for(smallest_server)
    with pytest.raises(TypeError, match="got int"):
        speech.invoke(42)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="voice_id"):
        speech.invoke("hi", voice_id="x")
    speech.close()


def test_a_rejected_key_raises_the_core_error(smallest_server: Server):
    speech = SmallestSpeech(api_key="sk_wrong", base_url=smallest_server.http_url)
    with pytest.raises(AuthenticationError) as caught:
        speech.invoke("Hello.")
    assert "sk_wrong" not in str(caught.value)
    speech.close()


def test_programs_that_never_close_leave_no_socket_open():
    """``asyncio.run`` twice and the sync path, no ``aclose()``/``close()``: no leak.

    Run in a fresh interpreter in development mode, where an unclosed socket or
    transport is reported as a ResourceWarning when it is collected.
    """
    script = textwrap.dedent(
        """
        import asyncio, gc
        from smallest_local import Server
        from langchain_smallest import SmallestSpeech

        with Server(engine="tone") as server:
            speech = SmallestSpeech(api_key=server.api_key, base_url=server.http_url)

            async def main():
                return await speech.ainvoke("Hello there.")

            sizes = [len(asyncio.run(main())), len(asyncio.run(main()))]
            sizes.append(len(speech.invoke("Sync too.")))
            del speech
            gc.collect()
        print(sizes)
        """
    )
    done = subprocess.run([sys.executable, "-X", "dev", "-W", "default", "-c", script],
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[19200, 19200, 19200]"
    assert "ResourceWarning" not in done.stderr and "destroyed" not in done.stderr, done.stderr
