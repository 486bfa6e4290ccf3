"""The server's reading of the TTS request body and its response frames.

Validation follows docs/protocol.md §2/§5.2/§12 field by field; every error names the field
and what is allowed, as ``{"error": "InvalidRequest", "message": ...}`` (HTTP 400) or an
error frame (WebSocket). Unknown fields are accepted and ignored (§5.2 best reading).

Hostile input is refused before it costs anything: :func:`loads_json` bounds nesting
(:data:`MAX_JSON_DEPTH`) and number literals (:data:`MAX_NUMBER_CHARS`), refuses
``NaN``/``Infinity`` and lone surrogates; types are strict (``sample_rate: 24000.0`` is not
an integer); no message quotes more than :data:`ECHO_CHARS` characters of user input.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from .catalog import LANGUAGES, MODELS, OUTPUT_FORMATS, SAMPLE_RATES

__all__ = [
    "ECHO_CHARS",
    "MAX_DICTS_PER_REQUEST",
    "MAX_JSON_DEPTH",
    "MAX_JSON_VALUES",
    "MAX_NUMBER_CHARS",
    "RequestError",
    "TTSRequest",
    "audio_frame",
    "audio_frames",
    "error_frame",
    "loads_json",
    "parse_request",
    "short",
]

_ID_RE = re.compile(r"^[a-zA-Z0-9_\-.]+$")
_SURROGATE = re.compile("[\ud800-\udfff]")

#: Deepest JSON nesting accepted (a TTS body needs 2, a dictionary upload 3).
MAX_JSON_DEPTH = 32
#: Most values (objects, arrays, strings, numbers, keys) in one parsed JSON document, so
#: checking a body never costs more than a bounded walk.
MAX_JSON_VALUES = 200_000
#: Longest JSON number literal accepted (digits, sign, point and exponent).
MAX_NUMBER_CHARS = 32
#: Most characters of a user-supplied value quoted back in an error.
ECHO_CHARS = 40
#: Most dictionary ids in one request's ``pronunciation_dicts``.
MAX_DICTS_PER_REQUEST = 16


class RequestError(Exception):
    """A request the server rejects: HTTP ``status`` with ``{error, message}``."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        error: str = "InvalidRequest",
        code: str = "INVALID_REQUEST",
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.error = error
        self.code = code


def short(value: Any) -> str:
    """``repr(value)`` cut to :data:`ECHO_CHARS` characters (errors never echo more)."""
    if isinstance(value, str) and len(value) > ECHO_CHARS:
        return f"{value[:ECHO_CHARS]!r}… ({len(value)} characters)"
    shown = repr(value)
    return shown if len(shown) <= ECHO_CHARS + 2 else shown[: ECHO_CHARS + 2] + "…"


def _number(literal: str) -> float | int:
    if len(literal) > MAX_NUMBER_CHARS:
        raise RequestError(f"Invalid JSON: a number has more than {MAX_NUMBER_CHARS} characters.")
    value = float(literal) if "." in literal or "e" in literal or "E" in literal else int(literal)
    if isinstance(value, float) and not math.isfinite(value):
        raise RequestError("Invalid JSON: a number is out of range.")
    return value


def _constant(name: str) -> Any:
    raise RequestError(f"Invalid JSON: {name} is not a JSON value.")


