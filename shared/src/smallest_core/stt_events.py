"""Speech-to-text events: what the Pulse server said, as typed values, one class per kind.

What lives here: frozen, slotted dataclasses the STT protocol produces and adapters
``match`` on — :class:`InterimTranscript`, :class:`FinalTranscript`,
:class:`SpeechStarted`, :class:`SpeechEnded` (errors reuse
:class:`~smallest_core.events.ErrorEvent`) — their parts (:class:`Word`,
:class:`Segment`), the batch result :class:`Transcription`,
and the :data:`STTEvent` union. What must not: behaviour, parsing, or wire names.
Reprs stay short: transcript text is cut to 60 characters (it is user speech).

Times (``start``/``end``/``timestamp``) are seconds of the stream's audio, counted from
its first sample (``docs/stt.md`` §4); events from
:class:`~smallest_core.STTProtocol` are monotonic across finals.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TypeAlias

from .events import ErrorEvent

__all__ = [
    "FinalTranscript",
    "InterimTranscript",
    "STTEvent",
    "Segment",
    "SpeechEnded",
    "SpeechStarted",
    "Transcription",
    "Word",
]


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:59] + "…"


@dataclass(frozen=True, slots=True, kw_only=True)
class Word:
    """One recognised word (``words[]``, §3).

    Attributes:
        word: the word as recognised (punctuation attached when formatting is on).
        start: start in seconds of the stream's audio.
        end: end in seconds of the stream's audio.
        confidence: 0-1, when the server sent one.
        speaker: the speaker label with ``diarize`` (D7: the wire has ints or strings;
            always a string here, e.g. ``"0"`` or ``"speaker_0"``).
        speaker_confidence: 0-1, with ``diarize``.
    """

    word: str
    start: float
    end: float
    confidence: float | None = None
    speaker: str | None = None
    speaker_confidence: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Segment:
    """A sentence-level span (``utterances[]`` with ``sentence_timestamps``, §3, D21)."""

    text: str
    start: float
    end: float
    speaker: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class InterimTranscript:
    """A partial result: the text of the open segment so far, replaced by the next one.

    Never final: the last words may still change (§4). No ITN, no redaction.

    Attributes:
        text: the open segment's text (may be empty).
        words: words, when the server sent them on partials.
        session_id: the server's session id.
    """

    text: str
    words: tuple[Word, ...] = ()
    session_id: str | None = None

    def __repr__(self) -> str:
        return f"InterimTranscript(text={_short(self.text)!r})"


@dataclass(frozen=True, slots=True, kw_only=True)
class FinalTranscript:
    """A frozen segment: finals do not overlap, and their concatenation is the session text.

    A final alone is not the end of a turn (D9: word-count rollover cuts mid-utterance);
    ``from_finalize``, ``is_last``, ``speech_final`` or a :class:`SpeechEnded` are.

    Attributes:
        text: the segment's text (may be empty: a ``finalize`` with nothing pending).
        words: per-word times, with ``word_timestamps`` or ``diarize``.
        start: the first word's start (None without words).
        end: the last word's end (None without words).
        language: the pinned or detected language code.
        languages: every detected code.
        from_finalize: this final answers our ``finalize`` (D5: the flag, or the first
            final after a ``finalize`` from a server that never sends the flag).
        is_last: the terminal final after ``close_stream``.
        speech_final: the server's "speaker paused" hint, when sent.
        segments: sentence spans with ``sentence_timestamps``.
        redacted_entities: placeholders used in this final with redaction on.
        session_id: the server's session id.
    """

    text: str
    words: tuple[Word, ...] = ()
    start: float | None = None
    end: float | None = None
    language: str | None = None
    languages: tuple[str, ...] = ()
    from_finalize: bool = False
    is_last: bool = False
    speech_final: bool = False
    segments: tuple[Segment, ...] = ()
    redacted_entities: tuple[str, ...] = ()
    session_id: str | None = None

    def __repr__(self) -> str:
        flags = "".join(
            f", {name}=True"
            for name in ("from_finalize", "is_last", "speech_final")
            if getattr(self, name)
        )
        return f"FinalTranscript(text={_short(self.text)!r}, end={self.end!r}{flags})"


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechStarted:
    """The server's VAD heard speech begin (``speech_started``, with ``vad_events``)."""

    timestamp: float
    session_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechEnded:
    """The server's VAD heard trailing silence (``speech_ended``): the reliable turn end."""

    timestamp: float
    session_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Transcription:
    """A batch result (``POST /waves/v1/stt/``, §1.6).

    Attributes:
        text: the whole transcript.
        words: per-word times (with ``word_timestamps``).
        segments: sentence spans (with ``word_timestamps``, pulse only).
        language: the language, when the response names one (pulse-pro does, D17).
        duration: seconds of audio, from ``metadata.duration`` (else ``audio_length``).
        request_id: the server's request id, when sent.
    """

    text: str
    words: tuple[Word, ...] = ()
    segments: tuple[Segment, ...] = ()
    language: str | None = None
    duration: float | None = None
    request_id: str | None = None

    def __repr__(self) -> str:
        return f"Transcription(text={_short(self.text)!r}, duration={self.duration!r})"


#: Everything :meth:`STTProtocol.events_received` can produce.
STTEvent: TypeAlias = InterimTranscript | FinalTranscript | SpeechStarted | SpeechEnded | ErrorEvent
