"""Pulse speech-to-text frames ↔ events: the query string, control frames and parsers.

What lives here: :func:`stt_query` / :func:`stt_ws_url` (all session settings travel in
the query string, ``docs/stt.md`` §1.2), :func:`control_frame` for the
client's JSON messages (§3), :func:`parse_stt_frame` for server frames (§3, D3, D4, D7)
and :func:`parse_transcription` for batch responses (§1.6, D17). What must not: state
(which ``finalize`` is pending, the audio clock — that is
:mod:`smallest_core.stt_protocol`), sockets, clocks, or wire names (each defined once in
:mod:`smallest_core.stt_wire`).

Parsing never crashes: anything unexpected becomes a :class:`ProtocolError` quoting the
frame shortened and redacted. Frames we have no use for (``pong``, an unknown ``type``)
parse to None, as the SDK and LiveKit skip them (§5).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from .classify import error_from_frame
from .codec import _bad
from .errors import InvalidOptionError
from .events import ErrorEvent
from .stt_events import (
    FinalTranscript,
    InterimTranscript,
    Segment,
    SpeechEnded,
    SpeechStarted,
    STTEvent,
    Transcription,
    Word,
)
from .stt_options import STTOptions
from .stt_wire import (
    FALSE,
    MAX_BATCH_BYTES,
    STATUS_ERROR,
    STT_LIVE_PATH,
    TRUE,
    STTField,
    STTParam,
    STTType,
)
from .wire import API_PREFIX

__all__ = [
    "check_batch_size",
    "control_frame",
    "has_container",
    "parse_stt_frame",
    "parse_transcription",
    "stt_query",
    "stt_ws_url",
]

# D3: the transcript text, by preference.
_TEXT_KEYS = (STTField.TRANSCRIPT.value, STTField.TRANSCRIPTION.value, STTField.TEXT.value)


def _bool(value: bool) -> str:
    return TRUE if value else FALSE


def _keywords(opts: STTOptions) -> str:
    # D14 / LiveKit's reading: ``term`` or ``term:boost``, boost printed with ``:g``.
    return ",".join(term if boost == 1.0 else f"{term}:{boost:g}" for term, boost in opts.keywords)


def stt_query(
    opts: STTOptions, *, batch: bool = False, raw_audio: bool = False
) -> list[tuple[str, str]]:
    """The query parameters for ``opts``, in a stable order.

    Streaming (§1.2) sends every session setting; batch (§1.6) sends the parameters
    ``POST /stt/`` documents, plus ``encoding``/``sample_rate`` only when the body has no
    container header to sniff (``raw_audio``, D18). Booleans are ``true``/``false``,
    always explicit (D6); ``None`` options are omitted.
    """
    query: list[tuple[str, str]] = [
        (STTParam.MODEL, opts.model),
        (STTParam.LANGUAGE, opts.language),
    ]
    if not batch or raw_audio:
        query += [
            (STTParam.SAMPLE_RATE, str(opts.sample_rate)),
            (STTParam.ENCODING, opts.encoding),
        ]
    query += [
        (STTParam.WORD_TIMESTAMPS, _bool(opts.word_timestamps)),
        (STTParam.DIARIZE, _bool(opts.diarize)),
        (STTParam.REDACT_PII, _bool(opts.redact_pii)),
        (STTParam.REDACT_PCI, _bool(opts.redact_pci)),
    ]
    if batch:
        return [(str(k), v) for k, v in query]
    query += [
        (STTParam.SENTENCE_TIMESTAMPS, _bool(opts.sentence_timestamps)),
        (STTParam.FORMAT, _bool(opts.format)),
        (STTParam.ITN_NORMALIZE, _bool(opts.itn_normalize)),
        (STTParam.ENDPOINTING, _bool(opts.endpointing)),
        (STTParam.VAD_EVENTS, _bool(opts.vad_events)),
    ]
    optional: tuple[tuple[STTParam, bool | int | str | None], ...] = (
        (STTParam.PUNCTUATE, opts.punctuate),
        (STTParam.CAPITALIZE, opts.capitalize),
        (STTParam.FINALIZE_ON_WORDS, opts.finalize_on_words),
        (STTParam.MAX_WORDS, opts.max_words),
        (STTParam.EOU_TIMEOUT_MS, opts.eou_timeout_ms),
        (STTParam.ENDPOINTING_TIMEOUT, opts.endpointing_timeout_ms),
        (STTParam.EXTERNAL_SESSION_ID, opts.session_id),
    )
    for name, value in optional:
        if value is None:
            continue
        query.append((name, _bool(value) if isinstance(value, bool) else str(value)))
    if opts.keywords:
        query.append((STTParam.KEYWORDS, _keywords(opts)))
    return [(str(k), v) for k, v in query]


def stt_ws_url(base: str, opts: STTOptions, *, path: str = STT_LIVE_PATH) -> str:
    """The streaming URL ``ws(s)://host/waves/v1/stt/live?model=pulse&…`` for a base URL.

    ``base`` may be a bare host, end in ``/waves/v1``, or already carry ``path``;
    ``http(s)://`` becomes ``ws(s)://`` so one base serves REST and streaming. Any query
    on ``base`` is replaced by the options' (they are the whole session config, §1.2).

    Raises:
        InvalidOptionError: an unsupported scheme, or options streaming cannot take.
    """
    opts.check_streaming()
    parts = urlsplit(base)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise InvalidOptionError("base_url", base, "ws://, wss://, http:// or https:// URLs")
    prefix = parts.path.rstrip("/")
    if not prefix.endswith(path):
        if prefix.endswith(API_PREFIX):
            prefix = prefix[: -len(API_PREFIX)]
        prefix += path
    return urlunsplit((scheme, parts.netloc, prefix, urlencode(stt_query(opts)), ""))


#: Leading bytes of the containers the service sniffs (§1.6: wav mp3 flac ogg m4a webm).
_MAGIC: tuple[tuple[int, bytes], ...] = (
    (0, b"RIFF"),
    (0, b"ID3"),
    (0, b"fLaC"),
    (0, b"OggS"),
    (0, b"\x1a\x45\xdf\xa3"),  # EBML: webm/mkv
    (4, b"ftyp"),  # mp4/m4a
)


def has_container(data: bytes) -> bool:
    """True when ``data`` starts like a file the service sniffs (WAV, MP3, FLAC, Ogg,
    M4A, WebM); False for headerless audio, which needs ``encoding``/``sample_rate`` (D18).
    """
    # No MPEG frame-sync test: PCM of -1 (``ff ff``) looks like one. An untagged MP3
    # then goes out with ``encoding``, which D18 says a server sniffs past anyway.
    return any(data[at : at + len(magic)] == magic for at, magic in _MAGIC)


def check_batch_size(n_bytes: int) -> None:
    """Refuse a batch body over the service's 250 MB limit before uploading it (§1.6).

    Raises:
        InvalidOptionError: naming ``audio``, its size and the limit.
    """
    if n_bytes > MAX_BATCH_BYTES:
        raise InvalidOptionError(
            "audio",
            f"<{n_bytes} bytes>",
            f"at most {MAX_BATCH_BYTES} bytes (250 MB)",
            problem="is too large",
        )
    if n_bytes == 0:
        raise InvalidOptionError("audio", "<0 bytes>", "non-empty audio", problem="is empty")


def control_frame(kind: STTType) -> str:
    """A client control message: ``{"type":"finalize"}``, ``close_stream``, ``keepalive``
    (§3; D1: ``finalize`` per turn, one ``close_stream`` at the end)."""
    if kind not in (STTType.FINALIZE, STTType.CLOSE_STREAM, STTType.KEEPALIVE):
        raise InvalidOptionError("kind", kind, "finalize, close_stream, keepalive")
    return json.dumps({STTField.TYPE.value: kind.value}, separators=(",", ":"))


# -- parsing ------------------------------------------------------------------------------
def _number(value: Any) -> float | None:
    """``value`` as a float when it is a finite JSON number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _opt_number(item: Mapping[str, Any], key: str, raw: str) -> float | None:
    value = item.get(key)
    if value is None:
        return None
    number = _number(value)
    if number is None:
        raise _bad(raw, f"{key} is not a finite number")
    return number


