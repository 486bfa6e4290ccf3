"""Property tests for the segmenter: nothing lost, size bound, streaming equals whole text."""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_core.segment import SentenceSegmenter, split_text

# Heavy on the characters the rules care about, so short random texts hit them often.
_ALPHABET = st.sampled_from(
    [
        *"aZk.!?…,;:—–-'\"”)(  \n\t0179@/",
        *["Dr", "e.g", "p.m", "J", "http://a.b/c?d", "。", "！", "।", "क", "ी", "3.14", "..."],
    ]
)
_TEXT = st.lists(_ALPHABET, max_size=120).map("".join)


@st.composite
def _split(draw: st.DrawFn, text: str) -> list[str]:
    """Cut ``text`` at random places into pushes (empty pushes included)."""
    cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=12)))
    bounds = [0, *cuts, len(text)]
    return [text[a:b] for a, b in itertools.pairwise(bounds)]


@st.composite
def _case(draw: st.DrawFn) -> tuple[str, list[str], int, int]:
    text = draw(_TEXT)
    max_chars = draw(st.integers(1, 60) | st.just(250))
    min_chars = draw(st.integers(0, max_chars))
    return text, draw(_split(text)), max_chars, min_chars


@settings(max_examples=600, deadline=None)
@given(_case())
def test_streaming_loses_nothing_and_respects_the_limit(
    case: tuple[str, list[str], int, int],
) -> None:
    text, pieces, max_chars, min_chars = case
    segmenter = SentenceSegmenter(max_chars=max_chars, min_chars=min_chars)
    chunks: list[str] = []
    for piece in pieces:
        chunks += segmenter.push(piece)
        assert text.startswith("".join(chunks) + segmenter.pending)
    chunks += segmenter.flush()
    assert "".join(chunks) == text
    assert all(0 < len(chunk) <= max_chars for chunk in chunks)
    assert segmenter.pending == ""


@settings(max_examples=600, deadline=None)
@given(_case())
def test_streaming_gives_the_same_chunks_as_whole_text(
    case: tuple[str, list[str], int, int],
) -> None:
    """A chunk returned by push() is never one that more text would have cut differently."""
    text, pieces, max_chars, min_chars = case
    segmenter = SentenceSegmenter(max_chars=max_chars, min_chars=min_chars)
    chunks = [chunk for piece in pieces for chunk in segmenter.push(piece)]
    chunks += segmenter.flush()
    assert chunks == split_text(text, max_chars, min_chars=min_chars)


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=400), st.integers(1, 300))
def test_any_unicode_text_round_trips(text: str, max_chars: int) -> None:
    chunks = split_text(text, max_chars)
    assert "".join(chunks) == text
    assert all(0 < len(chunk) <= max_chars for chunk in chunks)


@settings(max_examples=200, deadline=None)
@given(_TEXT)
def test_chunks_other_than_the_last_hold_more_than_whitespace(text: str) -> None:
    chunks = split_text(text)
    assert all(not chunk.isspace() for chunk in chunks[:-1])
