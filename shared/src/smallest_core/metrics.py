"""Timing metrics: one TTS utterance (time to first audio, real-time factor) and one STT
stream (audio seconds sent, time from the last audio to the final, finals count).

Lives here: :class:`UtteranceMetrics` and :class:`STTMetrics`, plain records that the
transport (or an adapter, or the benchmark) updates as data goes out and comes back. No
I/O and no logging: the clock is injected so tests step it by hand instead of sleeping.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

__all__ = ["STTMetrics", "UtteranceMetrics"]


@dataclass(kw_only=True, slots=True)
class UtteranceMetrics:
    """What one utterance cost: characters in, audio out, and when.

    Call :meth:`on_text` as text is sent, :meth:`on_audio` as audio arrives and
    :meth:`on_end` when the utterance completes. Times are readings of ``clock``
    (seconds, arbitrary origin; ``time.perf_counter`` by default).

    Attributes:
        request_id: The utterance's request id, to correlate with logs.
        sample_rate: Rate of the audio counted in ``audio_bytes``.
        sample_width: Bytes per sample: 2 for PCM s16le, 1 for G.711.
        characters: Characters of text sent so far.
        started_at: When the first text was sent (set by the first :meth:`on_text`
            unless given), so time to first audio measures the service, not how long
            the caller waited for an LLM before speaking.
        first_audio_at: When the first audio bytes arrived.
        ended_at: When the utterance completed.
        audio_bytes: Audio bytes received so far.
        clock: Returns the current time in seconds.
    """

    request_id: str
    sample_rate: int
    sample_width: int = 2
    characters: int = 0
    started_at: float | None = None
    first_audio_at: float | None = None
    ended_at: float | None = None
    audio_bytes: int = 0
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.sample_width <= 0:
            raise ValueError(f"sample_width must be positive, got {self.sample_width}")

    def on_text(self, n_chars: int) -> None:
        """Count text sent; the first call starts the clock."""
        if n_chars < 0:
            raise ValueError(f"n_chars must not be negative, got {n_chars}")
        if self.started_at is None:
            self.started_at = self.clock()
        self.characters += n_chars

    def on_audio(self, n_bytes: int) -> None:
        """Count audio received; the first non-empty chunk marks time to first audio."""
        if n_bytes < 0:
            raise ValueError(f"n_bytes must not be negative, got {n_bytes}")
        if n_bytes and self.first_audio_at is None:
            self.first_audio_at = self.clock()
        self.audio_bytes += n_bytes

    def on_end(self) -> None:
        """Mark the utterance complete; later calls keep the first end time."""
        if self.ended_at is None:
            self.ended_at = self.clock()

    @property
    def ttfa(self) -> float | None:
        """Seconds from the first text to the first audio, or None if either is missing."""
        if self.started_at is None or self.first_audio_at is None:
            return None
        return self.first_audio_at - self.started_at

    @property
    def audio_duration(self) -> float:
        """Seconds of audio received (whole samples only)."""
        return self.audio_bytes // self.sample_width / self.sample_rate

    @property
    def real_time_factor(self) -> float | None:
        """Wall time from first text to end, divided by audio duration.

        Below 1 means audio came faster than it plays. None until the utterance has
        started, ended and produced audio.
        """
        audio = self.audio_duration
        if self.started_at is None or self.ended_at is None or audio == 0:
            return None
        return (self.ended_at - self.started_at) / audio

    def as_dict(self) -> dict[str, str | int | float | None]:
        """The counters and derived figures, for a log line or a benchmark row."""
        return {
            "request_id": self.request_id,
            "characters": self.characters,
            "audio_bytes": self.audio_bytes,
            "sample_rate": self.sample_rate,
            "audio_duration": self.audio_duration,
            "ttfa": self.ttfa,
            "real_time_factor": self.real_time_factor,
        }


@dataclass(kw_only=True, slots=True)
class STTMetrics:
    """What one transcription stream cost and how fast its finals came: the STT twin of
    :class:`UtteranceMetrics`.

    Call :meth:`on_audio` as audio is sent, :meth:`on_final` as each final arrives and
    :meth:`on_end` when the stream ends. The latency that matters to a voice agent is
    from the end of the user's speech (the last audio sent) to the final carrying it:
    each final that follows new audio records one such figure in ``final_latencies``.

    Attributes:
        sample_rate: rate of the audio counted in ``audio_bytes``.
        sample_width: bytes per sample (2 for linear16, 1 for G.711); None when the
            encoding's length is not its duration (Opus): ``audio_seconds`` is then 0.
        session_id: the server's session id, to correlate with logs.
        audio_bytes: audio bytes sent so far.
        started_at: when the first audio was sent.
        last_audio_at: when the latest audio was sent.
        ended_at: when the stream ended.
        finals: final transcripts received.
        final_latencies: seconds from the last audio before a final to that final, one
            per final that followed new audio.
        clock: returns the current time in seconds (``time.perf_counter`` by default).
    """

    sample_rate: int
    sample_width: int | None = 2
    session_id: str | None = None
    audio_bytes: int = 0
    started_at: float | None = None
    last_audio_at: float | None = None
    ended_at: float | None = None
    finals: int = 0
    final_latencies: list[float] = field(default_factory=list)
    clock: Callable[[], float] = field(default=time.perf_counter, repr=False, compare=False)
    _awaiting_final: bool = field(default=False, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if self.sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {self.sample_rate}")
        if self.sample_width is not None and self.sample_width <= 0:
            raise ValueError(f"sample_width must be positive, got {self.sample_width}")

    def on_audio(self, n_bytes: int) -> None:
        """Count audio sent; the first call starts the clock."""
        if n_bytes < 0:
            raise ValueError(f"n_bytes must not be negative, got {n_bytes}")
        if not n_bytes:
            return
        now = self.clock()
        if self.started_at is None:
            self.started_at = now
        self.last_audio_at = now
        self.audio_bytes += n_bytes
        self._awaiting_final = True

    def on_final(self) -> None:
        """Count a final; the first one after new audio records its latency."""
        self.finals += 1
        if self._awaiting_final and self.last_audio_at is not None:
            self.final_latencies.append(self.clock() - self.last_audio_at)
            self._awaiting_final = False

    def on_end(self) -> None:
        """Mark the stream ended; later calls keep the first end time."""
        if self.ended_at is None:
            self.ended_at = self.clock()

    @property
    def audio_seconds(self) -> float:
        """Seconds of audio sent (whole samples only; 0 when the width is unknown)."""
        if self.sample_width is None:
            return 0.0
        return self.audio_bytes // self.sample_width / self.sample_rate

    @property
    def final_latency(self) -> float | None:
        """The latest last-audio → final figure, or None before the first."""
        return self.final_latencies[-1] if self.final_latencies else None

    def as_dict(self) -> dict[str, str | int | float | None]:
        """The counters and derived figures, for a log line or a benchmark row."""
        return {
            "session_id": self.session_id,
            "audio_bytes": self.audio_bytes,
            "audio_seconds": self.audio_seconds,
            "finals": self.finals,
            "final_latency": self.final_latency,
        }
