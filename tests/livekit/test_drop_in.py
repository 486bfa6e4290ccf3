"""Switching from ``livekit-plugins-smallestai`` is one import line: every argument of
the official ``TTS`` is taken by ours, and a TTS built with the official signature
speaks, streamed and in one request, against the local server."""

from __future__ import annotations

import inspect
import logging
from typing import Any

import aiohttp
import pytest
from livekit.agents import APIConnectOptions
from livekit.plugins import smallestai

from livekit_smallest import TTS
from smallest_local import Server
from smallest_local.engines import ToneEngine, describe, tag_value

FAST = APIConnectOptions(max_retry=0, timeout=5)
TONE = ToneEngine()
TEXT = "one two three four"


def official_parameters() -> set[str]:
    return set(inspect.signature(smallestai.TTS.__init__).parameters) - {"self"}


def official_kwargs(server: Server, session: aiohttp.ClientSession, **changes: Any) -> dict:
    """A value for every argument of the official TTS, spelled as its users spell them
    (``base_url`` with ``/waves/v1``, the full live URL as ``ws_url``)."""
    kwargs: dict[str, Any] = {
        "api_key": server.api_key,
        "model": "lightning_v3.1_pro",
        "voice_id": "meher",
        "sample_rate": 24000,
        "speed": 1.0,
        "language": "en",
        "output_format": "pcm",
        "word_timestamps": False,
        "max_buffer_flush_ms": 0,
        "use_continuations": True,
        "max_buffer_delay_ms": 3000,
        "base_url": server.http_url + "/waves/v1",
        "ws_url": server.ws_url + "/waves/v1/tts/live",
        "http_session": session,
        **changes,
    }
    assert set(kwargs) == official_parameters()  # a new official argument fails here
    return kwargs


async def speak_a_turn(tts: TTS, rate: int, speed: float) -> None:
    """One streamed segment and one HTTP synthesis, each exactly the audio of TEXT."""
    stream = tts.stream(conn_options=FAST)
    stream.push_text(TEXT)
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()
    assert {ev.frame.sample_rate for ev in events} == {rate}
    pcm = b"".join(ev.frame.data.tobytes() for ev in events)
    (segment_id,) = {ev.segment_id for ev in events}
    expected = TONE.pairs_per_word(rate, speed) * len(TEXT.split())
    assert describe(pcm) == {tag_value(segment_id): [(0, expected)]}

    async with tts.synthesize(TEXT, conn_options=FAST) as chunked:
        frames = [ev.frame async for ev in chunked]
    assert {f.sample_rate for f in frames} == {rate}
    assert sum(f.samples_per_channel for f in frames) == 2 * expected


@pytest.mark.parametrize(
    "changes",
    [
        {},  # the official defaults, spelled out
        {
            "model": "lightning_v3.1",
            "voice_id": None,  # the model's default voice, as the official plugin picks it
            "sample_rate": 16000,
            "speed": 1.5,
            "output_format": "wav",
            "word_timestamps": True,
            "max_buffer_flush_ms": 200,
            "use_continuations": False,
            "max_buffer_delay_ms": 500,
        },
    ],
    ids=["defaults", "every-argument-changed"],
)
async def test_the_official_signature_builds_ours_and_speaks(
    smallest_server: Server, changes: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    async with aiohttp.ClientSession() as session:
        kwargs = official_kwargs(smallest_server, session, **changes)
        official = smallestai.TTS(**kwargs)  # the same call is valid for the official plugin
        await official.aclose()
        with caplog.at_level(logging.INFO, logger="livekit.plugins.smallest"):
            tts = TTS(**kwargs)
        try:
            assert tts.provider == official.provider == "SmallestAI"
            assert tts.model == official.model
            assert tts.options.voice_id == ("sophia" if "voice_id" in changes else "meher")
            assert tts.options.max_buffer_delay_ms == kwargs["max_buffer_delay_ms"]
            assert tts.options.max_buffer_flush_ms == kwargs["max_buffer_flush_ms"]
            await speak_a_turn(tts, kwargs["sample_rate"], kwargs["speed"])
        finally:
            await tts.aclose()
    explained = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    # http_session is always given here; use_continuations only when switched off.
    assert len([m for m in explained if m.startswith("http_session")]) == 1
    assert len([m for m in explained if m.startswith("use_continuations")]) == (1 if changes else 0)
