"""Options changed while a stream is open: every frame carries the rate its audio was
synthesized at.

LiveKit's emitter has one sample rate per stream, so a stream keeps the options it was
opened with and a change applies from the next stream. (LiveKit 1.8.9 speaks one
segment per ``SynthesizeStream``: text pushed after the first segment's flush is
dropped with a deprecation warning, so "between two pieces of one stream" means between
sentences of its segment, or between opening the stream and its first text.) Tone audio
says the rate it was made at: ``pairs_per_word(rate)`` sample pairs per word.
"""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import APIConnectOptions

from smallest_local.engines import ToneEngine, describe, tag_value

FAST = APIConnectOptions(max_retry=0, timeout=5)
TONE = ToneEngine()
FIRST, SECOND = "one two three. ", "Four five six seven."
#: Seconds a stream may take here: a hang fails in seconds, not at pytest's timeout.
DEADLINE_S = 10


def check_labels(events: list, rate: int) -> None:
    """Every frame says ``rate``, and the audio is exactly what ``rate`` makes."""
    assert {ev.frame.sample_rate for ev in events} == {rate}
    (segment_id,) = {ev.segment_id for ev in events}
    pcm = b"".join(ev.frame.data.tobytes() for ev in events)
    words = len((FIRST + SECOND).split())
    assert describe(pcm) == {tag_value(segment_id): [(0, TONE.pairs_per_word(rate) * words)]}


@pytest.mark.smallest_server(realtime_factor=0.2, chunk_ms=20)
async def test_a_rate_change_between_two_sentences_of_a_stream(make_tts) -> None:
    tts = make_tts(sample_rate=24000)
    stream = tts.stream(conn_options=FAST)
    stream.push_text(FIRST + SECOND[:5])  # the next word shows where the sentence ends
    events = []
    async with asyncio.timeout(DEADLINE_S):
        async for ev in stream:
            events.append(ev)
            if len(events) == 1:  # the first sentence is speaking: change, then go on
                tts.update_options(sample_rate=16000)
                stream.push_text(SECOND[5:])
                stream.end_input()
    await stream.aclose()
    check_labels(events, 24000)

    later = tts.stream(conn_options=FAST)  # the next stream speaks at the new rate
    later.push_text(FIRST + SECOND)
    later.end_input()
    async with asyncio.timeout(DEADLINE_S):
        check_labels([ev async for ev in later], 16000)
    await later.aclose()


async def test_a_rate_change_between_opening_a_stream_and_its_text(make_tts) -> None:
    tts = make_tts(sample_rate=24000)
    stream = tts.stream(conn_options=FAST)
    tts.update_options(sample_rate=8000)
    stream.push_text(FIRST + SECOND)
    stream.end_input()
    async with asyncio.timeout(DEADLINE_S):
        check_labels([ev async for ev in stream], 24000)
    await stream.aclose()
