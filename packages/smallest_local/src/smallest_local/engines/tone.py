"""Deterministic "audio" whose every sample says which request produced it.

The tone engine exists for tests of routing, ordering and loss: the PCM is a sequence of
int16 *pairs*; pair ``k`` is ``(tag_value(tag), k & 0x7FFF)``, i.e. even sample ``2k``
carries the request's 15-bit tag value and odd sample ``2k+1`` a running counter over
the whole synthesis. Received bytes can therefore be attributed to a request and checked
for order, loss and duplication with ``decode_tone``/``describe``, however the server
chunked or interleaved them. It is not meant to be listened to.

Each whitespace-separated word lasts ``word_ms / speed`` milliseconds, rounded to whole
pairs, so durations and word timings are exact and cheap to predict. No resampling:
the pairs are generated at the requested rate directly.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal, overload

import numpy as np

from smallest_local.engines.base import Synthesis, WordTiming

__all__ = ["ToneEngine", "ToneStream", "decode_tone", "describe", "tag_value"]

_COUNTER_MASK = 0x7FFF
_PAIR_BYTES = 4
_TOKEN = re.compile(r"\S+")
#: Every counter value once, in order, each in the high half of a little-endian uint32
#: (the odd sample of a pair; the tag is OR-ed into the low half, the even sample).
_CYCLE = np.arange(_COUNTER_MASK + 1, dtype="<u4") << 16


def tag_value(tag: str) -> int:
    """The stable 15-bit value (1..32767, never 0) that marks audio made for ``tag``.

    crc32 of the UTF-8 tag, folded into 1..32767; stable across processes and versions,
    so a test can compute it independently of the server. Distinct tags may collide
    (about 1 in 32767 per pair of tags); tests should use a few short, distinct ids.
    """
    return zlib.crc32(tag.encode("utf-8")) % _COUNTER_MASK + 1


def _pairs(pcm: bytes) -> np.ndarray:
    """``pcm`` as an (n, 2) array of its int16 samples: (tag value, counter) per row."""
    if len(pcm) % _PAIR_BYTES:
        raise ValueError(f"tone PCM must be a multiple of {_PAIR_BYTES} bytes, got {len(pcm)}")
    return np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)


def decode_tone(pcm: bytes) -> list[tuple[int, int]]:
    """Split tone PCM into its (tag_value, counter) pairs, in order.

    Raises:
        ValueError: ``pcm`` is not a whole number of pairs (4 bytes each), i.e. bytes
            were lost, added, or the buffer does not start at a pair boundary.
    """
    return [(tag, counter) for tag, counter in _pairs(pcm).tolist()]


def describe(pcm: bytes) -> dict[int, list[tuple[int, int]]]:
    """Summarise tone PCM as ``{tag_value: [(first_counter, pair_count), ...]}``.

    For each tag value, in order of first appearance, its counters (taken in the order
    they occur, ignoring other tags' pairs in between) are split into contiguous runs
    (counter wrapping 32767 → 0 counts as contiguous). One complete, intact synthesis
    of ``n`` pairs is ``{tag_value(tag): [(0, n)]}``; a gap, a duplicate or reordering
    shows up as extra runs.

    Raises:
        ValueError: as :func:`decode_tone`.
    """
    # Vectorised (tests describe every byte they receive; a per-pair Python loop cost
    # seconds of CPU per suite run): a stable sort by tag keeps each tag's pairs in the
    # order they occur, so its runs start where the tag changes or the counter does not
    # follow the one before it.
    pairs = _pairs(pcm).astype(np.int64)
    if not len(pairs):
        return {}
    order = np.argsort(pairs[:, 0], kind="stable")
    tags, counters = pairs[order, 0], pairs[order, 1]
    new_tag = np.ones(len(tags), dtype=bool)
    new_tag[1:] = tags[1:] != tags[:-1]
    new_run = new_tag.copy()
    new_run[1:] |= counters[1:] != (counters[:-1] + 1) & _COUNTER_MASK
    run_starts = np.flatnonzero(new_run)
    run_firsts = counters[run_starts].tolist()
    run_counts = np.diff(run_starts, append=len(tags)).tolist()
    tag_starts = np.flatnonzero(new_tag)
    bounds = [*np.searchsorted(run_starts, tag_starts).tolist(), len(run_starts)]  # per tag
    runs: dict[int, list[tuple[int, int]]] = {}
    for group in np.argsort(order[tag_starts], kind="stable").tolist():  # first appearance
        tag, first, end = int(tags[tag_starts[group]]), bounds[group], bounds[group + 1]
        runs[tag] = list(zip(run_firsts[first:end], run_counts[first:end], strict=True))
    return runs


class ToneEngine:
    """Fast, deterministic, attributable audio (see the module docstring).

    Args:
        word_ms: duration of one word at speed 1.0, in milliseconds.
    """

    name = "tone"

    def __init__(self, word_ms: float = 200.0) -> None:
        if word_ms <= 0:
            raise ValueError(f"word_ms must be positive, got {word_ms}")
        self.word_ms = word_ms

    def pairs_per_word(self, sample_rate: int, speed: float = 1.0) -> int:
        """Whole sample pairs one word lasts at this rate and speed (at least one)."""
        return max(1, round(self.word_ms / 1000 / speed * sample_rate / 2))

    @overload
    def synthesize(
        self,
        text: str,
        *,
        voice_id: str,
        sample_rate: int,
        speed: float = ...,
        language: str | None = ...,
        tag: str = ...,
        first_pair: int = ...,
        lazy: Literal[False] = ...,
    ) -> Synthesis: ...

    @overload
    def synthesize(
        self,
        text: str,
        *,
        voice_id: str,
        sample_rate: int,
        speed: float = ...,
        language: str | None = ...,
        tag: str = ...,
        first_pair: int = ...,
        lazy: Literal[True],
    ) -> ToneStream: ...

    def synthesize(
        self,
        text: str,
        *,
        voice_id: str,
        sample_rate: int,
        speed: float = 1.0,
        language: str | None = None,
        tag: str = "",
        first_pair: int = 0,
        lazy: bool = False,
    ) -> Synthesis | ToneStream:
        """Tone audio for ``text`` marked with ``tag``; ``voice_id``/``language`` are unused.

        ``first_pair`` starts the counter there, so a request synthesized in several
        releases (continuations, §12) still reads as one contiguous run.

        ``lazy=True``: the same audio, words and duration as a :class:`ToneStream`,
        rendered a chunk at a time as a streaming socket sends it (a server streaming to
        hundreds of sockets held every request's whole rendering, touching fresh memory
        for all of it when they started together).
        """
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        tokens = _TOKEN.findall(text)
        per_word = self.pairs_per_word(sample_rate, speed)
        stream = ToneStream(
            sample_rate=sample_rate,
            tag_value=tag_value(tag),
            first_pair=first_pair,
            pairs=per_word * len(tokens),
            tokens=tuple(tokens),
            pairs_per_word=per_word,
        )
        if lazy:
            return stream
        pcm = _render(stream.tag_value, first_pair, stream.pairs)
        return Synthesis(pcm=pcm, sample_rate=sample_rate, words=stream.words)


@dataclass(frozen=True, slots=True)
class ToneStream:
    """A tone synthesis not rendered yet (``ToneEngine.synthesize(..., lazy=True)``):
    :meth:`chunks` renders each piece on demand.

    Attributes:
        sample_rate: the audio's rate.
        tag_value: the request's value in every even sample (:func:`tag_value`).
        first_pair: the counter of the first pair.
        pairs: how many sample pairs the whole synthesis has.
        tokens: the words spoken, verbatim.
        pairs_per_word: each word's length in pairs.
    """

    sample_rate: int
    tag_value: int
    first_pair: int
    pairs: int
    tokens: tuple[str, ...]
    pairs_per_word: int

    @property
    def duration(self) -> float:
        """Audio length in seconds (as :attr:`Synthesis.duration`)."""
        return 2 * self.pairs / self.sample_rate

    @property
    def words(self) -> list[WordTiming]:
        """Each word's timing, as :meth:`ToneEngine.synthesize` reports it."""
        word_samples = 2 * self.pairs_per_word
        rate = self.sample_rate
        return [
            WordTiming(word=token, start=i * word_samples / rate, end=(i + 1) * word_samples / rate)
            for i, token in enumerate(self.tokens)
        ]

    def chunks(self, chunk_bytes: int) -> Iterator[memoryview]:
        """The PCM in pieces of ``chunk_bytes`` (the last may be shorter), rendered as
        they are asked for: byte for byte what slicing :meth:`ToneEngine.synthesize`'s
        PCM gives.

        Rendered in blocks of whole chunks, about :data:`_BLOCK_BYTES` at a time (the
        per-call cost of numpy, paid per block, not per chunk; a block's memory is
        reused once its chunks are sent).
        """
        if chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
        total = _PAIR_BYTES * self.pairs
        block = chunk_bytes * max(1, _BLOCK_BYTES // chunk_bytes)
        for block_start in range(0, total, block):
            block_end = min(block_start + block, total)
            first = block_start // _PAIR_BYTES
            count = -(-block_end // _PAIR_BYTES) - first  # pairs covering the block
            skip = block_start - first * _PAIR_BYTES
            view = memoryview(_render(self.tag_value, self.first_pair + first, count))
            view = view[skip : skip + block_end - block_start]
            for start in range(0, len(view), chunk_bytes):
                yield view[start : start + chunk_bytes]


#: How much tone audio :meth:`ToneStream.chunks` renders at once (under glibc's
#: default mmap threshold, so blocks come from, and go back to, the heap).
_BLOCK_BYTES = 64 * 1024


def _render(tag: int, first_pair: int, pairs: int) -> bytes:
    """``pairs`` sample pairs: ``tag`` in the even samples, the counter from
    ``first_pair`` on (wrapping at 32768) in the odd ones."""
    # A pair is one little-endian uint32: the tag in its low half (the even sample), the
    # counter in its high half; so a run of pairs is a slice of the precomputed counter
    # cycle OR-ed with the tag, written once into the result (called per chunk sent).
    out = np.empty(pairs, dtype="<u4")
    done, start = 0, first_pair & _COUNTER_MASK
    while done < pairs:
        take = min(pairs - done, _CYCLE.size - start)
        np.bitwise_or(_CYCLE[start : start + take], tag, out=out[done : done + take])
        done, start = done + take, 0
    return out.tobytes()