def _check_tree(value: Any) -> None:
    """Depth and Unicode checks over a parsed JSON value, iteratively (no recursion)."""
    stack: list[tuple[Any, int, str | None]] = [(value, 1, None)]
    seen = 0
    while stack:
        node, depth, field_name = stack.pop()
        seen += 1
        if seen > MAX_JSON_VALUES:
            raise RequestError(f"Invalid JSON: more than {MAX_JSON_VALUES} values.")
        if isinstance(node, str):
            if _SURROGATE.search(node):
                where = f"'{field_name}'" if field_name else "a string"
                raise RequestError(
                    f"Invalid {where}: contains a lone surrogate (\\ud800-\\udfff), "
                    "which is not valid Unicode text."
                )
            continue
        if isinstance(node, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise RequestError(f"Invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels.")
            if isinstance(node, dict):
                for key, item in node.items():
                    name = field_name or (key if len(key) <= ECHO_CHARS else None)
                    stack.append((key, depth + 1, field_name))
                    stack.append((item, depth + 1, name))
            else:
                stack.extend((item, depth + 1, field_name) for item in node)


def loads_json(raw: str | bytes) -> Any:
    """Parse a request body or frame, refusing hostile shapes with :class:`RequestError`.

    Raises:
        RequestError: not UTF-8 / not JSON, nested deeper than :data:`MAX_JSON_DEPTH`, a
            number literal over :data:`MAX_NUMBER_CHARS` characters, ``NaN``/``Infinity``,
            or a string with a lone surrogate. Never ``RecursionError``/``ValueError``.
    """
    try:
        text = raw.decode("utf-8") if isinstance(raw, bytes) else raw
    except UnicodeDecodeError:
        raise RequestError("Invalid JSON: the body is not UTF-8.") from None
    try:
        value = json.loads(text, parse_int=_number, parse_float=_number, parse_constant=_constant)
    except json.JSONDecodeError as exc:
        raise RequestError(f"Invalid JSON: {exc.msg}.", code="INVALID_JSON") from None
    except RecursionError:
        raise RequestError(f"Invalid JSON: nested deeper than {MAX_JSON_DEPTH} levels.") from None
    except ValueError:  # e.g. int() over the interpreter's digit limit
        raise RequestError("Invalid JSON: a number is out of range.") from None
    if not _plainly_within_limits(text):
        _check_tree(value)
    return value


def _plainly_within_limits(text: str) -> bool:
    """Whether the JSON ``text`` cannot break any limit :func:`_check_tree` checks, read
    off the text itself (a streaming server parses a frame per request: the walk over
    every parsed value was most of that cost).

    Each bound is conservative: a value takes at least one character, so no more
    values than characters; containers cannot nest deeper than there are ``{`` and
    ``[`` anywhere in the text; and a lone surrogate in a parsed string needs either a
    ``\\u`` escape or a surrogate in the text. When any bound fails the tree is walked.
    """
    return (
        len(text) <= MAX_JSON_VALUES
        and text.count("{") + text.count("[") <= MAX_JSON_DEPTH
        and "\\u" not in text
        and not _SURROGATE.search(text)
    )


@dataclass(slots=True)
class TTSRequest:
    """A validated TTS request (one HTTP body or one WebSocket frame)."""

    text: str
    voice_id: str
    model: str = "lightning_v3.1"
    sample_rate: int = 44100
    speed: float = 1.0
    language: str | None = None
    output_format: str = "pcm"
    word_timestamps: bool = False
    pronunciation_dicts: tuple[str, ...] = ()
    request_id: str | None = None
    session_id: str | None = None
    # WebSocket flush mode (§5.2)
    continue_: bool = False
    flush: bool = False
    max_buffer_flush_ms: int = 0
    complete_backoff_ms: float = 4000.0
    # continuations (§12)
    context_id: str | None = None
    max_buffer_delay_ms: int = 3000
    cancel_request: bool = False

    @property
    def client_id(self) -> str | None:
        """The id a client correlates on: its request id, else its context id."""
        return self.request_id or self.context_id


def _allowed(values: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in values)


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _bool(body: dict[str, Any], name: str, default: bool) -> bool:
    value = body.get(name, default)
    if value is None:
        return default
    if not isinstance(value, bool):
        raise RequestError(f"Invalid '{name}': {short(value)}. Must be true or false.")
    return value


def _int_range(body: dict[str, Any], name: str, default: float, lo: int, hi: int) -> float:
    value = body.get(name, default)
    if value is None:
        return default
    if not _is_number(value) or not lo <= value <= hi:
        raise RequestError(
            f"Invalid '{name}': {short(value)}. Must be a number between {lo} and {hi}."
        )
    return value


def _ident(body: dict[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value or len(value) > 128 or not _ID_RE.match(value):
        raise RequestError(
            f"Invalid '{name}': {short(value)}. Use 1-128 characters from "
            "letters, digits, '_', '-' and '.'."
        )
    return value


def _enum(body: dict[str, Any], name: str, allowed: tuple[Any, ...], default: Any) -> Any:
    value = body.get(name, default)
    if value is None:
        return default
    # Strict: 24000.0 is not the integer 24000, True is not 1.
    if isinstance(value, bool) or not any(type(value) is type(a) and value == a for a in allowed):
        raise RequestError(
            f"Invalid '{name}': {short(value)}. Allowed values: {_allowed(allowed)}."
        )
    return value


def parse_request(body: Any, *, max_text_chars: int, websocket: bool = False) -> TTSRequest:
    """Validate a TTS body; raise :class:`RequestError` naming the first bad field."""
    if not isinstance(body, dict):
        raise RequestError("Request body must be a JSON object.")
    for name in ("text", "voice_id"):
        if name not in body or body[name] is None:
            raise RequestError(f"The '{name}' field is required.")
        if not isinstance(body[name], str):
            raise RequestError(f"The '{name}' field must be a string.")
    text: str = body["text"]
    voice_id: str = body["voice_id"]
    if not voice_id.strip():
        raise RequestError("The 'voice_id' field must not be empty.")
    if len(text) > max_text_chars:
        raise RequestError(
            f"The 'text' field is too long: {len(text)} characters (maximum {max_text_chars})."
        )
    model = _enum(body, "model", MODELS, "lightning_v3.1")
    sample_rate = _enum(body, "sample_rate", SAMPLE_RATES, 44100)
    speed = body.get("speed", 1.0)
    if speed is None:
        speed = 1.0
    if not _is_number(speed) or not 0.5 <= speed <= 2.0:
        raise RequestError(
            f"Invalid 'speed': {short(speed)}. Must be a number between 0.5 and 2.0."
        )
    language = _enum(body, "language", LANGUAGES, None)
    _enum(body, "number_pronunciation_language", LANGUAGES, None)
    _bool(body, "math_notation", False)
    # §9.7: WS chunks are always PCM; output_format is an HTTP/SSE field, ignored on WS.
    output_format = "pcm" if websocket else _enum(body, "output_format", OUTPUT_FORMATS, "pcm")
    dicts = body.get("pronunciation_dicts") or []
    if (
        not isinstance(dicts, list)
        or len(dicts) > MAX_DICTS_PER_REQUEST
        or not all(isinstance(d, str) and 0 < len(d) <= 128 for d in dicts)
    ):
        raise RequestError(
            "Invalid 'pronunciation_dicts': must be a list of at most "
            f"{MAX_DICTS_PER_REQUEST} dictionary ids."
        )
    return TTSRequest(
        text=text,
        voice_id=voice_id,
        model=model,
        sample_rate=sample_rate,
        speed=float(speed),
        language=language,
        output_format=output_format,
        word_timestamps=_bool(body, "word_timestamps", False),
        pronunciation_dicts=tuple(dicts),
        request_id=_ident(body, "request_id"),
        session_id=_ident(body, "session_id"),
        continue_=_bool(body, "continue", False),
        flush=_bool(body, "flush", False),
        max_buffer_flush_ms=int(_int_range(body, "max_buffer_flush_ms", 0, 0, 1000)),
        complete_backoff_ms=float(_int_range(body, "complete_backoff_ms", 4000, 0, 10000)),
        context_id=_ident(body, "context_id"),
        max_buffer_delay_ms=int(_int_range(body, "max_buffer_delay_ms", 3000, 0, 5000)),
        cancel_request=_bool(body, "cancel_request", False),
    )


# -- server → client frames (§5.3) ---------------------------------------------------------
def ids(
    session_id: str,
    server_request_id: str | None,
    req: TTSRequest | None,
    *,
    echo_context_id: bool = True,
) -> dict[str, Any]:
    """The correlation fields every frame of a request carries (§5.3, §12).

    ``echo_context_id=False`` leaves ``context_id`` out (the ``-bare`` dialects).
    """
    out: dict[str, Any] = {"session_id": session_id}
    if server_request_id is not None:
        out["request_id"] = server_request_id
    if req is not None:
        if req.session_id:
            out["external_session_id"] = req.session_id
        if req.request_id:
            out["external_request_id"] = req.request_id
        if req.context_id and echo_context_id:
            out["context_id"] = req.context_id
    return out


def audio_frame(head: dict[str, Any], pcm: bytes) -> str:
    """A ``chunk`` frame: base64 PCM s16le mono in ``data.audio``."""
    return json.dumps(
        {**head, "status": "chunk", "data": {"audio": base64.b64encode(pcm).decode("ascii")}}
    )


def audio_frames(head: dict[str, Any]) -> Callable[[bytes | memoryview], str]:
    """:func:`audio_frame` for one ``head``, as a function of the PCM alone.

    Every chunk of a synthesis carries the same ids, so the JSON around the audio is
    encoded once; each chunk then costs its base64 and one concatenation, not a
    ``json.dumps`` that scans the whole base64 text for characters to escape (the
    base64 alphabet has none). The text is exactly :func:`audio_frame`'s.
    """
    template = json.dumps({**head, "status": "chunk", "data": {"audio": ""}})
    assert template.endswith('""}}'), template
    prefix, suffix = template[:-3], template[-3:]  # '... "audio": "' and '"}}'

    def frame(pcm: bytes | memoryview) -> str:
        return prefix + binascii.b2a_base64(pcm, newline=False).decode("ascii") + suffix

    return frame


def word_frame(head: dict[str, Any], index: int, word: str, start: float, end: float) -> str:
    """A ``word_timestamp`` frame (§5.3)."""
    data = {"id": index, "word": word, "start": round(start, 3), "end": round(end, 3)}
    return json.dumps({**head, "status": "word_timestamp", "data": data})


def complete_frame(head: dict[str, Any]) -> str:
    """The terminal ``complete`` frame: no data, message or done (§5.3)."""
    return json.dumps({**head, "status": "complete"})


def error_frame(head: dict[str, Any], message: str, code: str) -> str:
    """Both documented error shapes at once (§5.3 best reading)."""
    return json.dumps(
        {**head, "status": "error", "message": message, "error": {"code": code, "message": message}}
    )
