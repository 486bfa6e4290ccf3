"""The speech-to-text engine interface: PCM in, words with stream times out.

A recognizer knows nothing about WebSockets, query strings or dialects: the server
decodes the client's bytes to PCM s16le itself, feeds them to one
:class:`RecognizerStream` per session (or per batch request), and decides *when* a
segment ends (endpointing, ``finalize``, word-count rollover) with the stream's own
voice-activity decision. That keeps recognizers small and testable, and puts segmenting,
VAD events and faults in one place (``smallest_local.stt``), as ``engines.base`` does
for TTS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["RecognizedWord", "Recognizer", "RecognizerStream"]


@dataclass(frozen=True, slots=True)
class RecognizedWord:
    """One recognised word; ``start``/``end`` are seconds of the stream's audio."""

    word: str
    start: float
    end: float
    confidence: float = 1.0


class RecognizerStream(Protocol):
    """One continuous audio stream being recognised, segment by segment.

    The stream's clock is the audio fed so far (samples ÷ rate); a segment starts where
    the previous one was cut. Not thread-safe: one caller at a time.
    """

    def feed(self, pcm: bytes) -> None:
        """Append PCM s16le mono at the stream's rate (a whole number of samples)."""
        ...

    def is_speech(self, pcm: bytes) -> bool:
        """The voice-activity decision for one short frame (~20 ms) of that PCM."""
        ...

    def partial(self) -> str:
        """The open segment's text so far (may change with more audio); "" for none."""
        ...

    def cut(self, *, hold_last: bool = False) -> list[RecognizedWord]:
        """End the open segment now and return its words; the next segment starts here.

        ``hold_last`` (a word-count rollover, cut while speech goes on): the last word,
        which may still be being spoken, is not returned but stays in the next segment
        with its audio, so no word is split across two finals.
        """
        ...

    def discard(self) -> None:
        """End the open segment unrecognised (nothing was said in it): no decode, no
        words; the next segment starts here."""
        ...

    def close(self) -> None:
        """Release what the stream holds (decoders go back to their pool)."""
        ...


class Recognizer(Protocol):
    """Opens recognition streams. Implementations must be safe to call from any thread.

    Attributes:
        name: the engine name (``pocketsphinx`` or ``tone``).
        blocking: True when feeding/cutting takes real CPU time, so the server runs it in
            a worker thread instead of on the event loop.
    """

    name: str
    blocking: bool

    def open(self, sample_rate: int, language: str) -> RecognizerStream:
        """A new stream of PCM at ``sample_rate`` Hz in ``language`` (a Pulse code)."""
        ...
