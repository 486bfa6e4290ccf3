"""Wire names of the Pulse speech-to-text API, each defined once: paths, query parameters,
JSON fields, message types and the control frames the client sends.

The STT twin of :mod:`smallest_core.wire` (kept apart because the two APIs share almost
no names: TTS frames carry ``status``, Pulse frames ``type``). A leaf module: it imports
nothing from the package. Section numbers refer to ``docs/stt.md``. What
must not live here: behaviour.
"""

from __future__ import annotations

from enum import StrEnum

from .wire import API_PREFIX

__all__ = [
    "MAX_BATCH_BYTES",
    "OCTET_STREAM",
    "STT_BATCH_PATH",
    "STT_LEGACY_BATCH_PATH",
    "STT_LEGACY_LIVE_PATH",
    "STT_LIVE_PATH",
    "STTField",
    "STTParam",
    "STTType",
]

# -- paths (§1.1) -----------------------------------------------------------------------
#: Streaming, current: every session setting is in the query string.
STT_LIVE_PATH = f"{API_PREFIX}/stt/live"
#: Streaming, legacy (still served; no ``model`` parameter).
STT_LEGACY_LIVE_PATH = f"{API_PREFIX}/pulse/get_text"
#: Batch, current (the trailing slash is what the spec, the SDK and LiveKit use).
STT_BATCH_PATH = f"{API_PREFIX}/stt/"
STT_LEGACY_BATCH_PATH = f"{API_PREFIX}/pulse/get_text"
#: §1.6: the largest batch body the service takes.
MAX_BATCH_BYTES = 250 * 1024 * 1024
#: §1.6: the batch body's media type (raw file bytes, container sniffed server-side).
OCTET_STREAM = "application/octet-stream"


class STTParam(StrEnum):
    """Query parameters of ``/stt/live`` (§1.2) and ``POST /stt/`` (§1.6)."""

    MODEL = "model"
    LANGUAGE = "language"
    SAMPLE_RATE = "sample_rate"
    ENCODING = "encoding"
    WORD_TIMESTAMPS = "word_timestamps"
    SENTENCE_TIMESTAMPS = "sentence_timestamps"
    DIARIZE = "diarize"
    FORMAT = "format"
    PUNCTUATE = "punctuate"
    CAPITALIZE = "capitalize"
    ITN_NORMALIZE = "itn_normalize"
    KEYWORDS = "keywords"
    REDACT_PII = "redact_pii"
    REDACT_PCI = "redact_pci"
    FINALIZE_ON_WORDS = "finalize_on_words"
    MAX_WORDS = "max_words"
    EOU_TIMEOUT_MS = "eou_timeout_ms"
    ENDPOINTING = "endpointing"
    ENDPOINTING_TIMEOUT = "endpointing_timeout"
    VAD_EVENTS = "vad_events"
    EXTERNAL_SESSION_ID = "external_session_id"


class STTType(StrEnum):
    """``type`` values of Pulse frames, both directions (§3)."""

    # server → client
    TRANSCRIPTION = "transcription"
    SPEECH_STARTED = "speech_started"
    SPEECH_ENDED = "speech_ended"
    PONG = "pong"
    ERROR = "error"
    # client → server
    FINALIZE = "finalize"
    CLOSE_STREAM = "close_stream"
    KEEPALIVE = "keepalive"


class STTField(StrEnum):
    """JSON field names of Pulse server frames (§3) and batch responses (§1.6)."""

    TYPE = "type"
    STATUS = "status"
    SESSION_ID = "session_id"
    # D3: the text under three names; read in this order.
    TRANSCRIPT = "transcript"
    TRANSCRIPTION = "transcription"
    TEXT = "text"
    IS_FINAL = "is_final"
    IS_LAST = "is_last"
    FROM_FINALIZE = "from_finalize"
    SPEECH_FINAL = "speech_final"
    LANGUAGE = "language"
    LANGUAGES = "languages"
    WORDS = "words"
    WORD = "word"
    START = "start"
    END = "end"
    CONFIDENCE = "confidence"
    SPEAKER = "speaker"
    SPEAKER_CONFIDENCE = "speaker_confidence"
    UTTERANCES = "utterances"
    REDACTED_ENTITIES = "redacted_entities"
    TIMESTAMP = "timestamp"
    ERROR = "error"
    REQUEST_ID = "request_id"
    # batch (§1.6)
    METADATA = "metadata"
    DURATION = "duration"
    AUDIO_LENGTH = "audio_length"


#: ``status`` of a successful frame or batch response, and of an error (§2, §3).
STATUS_SUCCESS = "success"
STATUS_ERROR = "error"
#: Booleans go on the query string as these exact strings (§1.2: the gateway compares
#: ``=== "true"``).
TRUE, FALSE = "true", "false"
