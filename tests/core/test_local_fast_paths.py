"""The local server's per-chunk fast paths give exactly what the plain code gave.

The scale benchmark runs the local server beside the client on one machine, so its
per-chunk work was cut (``wire.audio_frames``: the JSON around the audio encoded once per
synthesis; the tone engine's counters copied from one precomputed cycle). These pin the
output to the straightforward versions.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest

from smallest_local.engines.tone import ToneEngine, describe, tag_value
from smallest_local.wire import audio_frame, audio_frames


@pytest.mark.parametrize(
    "head",
    [
        {"session_id": "ws_1"},
        {"session_id": "ws_1", "request_id": "abc", "external_request_id": "r-1"},
        {"session_id": "ws_1", "request_id": "a", "context_id": 'q"uo\\te é \u2028 \U0001f600'},
    ],
)
@pytest.mark.parametrize("size", [0, 1, 2, 3, 4, 4800])
def test_audio_frames_equal_audio_frame(head: dict[str, str], size: int) -> None:
    pcm = os.urandom(size)
    text = audio_frames(head)(pcm)
    assert text == audio_frame(head, pcm)
    assert json.loads(text)["data"]["audio"] is not None


@pytest.mark.parametrize("first_pair", [0, 5, 32700, 32767, 32768, 40000, 100_000])
@pytest.mark.parametrize("words", [1, 15, 200])
def test_tone_counters_match_the_arithmetic(first_pair: int, words: int) -> None:
    engine = ToneEngine()
    synthesis = engine.synthesize(
        " ".join(["word"] * words), voice_id="v", sample_rate=24000, tag="t", first_pair=first_pair
    )
    pairs = engine.pairs_per_word(24000) * words
    samples = np.frombuffer(synthesis.pcm, dtype="<i2").reshape(-1, 2)
    assert samples.shape == (pairs, 2)
    assert (samples[:, 0] == tag_value("t")).all()
    expected = (np.arange(pairs, dtype=np.int64) + first_pair) & 0x7FFF
    assert (samples[:, 1] == expected).all()
    assert describe(synthesis.pcm) == {tag_value("t"): [(first_pair & 0x7FFF, pairs)]}