def _speaker(value: Any, raw: str) -> str | None:
    # D7: int on most paths, string (``speaker_0``) on others: normalise to a string.
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise _bad(raw, "speaker is neither an integer nor a string")
    return str(value)


_WORD, _START, _END = STTField.WORD.value, STTField.START.value, STTField.END.value
_CONFIDENCE, _SPEAKER = STTField.CONFIDENCE.value, STTField.SPEAKER.value
_SPEAKER_CONFIDENCE = STTField.SPEAKER_CONFIDENCE.value
_isfinite = math.isfinite


def _words(value: Any, raw: str) -> tuple[Word, ...]:
    """``words[]``; every transcript frame may carry them, so the usual word (finite
    JSON floats, optional fields absent) is checked inline and only anything else takes
    :func:`_number` / :func:`_opt_number` / :func:`_speaker`'s way, with their errors."""
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad(raw, "words is not a list")
    words = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _bad(raw, "a word is not an object")
        text, start, end = item.get(_WORD), item.get(_START), item.get(_END)
        if type(start) is not float or not _isfinite(start):
            start = _number(start)
        if type(end) is not float or not _isfinite(end):
            end = _number(end)
        if not isinstance(text, str):
            raise _bad(raw, "a word has no word string")
        if start is None or end is None:
            raise _bad(raw, "a word's start/end are not finite numbers")
        confidence = item.get(_CONFIDENCE)
        if confidence is not None and (type(confidence) is not float or not _isfinite(confidence)):
            confidence = _opt_number(item, _CONFIDENCE, raw)
        speaker = item.get(_SPEAKER)
        if speaker is not None:
            speaker = _speaker(speaker, raw)
        speaker_confidence = item.get(_SPEAKER_CONFIDENCE)
        if speaker_confidence is not None and (
            type(speaker_confidence) is not float or not _isfinite(speaker_confidence)
        ):
            speaker_confidence = _opt_number(item, _SPEAKER_CONFIDENCE, raw)
        words.append(
            Word(
                word=text,
                start=start,
                end=end,
                confidence=confidence,
                speaker=speaker,
                speaker_confidence=speaker_confidence,
            )
        )
    return tuple(words)


