"""Switching from Pipecat's own ``SmallestTTSService`` is one import line: every
argument it takes (and every field of its ``Settings``) is taken by ours, and a service
built with the official signature speaks a turn in a real pipeline."""

from __future__ import annotations

import dataclasses
import inspect
from typing import Any

import pytest
from loguru import logger
from pipecat.frames.frames import TTSAudioRawFrame, TTSSpeakFrame, TTSTextFrame
from pipecat.services.smallest import tts as official
from pipecat.transcriptions.language import Language

from pipecat_smallest import SmallestTTSService
from smallest_local import Server
from smallest_local.engines import ToneEngine, describe
from tests.support.pipecat import running

TONE = ToneEngine()
TEXT = "one two three four."


def official_parameters() -> set[str]:
    return set(inspect.signature(official.SmallestTTSService.__init__).parameters) - {
        "self",
        "kwargs",
    }


def test_every_field_of_the_official_settings_is_ours():
    fields = {f.name for f in dataclasses.fields(official.SmallestTTSSettings)}
    assert fields <= {f.name for f in dataclasses.fields(SmallestTTSService.Settings)}


@pytest.mark.parametrize(
    "changes",
    [
        {},  # the official defaults, spelled out
        {
            "sample_rate": 16000,
            "output_format": "mp3",  # the official service would put MP3 in PCM frames
            "word_timestamps": False,
            "max_buffer_delay_ms": 500,
            "settings": SmallestTTSService.Settings(
                model="lightning_v3.1",  # and no voice: the model's default (sophia)
                language=Language.EN,
                speed=1.5,
                math_notation=True,
                content_filter="flag",
            ),
        },
    ],
    ids=["defaults", "every-argument-changed"],
)
async def test_the_official_signature_builds_ours_and_speaks(
    smallest_server: Server, changes: dict[str, Any]
):
    kwargs: dict[str, Any] = {
        "api_key": smallest_server.api_key,
        "base_url": smallest_server.ws_url,
        "sample_rate": None,
        "output_format": "pcm",
        "word_timestamps": True,
        "max_buffer_delay_ms": None,
        "settings": None,
        **changes,
    }
    assert set(kwargs) == official_parameters()  # a new official argument fails here
    explained: list[str] = []
    sink = logger.add(explained.append, level="INFO", format="{message}")
    try:
        tts = SmallestTTSService(**kwargs)
    finally:
        logger.remove(sink)
    rate = kwargs["sample_rate"] or 24000
    speed = 1.5 if changes else 1.0
    async with running(tts, sample_rate=rate) as run:
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(1)
    assert not run.errors()
    frames = run.down.frames(TTSAudioRawFrame)
    assert {f.sample_rate for f in frames} == {rate}
    (runs,) = describe(run.audio()).values()
    assert runs == [(0, TONE.pairs_per_word(rate, speed) * len(TEXT.split()))]
    words = [f.text for f in run.down.frames(TTSTextFrame)]
    assert " ".join(words).split() == TEXT.split()
    notes = [m for m in explained if "is accepted and not" in m]
    assert len(notes) == (2 if changes else 0)  # output_format and content_filter, once each
