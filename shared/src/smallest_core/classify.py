"""Failures on the wire → the typed errors of :mod:`smallest_core.errors`, one table each.

What lives here: :func:`error_from_status` (an HTTP status, or a refused WebSocket
upgrade), :func:`error_from_frame` (a WebSocket error frame) and :func:`error_from_close`
(a WebSocket close), each driven by one table, most specific row first. What must not:
I/O, retry decisions, or unredacted server text (messages pass through :func:`redact`).
"""

from __future__ import annotations

import email.utils
import http
import json
import math
import re
import time
from collections.abc import Mapping
from typing import Any

from .errors import (
    MAX_MESSAGE_CHARS,
    AuthenticationError,
    ConnectionLostError,
    InvalidRequestError,
    ModelDeprecatedError,
    PermissionDeniedError,
    PlanNotEntitledError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SmallestError,
    _clip,
)
from .redact import redact
from .wire import Field, Header

__all__ = ["error_from_close", "error_from_frame", "error_from_status"]


# -- HTTP statuses (docs/protocol.md §8) ---------------------------------------------------------
# One table, most specific row first; the first row whose range holds the status wins.
_STATUS_TABLE: tuple[tuple[int, int, type[SmallestError]], ...] = (
    (401, 401, AuthenticationError),
    (403, 403, PermissionDeniedError),
    (408, 408, ServerError),  # request timeout: transient, retried like a 5xx (SDK does too)
    (410, 410, ModelDeprecatedError),
    (429, 429, RateLimitError),
    (400, 499, InvalidRequestError),  # 400, 404, 413, 422 (§8: treat 422 as 400), the rest
    (500, 599, ServerError),
)


def _status_class(status: int) -> type[SmallestError] | None:
    for lo, hi, cls in _STATUS_TABLE:
        if lo <= status <= hi:
            return cls
    return None


def _plan_gate(status: int, text: str) -> bool:
    """§8 best reading: a 400 naming upgrade+plan, or a 403 naming plan/upgrade/entitle."""
    low = text.lower()
    if status == 400:
        return "upgrade" in low and "plan" in low
    if status == 403:
        return any(word in low for word in ("plan", "upgrade", "entitle"))
    return False


def _header(headers: Mapping[str, str] | None, name: str) -> str | None:
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return value
    return None


