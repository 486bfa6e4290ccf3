"""The ``tone`` recognizer: the deterministic twin of pocketsphinx for tests.

It reads audio made by :class:`~smallest_local.engines.tone.ToneEngine`: pairs of int16
``(tag_value, counter)``. Each of the tone engine's word slots (``pairs_per_word`` pairs
at this rate, counted by the counter) becomes one word, ``tag<value>`` (see
:func:`tone_word`), so a test that synthesises ``"a b c"`` with tag ``"req-1"`` and
streams it in any chunking gets exactly ``tag<v> tag<v> tag<v>`` back, with word times
that are the slots' positions in the stream. All-zero pairs are silence (the tone engine
never writes tag 0), which is also its voice-activity decision: a frame with any
non-zero sample is speech. Nothing is guessed, so transcripts are exact and instant.
"""

from __future__ import annotations

import numpy as np

from smallest_local.engines.recognizer import RecognizedWord
from smallest_local.engines.tone import ToneEngine, tag_value

__all__ = ["ToneRecognizer", "ToneStream", "tone_word"]

_COUNTER_MASK = 0x7FFF


def tone_word(tag: str) -> str:
    """The word the tone recognizer hears for one word slot of tone audio tagged ``tag``."""
    return f"tag{tag_value(tag)}"


class ToneStream:
    """One tone stream (see the module docstring)."""

    def __init__(self, sample_rate: int, word_ms: float) -> None:
        self.sample_rate = sample_rate
        self._pairs_per_word = ToneEngine(word_ms).pairs_per_word(sample_rate)
        self._pending = b""  # a half pair carried to the next feed
        self._pairs_seen = 0  # pairs fed so far (the clock, in pairs)
        # open segment: [tag value, slot index, first pair, last pair + 1]
        self._words: list[list[int]] = []

    def feed(self, pcm: bytes) -> None:
        data = self._pending + pcm
        whole = len(data) - len(data) % 4
        self._pending = data[whole:]
        if not whole:
            return
        pairs = np.frombuffer(data[:whole], dtype="<i2").reshape(-1, 2)
        base = self._pairs_seen
        self._pairs_seen += len(pairs)
        tags = pairs[:, 0].astype(np.int64)
        slots = (pairs[:, 1].astype(np.int64) & _COUNTER_MASK) // self._pairs_per_word
        voiced = np.flatnonzero(tags > 0)
        if voiced.size == 0:
            return
        keys = tags[voiced] * 65536 + slots[voiced]
        # where the (tag, slot) key changes, or voiced pairs are not adjacent: a new word
        breaks = np.flatnonzero((np.diff(keys) != 0) | (np.diff(voiced) != 1)) + 1
        for run in np.split(np.arange(voiced.size), breaks):
            first, last = int(voiced[run[0]]), int(voiced[run[-1]])
            tag, slot = int(tags[first]), int(slots[first])
            start, end = base + first, base + last + 1
            prev = self._words[-1] if self._words else None
            if prev is not None and prev[0] == tag and prev[1] == slot and prev[3] == start:
                prev[3] = end  # the same word continued across a chunk boundary
            else:
                self._words.append([tag, slot, start, end])

    def is_speech(self, pcm: bytes) -> bool:
        return any(pcm)

    def partial(self) -> str:
        return " ".join(f"tag{w[0]}" for w in self._words)

    def cut(self, *, hold_last: bool = False) -> list[RecognizedWord]:
        rate = self.sample_rate / 2  # pairs per second
        held = self._words[-1:] if hold_last else []
        done = self._words[:-1] if hold_last else self._words
        words = [
            RecognizedWord(word=f"tag{tag}", start=start / rate, end=end / rate, confidence=1.0)
            for tag, _slot, start, end in done
        ]
        self._words = held
        return words

    def discard(self) -> None:
        self._words = []

    def close(self) -> None:
        self._words = []


class ToneRecognizer:
    """Opens :class:`ToneStream` s; ``word_ms`` must match the TTS tone engine's."""

    name = "tone"
    blocking = False

    def __init__(self, word_ms: float = 200.0) -> None:
        self.word_ms = word_ms

    def open(self, sample_rate: int, language: str) -> ToneStream:
        """A new tone stream; ``language`` is only echoed by the server."""
        return ToneStream(sample_rate, self.word_ms)
