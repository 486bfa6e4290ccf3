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

import numpy as np

from smallest_local.engines.base import Synthesis, WordTiming

__all__ = ["ToneEngine", "decode_tone", "describe", "tag_value"]

_COUNTER_MASK = 0x7FFF
_PAIR_BYTES = 4
_TOKEN = re.compile(r"\S+")
#: Every counter value once, in order: the counter column is copied from it.
_CYCLE = np.arange(_COUNTER_MASK + 1, dtype="<i2")


def tag_value(tag: str) -> int:
    """The stable 15-bit value (1..32767, never 0) that marks audio made for ``tag``.

    crc32 of the UTF-8 tag, folded into 1..32767; stable across processes and versions,
    so a test can compute it independently of the server. Distinct tags may collide
    (about 1 in 32767 per pair of tags); tests should use a few short, distinct ids.
    """
    return zlib.crc32(tag.encode("utf-8")) % _COUNTER_MASK + 1


def decode_tone(pcm: bytes) -> list[tuple[int, int]]:
    """Split tone PCM into its (tag_value, counter) pairs, in order.

    Raises:
        ValueError: ``pcm`` is not a whole number of pairs (4 bytes each), i.e. bytes
            were lost, added, or the buffer does not start at a pair boundary.
    """
    if len(pcm) % _PAIR_BYTES:
        raise ValueError(f"tone PCM must be a multiple of {_PAIR_BYTES} bytes, got {len(pcm)}")
    samples = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)
    return [(int(tag), int(counter)) for tag, counter in samples]


def describe(pcm: bytes) -> dict[int, list[tuple[int, int]]]:
    """Summarise tone PCM as ``{tag_value: [(first_counter, pair_count), ...]}``.

    For each tag value, in order of first appearance, its counters (taken in the order
    they occur, ignoring other tags' pairs in between) are split into contiguous runs
    (counter wrapping 32767 → 0 counts as contiguous). One complete, intact synthesis
    of ``n`` pairs is ``{tag_value(tag): [(0, n)]}``; a gap, a duplicate or reordering
    shows up as extra runs.
    """
    runs: dict[int, list[tuple[int, int]]] = {}
    last: dict[int, int] = {}
    for tag, counter in decode_tone(pcm):
        tag_runs = runs.setdefault(tag, [])
        if tag in last and counter == (last[tag] + 1) & _COUNTER_MASK:
            first, count = tag_runs[-1]
            tag_runs[-1] = (first, count + 1)
        else:
            tag_runs.append((counter, 1))
        last[tag] = counter
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
    ) -> Synthesis:
        """Tone audio for ``text`` marked with ``tag``; ``voice_id``/``language`` are unused.

        ``first_pair`` starts the counter there, so a request synthesized in several
        releases (continuations, §12) still reads as one contiguous run.
        """
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if speed <= 0:
            raise ValueError(f"speed must be positive, got {speed}")
        tokens = _TOKEN.findall(text)
        per_word = self.pairs_per_word(sample_rate, speed)
        pairs = per_word * len(tokens)
        # One row per pair; the counters are copied from one precomputed cycle, with no
        # temporary array (a server starting hundreds of streams at once renders them
        # all in one burst, where each allocation and pass shows).
        samples = np.empty((pairs, 2), dtype="<i2")
        samples[:, 0] = tag_value(tag)
        done, start = 0, first_pair & _COUNTER_MASK
        while done < pairs:
            take = min(pairs - done, _CYCLE.size - start)
            samples[done : done + take, 1] = _CYCLE[start : start + take]
            done, start = done + take, 0
        word_samples = 2 * per_word
        words = [
            WordTiming(
                word=token,
                start=i * word_samples / sample_rate,
                end=(i + 1) * word_samples / sample_rate,
            )
            for i, token in enumerate(tokens)
        ]
        return Synthesis(pcm=samples.tobytes(), sample_rate=sample_rate, words=words)
