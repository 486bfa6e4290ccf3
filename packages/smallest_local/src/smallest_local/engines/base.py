"""The engine interface: text in, PCM and word timings out.

An engine knows nothing about HTTP, WebSocket frames, latency or faults: the server
asks it for the whole audio of one piece of text and paces/chunks it itself. That
keeps engines trivially testable and lets the latency model and fault injection live
in one place (``smallest_local.tts``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["Engine", "Synthesis", "WordTiming"]


@dataclass(frozen=True, slots=True)
class WordTiming:
    """One word of the input, as the server reports it in ``word_timestamp`` frames.

    ``word`` is the verbatim substring of the input text (docs/protocol.md §5.3);
    ``start``/``end`` are seconds from the start of this synthesis' audio.
    """

    word: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Synthesis:
    """The audio for one piece of text: raw PCM s16le mono at ``sample_rate``."""

    pcm: bytes
    sample_rate: int
    words: list[WordTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        """Audio length in seconds."""
        return len(self.pcm) / 2 / self.sample_rate

    def chunks(self, chunk_bytes: int) -> Iterator[memoryview]:
        """The PCM in pieces of ``chunk_bytes`` (the last may be shorter): views, made one
        at a time, not copies (a streaming socket holds the whole rendering until its
        last chunk is sent anyway)."""
        if chunk_bytes <= 0:
            raise ValueError(f"chunk_bytes must be positive, got {chunk_bytes}")
        view = memoryview(self.pcm)
        for i in range(0, len(self.pcm), chunk_bytes):
            yield view[i : i + chunk_bytes]


class Engine(Protocol):
    """Turns text into speech. Implementations must be safe to call from any thread."""

    name: str

    def synthesize(
        self,
        text: str,
        *,
        voice_id: str,
        sample_rate: int,
        speed: float = 1.0,
        language: str | None = None,
        tag: str = "",
    ) -> Synthesis:
        """Synthesize ``text`` completely.

        Args:
            text: the text to speak; may be empty or whitespace (then: no audio, no words).
            voice_id: the requested voice; engines map unknown ids to a default voice.
            sample_rate: output rate in Hz (8000, 16000, 24000 or 44100).
            speed: 0.5-2.0, 1.0 = normal speaking rate.
            language: protocol language code or None.
            tag: the id that identifies the request (the client's request id, else the
                context id, else the server's). Only the tone engine uses it.
        """
        ...
