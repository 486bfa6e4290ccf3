"""The local server's per-chunk fast paths give exactly what the plain code gave.

The scale benchmark runs the local server beside the client on one machine, so its
per-chunk work was cut (``wire.audio_frames``: the JSON around the audio encoded once per
synthesis; the tone engine's counters copied from one precomputed cycle; ``loads_json``
skipping the tree walk when the text shows no limit can be broken). These pin the
output to the straightforward versions.
"""

from __future__ import annotations

import functools
import json
import os
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_local import wire
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
@pytest.mark.parametrize("words", [1, 15, 40])  # 40 words: 96,000 pairs, wraps 0x7FFF twice
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


json_trees = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
    | st.sampled_from(["\ud800", "a\udfffb", "é", "\\u", "{[", "\u2028"]),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=40,
)


def _verdict(text: str, *, walk: bool) -> str:
    """``loads_json``'s verdict on ``text``: "ok" or its message; ``walk`` forces the
    walk over the parsed value (the code before the shortcut)."""
    try:
        if walk:
            with mock.patch.object(wire, "_plainly_within_limits", return_value=False):
                wire.loads_json(text)
        else:
            wire.loads_json(text)
    except wire.RequestError as exc:
        return exc.message
    return "ok"


@settings(max_examples=400, deadline=None)
@given(json_trees, st.booleans(), st.integers(min_value=0, max_value=40))
def test_loads_json_refuses_exactly_what_the_tree_walk_refuses(
    tree: object, ascii_only: bool, nest: int
) -> None:
    """``loads_json`` skips the walk over the parsed value when the text itself shows no
    limit can be broken; its verdict must stay the walk's, for every text."""
    for value in (tree, functools.reduce(lambda v, _: [v], range(nest), tree)):
        text = json.dumps(value, ensure_ascii=ascii_only)
        assert _verdict(text, walk=False) == _verdict(text, walk=True)


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 44100])
@pytest.mark.parametrize("first_pair", [0, 5, 32700, 40000])
@pytest.mark.parametrize("words", [0, 1, 15])
@pytest.mark.parametrize("chunk", [2, 6, 882, 960, 1763, 4800])
def test_tone_stream_chunks_are_the_synthesis_sliced(
    rate: int, first_pair: int, words: int, chunk: int
) -> None:
    """The WS path renders tone audio a chunk at a time (``synthesize(lazy=True)``): byte
    for byte the whole synthesis cut into chunks, with the same words and duration."""
    engine = ToneEngine()
    text = " ".join(["word"] * words)
    whole = engine.synthesize(text, voice_id="v", sample_rate=rate, tag="t", first_pair=first_pair)
    stream = engine.synthesize(
        text, voice_id="v", sample_rate=rate, tag="t", first_pair=first_pair, lazy=True
    )
    pieces = [bytes(c) for c in stream.chunks(chunk)]
    assert pieces == [whole.pcm[i : i + chunk] for i in range(0, len(whole.pcm), chunk)]
    assert [bytes(c) for c in whole.chunks(chunk)] == pieces
    assert stream.duration == whole.duration
    assert stream.words == whole.words