def _retry_after(headers: Mapping[str, str] | None, now: float | None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP-date)."""
    raw_ms = _header(headers, Header.RETRY_AFTER_MS)
    if raw_ms is not None:
        try:
            ms = float(raw_ms)
        except ValueError:
            ms = math.nan
        if math.isfinite(ms):
            return max(0.0, ms / 1000)
    raw = _header(headers, Header.RETRY_AFTER)
    if raw is None:
        return None
    raw = raw.strip()
    try:
        seconds = float(raw)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(raw)
        except (TypeError, ValueError, IndexError):
            return None
        # The one clock read in the sans-I/O layer, and only for HTTP-date values; tests
        # pass ``now``.
        seconds = when.timestamp() - (time.time() if now is None else now)
    return max(0.0, seconds) if math.isfinite(seconds) else None


def _text_of(value: Any) -> str | None:
    if value is None or isinstance(value, dict | list):
        return None
    return str(value)


def _issues(items: Any) -> str | None:
    """Summarise an ``errors``/``details`` list (strings or zod-style ``{message, path}``)."""
    if not isinstance(items, list) or not items:
        return None
    parts: list[str] = []
    for item in items[:5]:
        if isinstance(item, Mapping):
            msg = _text_of(item.get("message")) or json.dumps(item, default=str)[:80]
            path = item.get("path")
            if isinstance(path, list) and path:
                msg = f"{'.'.join(str(p) for p in path)}: {msg}"
            parts.append(msg)
        else:
            parts.append(str(item))
    if len(items) > 5:
        parts.append(f"and {len(items) - 5} more")
    return "; ".join(parts)


def _describe(body: Mapping[str, Any]) -> tuple[str | None, str | None]:
    """The (message, code) of any error shape of docs/protocol.md §5.3/§8.

    Shapes: ``{error, message}`` (TTS), ``{error}`` alone (cloning), ``{error, details}``
    (dicts), ``{status: false, errors}`` (plan gate), ``{error_code, message}`` (410,
    cloning 500), nested ``{error: {code, message}}`` (WS), ``{detail}``.
    """
    error = body.get(Field.ERROR)
    message = _text_of(body.get(Field.MESSAGE))
    code = _text_of(body.get(Field.ERROR_CODE)) or _text_of(body.get(Field.CODE))
    if isinstance(error, Mapping):
        message = message or _text_of(error.get(Field.MESSAGE))
        code = code or _text_of(error.get(Field.CODE))
    elif isinstance(error, str) and error:
        if not message:
            message = error
        elif error != message:  # STT bodies repeat the message as ``error``: not a code
            code = code or error
    message = message or _text_of(body.get(Field.DETAIL))
    for key in (Field.ERRORS, Field.DETAILS):
        value = body.get(key)
        # a list of issues, or one string (STT legacy: ``errors: "Audio data too large"``)
        issues = value if isinstance(value, str) and value else _issues(value)
        if issues:
            message = f"{message} ({issues})" if message else issues
    return message, code


#: Request fields a server message may name (docs/protocol.md §2, §5.2, §12).
_REQUEST_FIELDS = frozenset(
    f.value
    for f in (
        Field.TEXT,
        Field.VOICE_ID,
        Field.MODEL,
        Field.SAMPLE_RATE,
        Field.SPEED,
        Field.LANGUAGE,
        Field.NUMBER_PRONUNCIATION_LANGUAGE,
        Field.MATH_NOTATION,
        Field.OUTPUT_FORMAT,
        Field.PRONUNCIATION_DICTS,
        Field.WORD_TIMESTAMPS,
        Field.REQUEST_ID,
        Field.CONTEXT_ID,
        Field.MAX_BUFFER_DELAY_MS,
        Field.MAX_BUFFER_FLUSH_MS,
        Field.COMPLETE_BACKOFF_MS,
    )
)
_QUOTED_NAME = re.compile(r"""['"`]([a-z_]+)['"`]""")


def _field_of(body: Mapping[str, Any] | None, message: str | None) -> str | None:
    """The request field an error names: a zod-style ``path`` first, else the first
    quoted request-field name in the message (``Invalid 'text': ...``)."""
    if body is not None:
        for key in (Field.ERRORS, Field.DETAILS):
            items = body.get(key)
            if isinstance(items, list):
                for item in items:
                    path = item.get("path") if isinstance(item, Mapping) else None
                    if isinstance(path, list) and path and str(path[0]) in _REQUEST_FIELDS:
                        return str(path[0])
    for match in _QUOTED_NAME.finditer(message or ""):
        if match.group(1) in _REQUEST_FIELDS:
            return match.group(1)
    return None


def _parse_body(
    body: bytes | bytearray | memoryview | str | None,
) -> tuple[Mapping[str, Any] | None, str]:
    if body is None:
        return None, ""
    if isinstance(body, bytes | bytearray | memoryview):
        text = bytes(body).decode("utf-8", "replace")  # a handshake body is a bytearray
    else:
        text = str(body)
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        return None, text
    return (data if isinstance(data, dict) else None), text