def _segments(value: Any, raw: str) -> tuple[Segment, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise _bad(raw, "utterances is not a list")
    out = []
    for item in value:
        if not isinstance(item, Mapping):
            raise _bad(raw, "an utterance is not an object")
        # D21: ``text``; some descriptions say ``transcript``.
        text = item.get(STTField.TEXT, item.get(STTField.TRANSCRIPT, ""))
        start, end = _number(item.get(STTField.START)), _number(item.get(STTField.END))
        if not isinstance(text, str) or start is None or end is None:
            raise _bad(raw, "an utterance lacks text or finite start/end")
        out.append(
            Segment(
                text=text,
                start=start,
                end=end,
                speaker=_speaker(item.get(STTField.SPEAKER), raw),
            )
        )
    return tuple(out)


def _strings(value: Any, key: str, raw: str) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _bad(raw, f"{key} is not a list of strings")
    return tuple(value)


def _text(frame: Mapping[str, Any], raw: str) -> str | None:
    for key in _TEXT_KEYS:
        value = frame.get(key)
        if value is None:
            continue
        if not isinstance(value, str):
            raise _bad(raw, f"{key} is not a string")
        return value
    return None


def _flag(frame: Mapping[str, Any], key: str, raw: str) -> bool:
    value = frame.get(key)
    if value is None:
        return False
    if not isinstance(value, bool):
        raise _bad(raw, f"{key} is not a boolean")
    return value


def _str_or_none(frame: Mapping[str, Any], key: str) -> str | None:
    value = frame.get(key)
    return value if isinstance(value, str) and value else None


def _is_error(frame: Mapping[str, Any]) -> bool:
    """D4: ``type`` or ``status`` is ``error``, or ``error`` is present with no transcript."""
    if frame.get(STTField.TYPE) == STTType.ERROR or frame.get(STTField.STATUS) == STATUS_ERROR:
        return True
    return frame.get(STTField.ERROR) is not None and all(k not in frame for k in _TEXT_KEYS)


def _load(raw: str) -> dict[str, Any]:
    try:
        frame = json.loads(raw)
    except (ValueError, TypeError, RecursionError):
        raise _bad(raw, "not JSON") from None
    if not isinstance(frame, dict):
        raise _bad(raw, "not a JSON object")
    return frame


def parse_stt_frame(raw: str) -> STTEvent | None:
    """Parse one Pulse server frame (§3) into an event, or None for frames we skip.

    Error frames of every shape of §2 (D4) become an :class:`ErrorEvent` classified by
    :func:`~smallest_core.classify.error_from_frame`; transcripts read their text from
    ``transcript``, else ``transcription``, else ``text`` (D3); ``pong`` and unknown
    ``type`` values are None. A frame with no ``type`` but a text or ``is_final`` key is a
    transcript (the legacy examples omit ``type``).

    Word times are the server's; :class:`~smallest_core.STTProtocol` makes them monotonic
    across finals.

    Raises:
        ProtocolError: not JSON, not an object, or a field of the wrong type — and never
            anything else.
    """
    frame = _load(raw)
    if _is_error(frame):
        return ErrorEvent(None, error_from_frame(frame))
    kind = frame.get(STTField.TYPE)
    session_id = _str_or_none(frame, STTField.SESSION_ID)
    if kind in (STTType.SPEECH_STARTED, STTType.SPEECH_ENDED):
        stamp = _number(frame.get(STTField.TIMESTAMP))
        if stamp is None:
            raise _bad(raw, f"{kind} without a finite timestamp")
        cls = SpeechStarted if kind == STTType.SPEECH_STARTED else SpeechEnded
        return cls(timestamp=stamp, session_id=session_id)
    text = _text(frame, raw)
    if kind != STTType.TRANSCRIPTION and (
        kind is not None or (text is None and STTField.IS_FINAL not in frame)
    ):
        return None  # pong, or a type we do not know: skipped (§5, §7.15)
    is_last = _flag(frame, STTField.IS_LAST, raw)
    words = _words(frame.get(STTField.WORDS), raw)
    if not (_flag(frame, STTField.IS_FINAL, raw) or is_last):
        return InterimTranscript(text=text or "", words=words, session_id=session_id)
    language = frame.get(STTField.LANGUAGE)
    if language is not None and not isinstance(language, str):
        raise _bad(raw, "language is not a string")
    return FinalTranscript(
        text=text or "",
        words=words,
        start=words[0].start if words else None,
        end=words[-1].end if words else None,
        language=language or None,
        languages=_strings(frame.get(STTField.LANGUAGES), STTField.LANGUAGES, raw),
        from_finalize=_flag(frame, STTField.FROM_FINALIZE, raw),
        is_last=is_last,
        speech_final=_flag(frame, STTField.SPEECH_FINAL, raw),
        segments=_segments(frame.get(STTField.UTTERANCES), raw),
        redacted_entities=_strings(
            frame.get(STTField.REDACTED_ENTITIES), STTField.REDACTED_ENTITIES, raw
        ),
        session_id=session_id,
    )


def parse_transcription(body: bytes | str) -> Transcription:
    """Parse a batch response (``POST /waves/v1/stt/``, §1.6) into a :class:`Transcription`.

    Everything but the text is optional (D17): ``language`` and ``request_id`` appear on
    pulse-pro responses, ``duration`` comes from ``metadata.duration`` else
    ``audio_length``.

    Raises:
        ProtocolError: not a JSON object, no text, or a field of the wrong type.
        SmallestError: a 200 whose body is an error shape (classified like a frame).
    """
    raw = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
    data = _load(raw)
    if _is_error(data):
        raise error_from_frame(data)
    text = data.get(STTField.TRANSCRIPTION, data.get(STTField.TRANSCRIPT, data.get(STTField.TEXT)))
    if not isinstance(text, str):
        raise _bad(raw, "no transcription text")
    metadata = data.get(STTField.METADATA)
    duration = None
    if isinstance(metadata, Mapping):
        duration = _opt_number(metadata, STTField.DURATION, raw)
    if duration is None:
        duration = _opt_number(data, STTField.AUDIO_LENGTH, raw)
    language = data.get(STTField.LANGUAGE)
    return Transcription(
        text=text,
        words=_words(data.get(STTField.WORDS), raw),
        segments=_segments(data.get(STTField.UTTERANCES), raw),
        language=language if isinstance(language, str) and language else None,
        duration=duration,
        request_id=_str_or_none(data, STTField.REQUEST_ID),
    )
