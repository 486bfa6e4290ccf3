"""The adapter inside a real ``AgentSession`` (no room): say, replies, barge-in, transcripts.

Audio goes to a capturing sink; the LLM streams scripted tokens. Tone-engine samples
name their request, so every captured byte is attributed to the reply that made it.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
from livekit.agents import Agent, AgentSession, metrics

from livekit_smallest import TTS
from smallest_local import Server
from smallest_local.engines import ToneEngine, describe, tag_value
from tests.support.livekit import CaptureOutput, ScriptedLLM, pcm_of

TONE = ToneEngine()


@asynccontextmanager
async def running_session(
    tts: TTS, llm: ScriptedLLM | None = None, **kwargs: object
) -> AsyncIterator[tuple[AgentSession, CaptureOutput]]:
    """An AgentSession with our TTS, a capturing sink and manual turns."""
    sink = CaptureOutput()
    session: AgentSession = AgentSession(
        tts=tts,
        llm=llm or ScriptedLLM(),
        vad=None,
        turn_handling={
            "turn_detection": "manual",
            "interruption": {"resume_false_interruption": False},
        },
        aec_warmup_duration=None,
        **kwargs,  # type: ignore[arg-type]
    )
    session.output.audio = sink
    await session.start(Agent(instructions="Be brief."))
    try:
        yield session, sink
    finally:
        await session.aclose()


def one_run(pcm: bytes, rid: str, words: int, rate: int = 24000) -> None:
    """``pcm`` is exactly one whole, in-order synthesis of ``words`` words for ``rid``."""
    assert describe(pcm) == {tag_value(rid): [(0, words * TONE.pairs_per_word(rate))]}


async def test_say_and_generate_reply_speak_their_own_audio(
    make_tts: Callable[..., TTS], smallest_server: Server
) -> None:
    tts = make_tts()
    collected: list[metrics.TTSMetrics] = []
    tts.on("metrics_collected", collected.append)
    llm = ScriptedLLM(["Sure", ", here ", "it ", "is. ", "Anything ", "else?"])
    async with running_session(tts, llm) as (session, sink):
        await session.say("Welcome to the demo.")
        said = len(sink.frames)
        await session.generate_reply(user_input="Tell me something.")

    first, second = smallest_server.stats.request_ids
    one_run(pcm_of(sink.frames[:said]), first, 4)
    one_run(pcm_of(sink.frames[said:]), second, 6)
    assert all(c.frame.sample_rate == 24000 and c.frame.num_channels == 1 for c in sink.frames)
    assert [m.segment_id for m in collected] == [first, second]
    assert collected[1].connection_reused
    assert smallest_server.stats.syntheses_cancelled == 0


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=40)
async def test_barge_in_stops_the_reply_and_the_next_one_reuses_the_socket(
    make_tts: Callable[..., TTS], smallest_server: Server
) -> None:
    tts = make_tts()
    collected: list[metrics.TTSMetrics] = []
    tts.on("metrics_collected", collected.append)
    long_reply = [f"word{i} " for i in range(40)]  # 8 s of audio, streamed in real time
    async with running_session(tts, ScriptedLLM(long_reply, ["Sorry, ", "go ", "ahead."])) as (
        session,
        sink,
    ):
        await session.say("Hi.")
        sockets_before = smallest_server.stats.ws_connections_total
        handle = session.generate_reply(user_input="Talk for a while.")
        start = len(sink.frames)
        await sink.first_frame.wait()
        handle.interrupt()
        await handle
        assert handle.interrupted
        # the interruption reaches the audio output as clear_buffer()
        assert sink.cleared_at is not None
        interrupted_at = sink.cleared_at

        await session.generate_reply(user_input="Wait.")
        late = [c for c in sink.frames[start:] if c.at > interrupted_at]

    _hi, long_id, sorry_id = smallest_server.stats.request_ids
    # nothing of the interrupted reply was captured after the interruption
    assert tag_value(long_id) not in describe(pcm_of(late))
    # the next reply is whole and its own, on an existing socket
    after = [c for c in sink.frames[start:] if c.at > interrupted_at]
    one_run(pcm_of(after), sorry_id, 3)
    assert smallest_server.stats.ws_connections_total == sockets_before
    assert smallest_server.stats.syntheses_cancelled == 1
    assert [m.segment_id for m in collected] == [_hi, sorry_id]  # none for the cancelled one
    assert collected[-1].connection_reused


@pytest.mark.smallest_server(engine="espeak")
async def test_aligned_transcript_is_correctly_spaced(make_tts: Callable[..., TTS]) -> None:
    tts = make_tts(word_timestamps=True)
    tokens = ["Hello", " there", ", big", " world.", " See", " you", " soon!"]
    items: list[str] = []
    async with running_session(tts, ScriptedLLM(tokens), use_tts_aligned_transcript=True) as (
        session,
        sink,
    ):
        session.on(
            "conversation_item_added",
            lambda ev: items.append(ev.item.text_content) if ev.item.role == "assistant" else None,
        )
        await session.generate_reply(user_input="Greet me.")
    assert items == ["Hello there, big world. See you soon!"]
    assert sink.frames


async def test_update_options_between_turns(
    make_tts: Callable[..., TTS], smallest_server: Server
) -> None:
    tts = make_tts()
    async with running_session(tts) as (session, sink):
        await session.say("At twenty four.")
        first_turn = len(sink.frames)
        tts.update_options(sample_rate=16000, speed=2.0)
        await session.say("At sixteen now.")
    first, second = smallest_server.stats.request_ids
    assert {c.frame.sample_rate for c in sink.frames[:first_turn]} == {24000}
    assert {c.frame.sample_rate for c in sink.frames[first_turn:]} == {16000}
    one_run(pcm_of(sink.frames[:first_turn]), first, 3)
    pairs = 3 * TONE.pairs_per_word(16000, speed=2.0)
    assert describe(pcm_of(sink.frames[first_turn:])) == {tag_value(second): [(0, pairs)]}


async def test_empty_reply_is_not_an_error(make_tts: Callable[..., TTS]) -> None:
    tts = make_tts()
    errors: list[object] = []
    tts.on("error", errors.append)
    async with running_session(tts, ScriptedLLM(["  ", "\n"], ["Still ", "here."])) as (
        session,
        sink,
    ):
        await session.generate_reply(user_input="Say nothing.")
        await asyncio.wait_for(session.generate_reply(user_input="Now speak."), 10)
    assert errors == []
    assert sink.frames
