"""Wire names of the Waves TTS API, each defined once: hosts, paths, headers, JSON fields,
status values and the environment variables the clients read.

A leaf module: it imports nothing from the package, so :mod:`smallest_core.codec` (frames
↔ events) and :mod:`smallest_core.classify` (failures → errors) both build on it without
a cycle. What must not live here: behaviour.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = [
    "ALL_VOICES_PATH",
    "API_KEY_ENV",
    "API_PREFIX",
    "BASE_URL_ENV",
    "CLONE_PATH",
    "DEFAULT_HTTP_BASE",
    "DEFAULT_WS_BASE",
    "DICTS_PATH",
    "LIVE_PATH",
    "SSE_PATH",
    "TIMEOUT_QUERY",
    "TTS_PATH",
    "USER_AGENT",
    "VOICES_PATH",
    "WS_PATH",
    "Field",
    "Header",
    "MediaType",
    "Status",
]

#: Where every client (pool, REST, CLI, adapters) finds the key and a base URL override.
API_KEY_ENV = "SMALLEST_API_KEY"
BASE_URL_ENV = "SMALLEST_BASE_URL"
#: Sent as ``X-Source`` (§1).
USER_AGENT = "smallest-core"

# -- hosts and paths (docs/protocol.md §1, §3, §4, §5, §7) --------------------------------------
DEFAULT_HTTP_BASE = "https://api.smallest.ai"
DEFAULT_WS_BASE = "wss://api.smallest.ai"
API_PREFIX = "/waves/v1"
TTS_PATH = f"{API_PREFIX}/tts"
#: One URL, two protocols: POST gets SSE (§4), a WebSocket upgrade gets §5.
LIVE_PATH = f"{API_PREFIX}/tts/live"
SSE_PATH = LIVE_PATH
WS_PATH = LIVE_PATH
CLONE_PATH = f"{API_PREFIX}/voice-cloning"
#: ``model`` in catalog spelling (hyphens, §1): use :func:`voices_path`.
VOICES_PATH = API_PREFIX + "/{model}/get_voices"
ALL_VOICES_PATH = f"{API_PREFIX}/voice/get-all-models"
DICTS_PATH = f"{API_PREFIX}/pronunciation-dicts"
#: §5.1: idle timeout in seconds, as a query parameter of the WebSocket URL.
TIMEOUT_QUERY = "timeout"


class Header(StrEnum):
    """HTTP header names we send or read (§1, §8)."""

    AUTHORIZATION = "Authorization"
    CONTENT_TYPE = "Content-Type"
    ACCEPT = "Accept"
    X_SOURCE = "X-Source"
    X_EXPIRE_CONTENT = "x-expire-content"
    X_CONTENT_EXPIRY = "x-content-expiry"
    X_SESSION_ID = "X-Session-Id"
    X_REQUEST_ID = "X-Request-Id"
    X_EXTERNAL_SESSION_ID = "X-External-Session-Id"
    X_EXTERNAL_REQUEST_ID = "X-External-Request-Id"
    RETRY_AFTER = "Retry-After"
    RETRY_AFTER_MS = "retry-after-ms"


class MediaType(StrEnum):
    """Media types of §3/§4 requests."""

    JSON = "application/json"
    WAV = "audio/wav"
    EVENT_STREAM = "text/event-stream"


class Status(StrEnum):
    """``status`` values of WebSocket server frames (§5.3)."""

    CHUNK = "chunk"
    WORD_TIMESTAMP = "word_timestamp"
    COMPLETE = "complete"
    ERROR = "error"


class Field(StrEnum):
    """JSON field names of requests (§2, §5.2, §12) and responses (§4, §5.3, §8)."""

    # request body (§2)
    TEXT = "text"
    VOICE_ID = "voice_id"
    MODEL = "model"
    SAMPLE_RATE = "sample_rate"
    SPEED = "speed"
    LANGUAGE = "language"
    NUMBER_PRONUNCIATION_LANGUAGE = "number_pronunciation_language"
    MATH_NOTATION = "math_notation"
    OUTPUT_FORMAT = "output_format"
    PRONUNCIATION_DICTS = "pronunciation_dicts"
    WORD_TIMESTAMPS = "word_timestamps"
    SESSION_ID = "session_id"
    REQUEST_ID = "request_id"
    # WebSocket flush mode (§5.2)
    CONTINUE = "continue"
    FLUSH = "flush"
    MAX_BUFFER_FLUSH_MS = "max_buffer_flush_ms"
    COMPLETE_BACKOFF_MS = "complete_backoff_ms"
    # continuations (§12)
    CONTEXT_ID = "context_id"
    MAX_BUFFER_DELAY_MS = "max_buffer_delay_ms"
    CANCEL_REQUEST = "cancel_request"
    # server frames (§5.3) and SSE events (§4)
    STATUS = "status"
    DATA = "data"
    AUDIO = "audio"
    DONE = "done"
    ID = "id"
    WORD = "word"
    START = "start"
    END = "end"
    EXTERNAL_REQUEST_ID = "external_request_id"
    EXTERNAL_SESSION_ID = "external_session_id"
    # error shapes (§5.3, §8)
    MESSAGE = "message"
    ERROR = "error"
    CODE = "code"
    ERROR_CODE = "error_code"
    ERRORS = "errors"
    DETAILS = "details"
    DETAIL = "detail"