def error_from_status(
    status: int,
    body: bytes | bytearray | memoryview | str | None = None,
    headers: Mapping[str, str] | None = None,
    *,
    now: float | None = None,
) -> SmallestError:
    """Map a failed HTTP response (or a refused WebSocket upgrade) to a typed error.

    Args:
        status: the HTTP status code.
        body: the response body; JSON error shapes of docs/protocol.md §8 are understood,
            anything else is quoted (shortened, redacted).
        headers: response headers; ``retry-after-ms`` and ``Retry-After`` (seconds or
            HTTP-date) become ``retry_after``; ``X-Request-Id`` and
            ``X-External-Request-Id`` become ``server_request_id``/``request_id``.
        now: the current Unix time, used only for an HTTP-date ``Retry-After``
            (default: the wall clock).

    Returns:
        The most specific :class:`SmallestError` subclass for the status and body.
    """
    data, text = _parse_body(body)
    message, code = _describe(data) if data is not None else (None, None)
    if message is None and text.strip():
        message = text.strip()
    cls = _status_class(status)
    if cls is None:
        cls = ProtocolError
        message = f"unexpected HTTP status {status}" + (f": {message}" if message else "")
    if cls in (InvalidRequestError, PermissionDeniedError) and _plan_gate(status, text):
        cls = PlanNotEntitledError
    try:
        phrase = http.HTTPStatus(status).phrase
    except ValueError:
        phrase = "Error"
    head = f"HTTP {status} {code or phrase}"
    message = f"{head}: {_clip(message, MAX_MESSAGE_CHARS)}" if message else head
    return cls(
        message,
        status_code=status,
        code=code,
        request_id=_header(headers, Header.X_EXTERNAL_REQUEST_ID) or None,
        server_request_id=_header(headers, Header.X_REQUEST_ID) or None,
        body=text or None,
        retry_after=_retry_after(headers, now),
        field=_field_of(data, message),
    )


# -- WebSocket error frames (docs/protocol.md §5.3, §5.1, §5.4) ---------------------------------
# One table, in priority order. A row matches when the frame's code contains one of its
# code keys (codes are compared upper-case), else — in a second pass over the whole table —
# when the message contains one of its text keys (lower-case). Codes are checked first
# across every row so an explicit code always beats a word in the message.
_FRAME_TABLE: tuple[tuple[type[SmallestError], tuple[str, ...], tuple[str, ...]], ...] = (
    # §5.1: "Connection timed out after 60 seconds of inactivity"
    (RequestTimeoutError, ("TIMEOUT", "TIMED_OUT"), ("timed out", "inactivity", "idle timeout")),
    (ModelDeprecatedError, ("DEPRECATED",), ()),
    (
        AuthenticationError,
        ("UNAUTHORIZED", "UNAUTHENTICATED", "AUTHENTICATION", "INVALID_API_KEY"),
        ("unauthorized", "unauthenticated", "api key", "bearer", "authentication"),
    ),
    # §5.4: concurrency rejections arrive as frames (shape undocumented).
    (
        RateLimitError,
        ("RATE_LIMIT", "RATELIMIT", "CONCURRENCY", "TOO_MANY", "LIMIT_EXCEEDED", "THROTTL"),
        ("concurren", "rate limit", "rate-limit", "too many", "limit exceeded", "throttl"),
    ),
    (
        PlanNotEntitledError,
        ("PLAN", "ENTITLE"),
        ("not entitled", "entitlement", "upgrade your plan", "higher plan"),
    ),
    (
        PermissionDeniedError,
        ("FORBIDDEN", "PERMISSION"),
        ("forbidden", "permission", "not available for your organization"),
    ),
    # §8: invalid fields and unknown voices arrive as frames on WS.
    (
        InvalidRequestError,
        ("INVALID", "BAD_REQUEST", "VALIDATION", "UNSUPPORTED", "NOT_FOUND", "REQUIRED",
         "TOO_LONG", "CONTEXT_CLOSED", "NOT_ENABLED"),
        ("invalid", "unsupported", "not supported", "required", "must be", "not found",
         "voice", "too long", "is closed"),
    ),
)  # fmt: skip


def _frame_class(code: str | None, message: str | None) -> type[SmallestError]:
    # isdecimal + isascii: "¹" is a digit to str.isdigit() but not to int()
    if code and code.strip().isascii() and code.strip().isdecimal():
        by_status = _status_class(int(code))
        if by_status is not None:
            return by_status
    if code:
        upper = code.upper()
        for cls, code_keys, _ in _FRAME_TABLE:
            if any(key in upper for key in code_keys):
                return cls
    if message:
        lower = message.lower()
        for cls, _, text_keys in _FRAME_TABLE:
            if any(key in lower for key in text_keys):
                return cls
    return ServerError


