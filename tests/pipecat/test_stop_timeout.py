"""Retries that outlast Pipecat's ``stop_frame_timeout_s``: a typed error, never silent loss.

Found by the soak: a drop, then an error frame, then a slow socket open kept the core
retrying an utterance for more than 3 s before its first audio. Pipecat closed the
context first, and the audio that followed was dropped unheard (a DEBUG line only).
Now the service cancels the utterance the moment Pipecat closes its context, reports a
``RequestTimeoutError`` ``ErrorFrame``, and the next turn speaks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from loguru import logger
from pipecat.frames.frames import (
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStoppedFrame,
)
from pipecat.services.tts_service import TextAggregationMode
from pipecat.utils.errors import ErrorCategory

from pipecat_smallest import SmallestTTSService
from smallest_core import RequestTimeoutError, SmallestError
from smallest_local.engines.tone import describe, tag_value
from tests.support.pipecat import WAIT_S, running

TEXT = "Five words are spoken here."  # tone engine: 1 s of audio
FULL_PAIRS = 24000 // 2
#: Pipecat's default stop_frame_timeout_s is 3 s; every new socket takes longer than that.
CONNECT_MS = 5000


@pytest.fixture
def dropped_appends() -> Iterator[list[str]]:
    """Pipecat's DEBUG notes of audio appended to a context it had already closed."""
    lines: list[str] = []
    sink = logger.add(
        lambda message: lines.append(str(message)),
        level="DEBUG",
        filter=lambda record: "unable to append" in record["message"],
    )
    yield lines
    logger.remove(sink)


@pytest.mark.smallest_server(chunk_ms=20)
async def test_retries_past_pipecats_timeout_are_reported_not_dropped(
    make_tts, smallest_server, dropped_appends
):
    tts = make_tts()
    async with running(tts) as run:  # prewarmed: a socket and its spare are open
        smallest_server.set_latency(connect_ms=CONNECT_MS)
        # the first attempt meets an error and a drop, the second (on the spare) an
        # error: the third needs a new socket, which takes longer than Pipecat waits
        drop = smallest_server.faults.close_after(0, code=1011)
        error = smallest_server.faults.error_frame(after_chunks=0, times=2)
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(1)
        assert (drop.fired, error.fired) == (1, 2)
        smallest_server.set_latency(connect_ms=0)
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(2)
    first, second = run.context_ids()
    ours = [e for e in run.errors() if isinstance(e.exception, RequestTimeoutError)]
    assert len(ours) == 1
    assert "stop_frame_timeout_s" in ours[0].error
    assert ours[0].category is ErrorCategory.CONNECTIVITY and not ours[0].category.is_permanent
    # Nothing of the abandoned request was played, nor dropped on the way, and its
    # third attempt (the one that would have spoken, unheard) was never synthesized.
    assert first not in run.audio_by_context()
    assert dropped_appends == []
    assert smallest_server.stats.request_ids.count(first) <= 2
    assert smallest_server.stats.syntheses_completed == 1
    stopped = [f.context_id for f in run.down.frames(TTSStoppedFrame)]
    assert stopped == [first, second]
    # The next turn speaks in full, and the service is still usable.
    assert describe(run.audio_by_context()[second]) == {tag_value(second): [(0, FULL_PAIRS)]}
    assert tts.is_usable


@dataclass
class Timeouts:
    """Context ids whose playback Pipecat ended on its stop timeout, and an event per one."""

    ids: list[str] = field(default_factory=list)
    seen: asyncio.Event = field(default_factory=asyncio.Event)


@pytest.fixture
def pipecat_timeouts() -> Iterator[Timeouts]:
    """Pipecat's own TRACE line for a context it ended after ``stop_frame_timeout_s``."""
    timeouts = Timeouts()

    def sink(message: Any) -> None:  # runs in the pipeline's loop, as Pipecat logs
        timeouts.ids.append(message.record["message"].rsplit(" ", 1)[-1])
        timeouts.seen.set()

    handle = logger.add(
        sink, level="TRACE", filter=lambda r: "time out on audio context" in r["message"]
    )
    yield timeouts
    logger.remove(handle)


@pytest.mark.smallest_server(chunk_ms=20)
async def test_a_pause_mid_turn_keeps_the_turns_utterance(make_tts, pipecat_timeouts):
    """Pipecat times a context out mid-turn (the LLM paused): Pipecat reopens it for the
    turn's next sentence, so the same utterance carries on, with no error of ours."""
    tts = make_tts(stop_frame_timeout_s=1.0)
    async with running(tts) as run:
        # (the aggregator releases a sentence when the next token confirms its end)
        await run.send(
            LLMFullResponseStartFrame(), LLMTextFrame("Hello there."), LLMTextFrame(" Your")
        )
        async with asyncio.timeout(WAIT_S):
            await pipecat_timeouts.seen.wait()
        played = run.down.count(TTSAudioRawFrame)
        assert played > 0  # the first sentence was heard before the pause
        await run.send(LLMTextFrame(" order ships."), LLMFullResponseEndFrame())
        await run.turns_done(1)
    (ctx,) = set(run.context_ids())  # Pipecat restarted the same context
    assert pipecat_timeouts.ids[0] == ctx
    assert run.down.count(TTSAudioRawFrame) > played
    audio = run.audio_by_context()[ctx]
    assert describe(audio) == {tag_value(ctx): [(0, len(audio) // 4)]}  # one request, in order
    assert not [e for e in run.errors() if isinstance(e.exception, SmallestError)]
    assert tts.is_usable


@pytest.mark.smallest_server(chunk_ms=20)
async def test_a_turn_that_ends_after_pipecats_timeout_still_ends(make_tts, pipecat_timeouts):
    """Pipecat flushes only a context it still holds: the turn's end still reaches the
    utterance, so the turn stops (and the next one speaks) instead of hanging open."""
    tts = make_tts(
        text_aggregation_mode=TextAggregationMode.TOKEN,
        stop_frame_timeout_s=1.0,
        settings=SmallestTTSService.Settings(max_buffer_delay_ms=50),  # the server speaks it
    )
    async with running(tts) as run:
        await run.send(LLMFullResponseStartFrame(), LLMTextFrame("Hello there."))
        async with asyncio.timeout(WAIT_S):
            await pipecat_timeouts.seen.wait()
        assert run.down.count(TTSAudioRawFrame) > 0
        await run.send(LLMFullResponseEndFrame())
        await run.turns_done(1)
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(2)
    first, second = run.context_ids()
    assert pipecat_timeouts.ids[0] == first
    assert describe(run.audio_by_context()[second]) == {tag_value(second): [(0, FULL_PAIRS)]}
    assert not [e for e in run.errors() if isinstance(e.exception, SmallestError)]