def _frame_id(frame: Mapping[str, Any], *keys: str) -> str | None:
    for key in keys:
        value = frame.get(key)
        if isinstance(value, str) and value:
            return value
    return None


def error_from_frame(frame: Mapping[str, Any]) -> SmallestError:
    """Map a WebSocket ``{"status": "error", …}`` frame (or a legacy SSE error) to an error.

    Reads both documented shapes (§5.3, §9.5): flat ``message`` and nested
    ``error: {code, message}``. The request id is ``external_request_id``, else
    ``context_id`` (§12), else None — an id-less error concerns the whole connection.

    Returns:
        RequestTimeoutError for the idle timeout (``retry_after=0`` when it names no
        request: the socket timed out, a request caught by it goes elsewhere at once),
        RateLimitError for concurrency/rate limits,
        AuthenticationError/PermissionDeniedError for key problems, InvalidRequestError
        for invalid fields, voices or unsupported values, ServerError otherwise.
    """
    if not isinstance(frame, Mapping):
        return ProtocolError(f"error frame is not an object: {_clip(repr(frame), 200)}")
    message, code = _describe(frame)
    cls = _frame_class(code, message)
    text = _clip(message or "error frame without a message", MAX_MESSAGE_CHARS)
    try:
        body = json.dumps(frame, default=str, separators=(",", ":"))
    except (TypeError, ValueError, RecursionError):
        body = repr(frame)
    request_id = _frame_id(frame, Field.EXTERNAL_REQUEST_ID, Field.CONTEXT_ID)
    return cls(
        f"{code}: {text}" if code else text,
        code=code,
        request_id=request_id,
        server_request_id=_frame_id(frame, Field.REQUEST_ID),
        body=body,
        # the socket's idle timeout (§5.1), not a request's: nothing to back off from
        retry_after=0.0 if cls is RequestTimeoutError and request_id is None else None,
        field=_field_of(frame, message),
    )


# -- WebSocket close codes (docs/protocol.md §5.4: undocumented for TTS; analogues) --------------
_CLOSE_TABLE: dict[int, type[SmallestError]] = {
    1000: ConnectionLostError,  # normal (Hydra: normal/idle); benign after complete (§9.1)
    1001: ConnectionLostError,  # going away
    1008: RateLimitError,  # STT WS: concurrency limit
    1009: InvalidRequestError,  # message too big: resending the same frame fails again
    1013: ServerError,  # Hydra: server full, try again later
    4001: AuthenticationError,
    4401: AuthenticationError,
    4003: PermissionDeniedError,
    4403: PermissionDeniedError,
    4029: RateLimitError,
    4429: RateLimitError,
}
#: closes the server makes on purpose (idle timeout, after complete, going away):
#: a request caught by one is retried at once, with nothing to back off from
_ON_PURPOSE = frozenset((1000, 1001))


def error_from_close(code: int | None, reason: str = "") -> SmallestError:
    """Map a WebSocket close to the error every unfinished utterance on it receives.

    Args:
        code: the close code, or None when the socket dropped without a close frame.
        reason: the close reason (redacted before use).

    Returns:
        The class from the close table (1008 → RateLimitError, 1013 → ServerError,
        1009 → InvalidRequestError, 4001/4003 → auth/permission); ConnectionLostError for
        1000/1001, a missing code and anything else. A 1000/1001 close carries
        ``retry_after=0``: the server closed the socket on purpose (its idle timeout,
        after a ``complete``, going away), not under strain, so a request caught by it
        is retried on another socket at once instead of after a backoff.
    """
    reason = _clip(redact(reason or ""), 123)
    if code is None:
        text = "WebSocket dropped without a close frame"
        cls: type[SmallestError] = ConnectionLostError
    else:
        text = f"WebSocket closed with code {code}"
        cls = _CLOSE_TABLE.get(code, ConnectionLostError)
    if reason:
        text = f"{text}: {reason}"
    return cls(
        text,
        code=f"ws_close_{code}" if code is not None else None,
        retry_after=0.0 if code in _ON_PURPOSE else None,
    )
