"""Frames ↔ events: every wire literal of the Waves TTS API, the request builders and the parsers.

What lives here: the builders for the sync/SSE body and every WebSocket frame (flush mode §5.2,
continuations §12), :func:`parse_frame` for server frames (§5.3) and :class:`SSEDecoder`
for the SSE stream (§4). What must not: state (which utterance is open, what was
cancelled — that is :mod:`smallest_core.protocol`), sockets, clocks, wire names (each
defined once in :mod:`smallest_core.wire`, re-exported here for the builders' callers) or
error classification (:mod:`smallest_core.classify`).

Parsing never crashes: anything unexpected becomes a :class:`ProtocolError` whose message
quotes the frame shortened to 200 characters and redacted.
"""

from __future__ import annotations

import binascii
import json
import json.scanner
import math
import os
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from .classify import error_from_frame, error_from_status
from .errors import ConnectionLostError, InvalidOptionError, ProtocolError, SmallestError
from .events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from .options import TTSOptions, validate_request_id
from .redact import redact
from .wire import (
    ALL_VOICES_PATH,
    API_PREFIX,
    BASE_URL_ENV,
    CLONE_PATH,
    DEFAULT_HTTP_BASE,
    DEFAULT_WS_BASE,
    DICTS_PATH,
    LIVE_PATH,
    SSE_PATH,
    TIMEOUT_QUERY,
    TTS_PATH,
    VOICES_PATH,
    WS_PATH,
    Field,
    Header,
    MediaType,
    Status,
)

__all__ = [
    "ALL_VOICES_PATH",
    "API_PREFIX",
    "CLONE_PATH",
    "DEFAULT_HTTP_BASE",
    "DEFAULT_WS_BASE",
    "DICTS_PATH",
    "LIVE_PATH",
    "SSE_PATH",
    "TTS_PATH",
    "VOICES_PATH",
    "WS_PATH",
    "Field",
    "Header",
    "MediaType",
    "SSEDecoder",
    "Status",
    "authorization",
    "ctx_cancel",
    "ctx_flush",
    "ctx_text",
    "http_base",
    "parse_frame",
    "resolve_base_url",
    "sync_body",
    "voices_path",
    "ws_flush",
    "ws_text",
    "ws_url",
]


def authorization(api_key: str) -> str:
    """The ``Authorization`` header value (§1); build it here, once."""
    return f"Bearer {api_key}"


def voices_path(model: str) -> str:
    """``/waves/v1/{model}/get_voices``; ``model`` in catalog spelling (see ``catalog_model``)."""
    return VOICES_PATH.format(model=model)


def resolve_base_url(base: str | None) -> str:
    """``base``, else ``$SMALLEST_BASE_URL``, else the real service (one URL for REST and
    streaming: http(s) or ws(s), each transport takes the scheme it needs)."""
    return base or os.environ.get(BASE_URL_ENV) or DEFAULT_HTTP_BASE


def http_base(base: str) -> str:
    """The REST base URL for ``base``: ``ws(s)://`` becomes ``http(s)://``, no trailing ``/``.

    Raises:
        InvalidOptionError: not an http(s)/ws(s) URL with a host.
    """
    parts = urlsplit(base)
    scheme = {"wss": "https", "ws": "http"}.get(parts.scheme, parts.scheme)
    if scheme not in ("http", "https") or not parts.netloc:
        raise InvalidOptionError("base_url", base, "http://, https://, ws:// or wss:// URLs")
    path = parts.path.rstrip("/")
    # The API's own paths are added per call: a base that already names the API
    # (``…/waves/v1``, as the official LiveKit plugin spells it) or the live URL is
    # taken back to its root, as ws_url() takes either.
    for suffix in (LIVE_PATH, API_PREFIX):
        if path.endswith(suffix):
            path = path[: -len(suffix)]
            break
    return urlunsplit((scheme, parts.netloc, path, parts.query, ""))


def ws_url(base: str = DEFAULT_WS_BASE, timeout_s: int | None = None) -> str:
    """The WebSocket URL ``…/waves/v1/tts/live[?timeout=N]`` for a base URL.

    ``base`` may be a bare host (``wss://api.smallest.ai``), end in ``/waves/v1``, or
    already be the full live URL; ``http(s)://`` is turned into ``ws(s)://`` so one base
    serves REST and streaming. ``timeout_s`` is the server's idle timeout (§5.1: any
    positive integer, default 60).

    Raises:
        InvalidOptionError: an unsupported scheme or a non-positive ``timeout_s``.
    """
    parts = urlsplit(base)
    scheme = {"https": "wss", "http": "ws"}.get(parts.scheme, parts.scheme)
    if scheme not in ("ws", "wss") or not parts.netloc:
        raise InvalidOptionError("base_url", base, "ws://, wss://, http:// or https:// URLs")
    path = parts.path.rstrip("/")
    if not path.endswith(LIVE_PATH):
        path += LIVE_PATH[len(API_PREFIX) :] if path.endswith(API_PREFIX) else LIVE_PATH
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != TIMEOUT_QUERY]
    if timeout_s is not None:
        if isinstance(timeout_s, bool) or not isinstance(timeout_s, int) or timeout_s < 1:
            raise InvalidOptionError("timeout", timeout_s, "a positive integer (seconds)")
        query.append((TIMEOUT_QUERY, str(timeout_s)))
    return urlunsplit((scheme, parts.netloc, path, urlencode(query), ""))


# -- request builders ---------------------------------------------------------------------
def _dumps(payload: dict[str, Any]) -> str:
    # ensure_ascii: a lone surrogate in user text becomes an escape instead of a frame
    # that cannot be encoded as UTF-8 at send time.
    return _encode_json(payload)


#: ``json.dumps(payload, separators=(",", ":"))``'s encoder, built once (dumps builds
#: a fresh JSONEncoder per call whenever an argument is given): every frame we send.
_encode_json = json.JSONEncoder(separators=(",", ":")).encode


def _base(opts: TTSOptions, text: str) -> dict[str, Any]:
    """Fields of §2 shared by every transport; None-valued options are omitted."""
    body: dict[str, Any] = {
        Field.VOICE_ID: opts.voice_id,
        Field.MODEL: opts.model,
        Field.TEXT: text,
        Field.SAMPLE_RATE: opts.sample_rate,
        Field.SPEED: opts.speed,
    }
    optional = (
        (Field.LANGUAGE, opts.language),
        (Field.NUMBER_PRONUNCIATION_LANGUAGE, opts.number_pronunciation_language),
        (Field.MATH_NOTATION, opts.math_notation),
        (Field.SESSION_ID, opts.session_id),
    )
    body.update((name, value) for name, value in optional if value is not None)
    if opts.pronunciation_dicts:
        # §9.8: accepted on every transport, though missing from the WS spec.
        body[Field.PRONUNCIATION_DICTS] = list(opts.pronunciation_dicts)
    return body


def _ws_base(opts: TTSOptions, text: str) -> dict[str, Any]:
    """The full base payload every WebSocket frame repeats (§5.2: voice_id and text are
    required on every frame); ``output_format`` is never sent on WS (§9.7)."""
    body = _base(opts, text)
    body[Field.WORD_TIMESTAMPS] = opts.word_timestamps
    # §5.4: without it the server waits 4 s of quiet before ``complete``.
    body[Field.COMPLETE_BACKOFF_MS] = opts.complete_backoff_ms
    return body


def sync_body(opts: TTSOptions, text: str, *, request_id: str | None = None) -> dict[str, Any]:
    """The JSON body of ``POST /tts`` (§3) and ``POST /tts/live`` (SSE, §4).

    Includes ``output_format``; never a WebSocket-only field (``continue``, ``flush``,
    buffering knobs, ``word_timestamps`` — the last is ignored on HTTP anyway).

    Raises:
        InvalidOptionError: ``request_id`` breaks the §2 pattern.
    """
    body = _base(opts, text)
    body[Field.OUTPUT_FORMAT] = opts.output_format
    if request_id is not None:
        body[Field.REQUEST_ID] = validate_request_id(request_id)
    return body


def ws_text(
    opts: TTSOptions, request_id: str, text: str, *, last: bool, flush: bool = False
) -> str:
    """A flush-mode text frame (§5.2): ``continue`` unless ``last``; ``flush`` when ``last``
    (or when ``flush``: this text and everything buffered is spoken now, more may follow).

    The closing frame of an utterance is ``ws_text(..., last=True)`` — with ``text=""``
    after streamed fragments, or with the full text for a one-shot request.
    """
    body = _ws_base(opts, text)
    body[Field.REQUEST_ID] = validate_request_id(request_id)
    body[Field.CONTINUE] = not last
    body[Field.FLUSH] = last or flush
    if opts.max_buffer_flush_ms is not None:
        body[Field.MAX_BUFFER_FLUSH_MS] = opts.max_buffer_flush_ms
    return _dumps(body)


def ws_flush(opts: TTSOptions, request_id: str) -> str:
    """A flush-mode flush frame: speak what is buffered now, more text will follow (§5.2)."""
    body = _ws_base(opts, "")
    body[Field.REQUEST_ID] = validate_request_id(request_id)
    body[Field.CONTINUE] = True
    body[Field.FLUSH] = True
    if opts.max_buffer_flush_ms is not None:
        body[Field.MAX_BUFFER_FLUSH_MS] = opts.max_buffer_flush_ms
    return _dumps(body)


def _ctx_base(opts: TTSOptions, context_id: str, text: str) -> dict[str, Any]:
    body = _ws_base(opts, text)
    # §12 best reading: request_id = context_id, so replies route by external_request_id.
    body[Field.CONTEXT_ID] = validate_request_id(context_id, field="context_id")
    body[Field.REQUEST_ID] = context_id
    if opts.max_buffer_delay_ms is not None:
        body[Field.MAX_BUFFER_DELAY_MS] = opts.max_buffer_delay_ms
    return body


def ctx_text(
    opts: TTSOptions, context_id: str, text: str, *, last: bool, flush: bool = False
) -> str:
    """A continuations fragment (§12): ``continue`` unless ``last`` closes the context.

    No ``max_buffer_flush_ms``, and ``flush`` only when asked for (the official clients
    send neither in this mode): ``flush`` is :func:`ctx_flush` carried on the fragment.
    """
    body = _ctx_base(opts, context_id, text)
    body[Field.CONTINUE] = not last
    if flush and not last:
        body[Field.FLUSH] = True
    if last:
        # §5.4: the backoff is for a client that may still send more; the closing
        # fragment says it will not, so the context's complete need not wait.
        body[Field.COMPLETE_BACKOFF_MS] = 0
    return _dumps(body)


def ctx_flush(opts: TTSOptions, context_id: str) -> str:
    """A continuations flush: speak the context's buffered text now, keep it open (§12).

    Not sent by the official clients (they rely on ``max_buffer_delay_ms``); the local
    server honours it, and ``flush`` is a documented §5.2 field.
    """
    body = _ctx_base(opts, context_id, "")
    body[Field.CONTINUE] = True
    body[Field.FLUSH] = True
    return _dumps(body)


def ctx_cancel(opts: TTSOptions, context_id: str) -> str:
    """Drop what is buffered or being generated for a context (§12 ``cancel_request``)."""
    body = _ctx_base(opts, context_id, "")
    body[Field.CANCEL_REQUEST] = True
    return _dumps(body)


# -- parsing ------------------------------------------------------------------------------
#: The longest excerpt of a bad frame quoted in a ProtocolError.
MAX_QUOTE_CHARS = 200


def _quote(raw: str | bytes) -> str:
    if isinstance(raw, bytes | bytearray):
        raw = bytes(raw).decode("utf-8", "replace")
    text = redact(str(raw))  # redact first: a key cut in half would escape the patterns
    return text if len(text) <= MAX_QUOTE_CHARS else text[: MAX_QUOTE_CHARS - 1] + "…"


def _bad(raw: str | bytes, reason: str) -> ProtocolError:
    quoted = _quote(raw)
    return ProtocolError(f"unparseable frame ({reason}): {quoted}", body=quoted)


def _our_id(frame: dict[str, Any], raw: str) -> str | None:
    """§5.3/§12: our id is ``external_request_id``, else ``context_id``, else None."""
    for name in _OUR_IDS:
        value = frame.get(name)
        if value is None or value == "":
            continue
        if not isinstance(value, str):
            raise _bad(raw, f"{name} is not a string")
        return value
    return None


def _b64(value: Any, raw: str) -> bytes:
    """Decode strict base64: only the alphabet, correct padding, nothing after it.

    Every audio chunk passes here, so the check costs no pass of its own: the lenient
    decoder (a third cheaper than ``strict_mode=True`` on CPython 3.11) skips what is
    not base64 and stops at the first complete padding, so its output has exactly
    ``3 * len / 4 - padding`` bytes only when every character was decoded — any
    character skipped or left unread makes it shorter. Anything else takes the strict
    decoder, which raises (or, were the length rule ever wrong, decodes it the same).
    """
    if not isinstance(value, str):
        raise _bad(raw, "audio is not a base64 string")
    size = len(value)
    try:
        if not size & 3:
            pcm = binascii.a2b_base64(value)
            if len(pcm) == (size >> 2) * 3 - _padding(value):
                return pcm
        return binascii.a2b_base64(value, strict_mode=True)
    except ValueError:  # binascii.Error, and non-ASCII text
        raise _bad(raw, "audio is not valid base64") from None


def _padding(value: str) -> int:
    """How many ``=`` end ``value`` (at most 2 count: base64 pads with 0, 1 or 2)."""
    if value.endswith("=="):
        return 2
    return 1 if value.endswith("=") else 0


def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


# The hot path (every audio chunk) reads plain strings: an enum member lookup costs more
# than the dict lookup it feeds. Values still come from the one definition in wire.py.
_STATUS, _DATA, _AUDIO = Field.STATUS.value, Field.DATA.value, Field.AUDIO.value
_SERVER_ID = Field.REQUEST_ID.value
_OUR_IDS = (Field.EXTERNAL_REQUEST_ID.value, Field.CONTEXT_ID.value)
_CHUNK, _WORD = Status.CHUNK.value, Status.WORD_TIMESTAMP.value
_COMPLETE, _ERROR = Status.COMPLETE.value, Status.ERROR.value
_decoder = json.JSONDecoder()
_decode_json = _decoder.decode
#: The C scanner under ``decode``: a server frame (one object, no whitespace around it)
#: is parsed in one call, without ``decode``'s two Python frames and whitespace regexes.
#: A reply's first chunk runs this cold, after the wait for the server: there each
#: Python frame is a visible part of the time to first audio.
_scan_json: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    _decoder  # type: ignore[arg-type]  # typeshed wants a scanner as the context
)


def parse_frame(text: str) -> Event:
    """Parse one WebSocket server frame (§5.3) into an event.

    The event's ``request_id`` is the frame's ``external_request_id``, else its
    ``context_id``, else None. ``complete`` is detected by ``status`` alone (it carries
    no ``data``); error frames are classified by :func:`error_from_frame`.

    Raises:
        ProtocolError: not JSON, not an object, unknown ``status``, missing or invalid
            fields, bad base64 — and never anything else.
    """
    try:
        frame, stop = _scan_json(text, 0)
    except (StopIteration, ValueError, TypeError, RecursionError):
        stop = -1
    if stop != len(text):  # whitespace around it, or not JSON: the full decoder decides
        try:
            frame = _decode_json(text)
        except (ValueError, TypeError, RecursionError):
            raise _bad(text, "not JSON") from None
    if type(frame) is not dict:
        raise _bad(text, "not a JSON object")
    rid = _our_id(frame, text)
    server_rid = frame.get(_SERVER_ID)
    if not isinstance(server_rid, str) or not server_rid:
        server_rid = None
    status = frame.get(_STATUS)
    if status == _CHUNK:
        data = frame.get(_DATA)
        if type(data) is not dict:
            raise _bad(text, f"{status} frame without a data object")
        return AudioChunk(rid, _b64(data.get(_AUDIO), text), server_rid)
    if status == _COMPLETE:
        return Complete(rid, server_rid)
    if status == _ERROR:
        return ErrorEvent(rid, error_from_frame(frame))
    if status != _WORD:
        raise _bad(text, f"unknown status {_quote(repr(status))[:40]}")
    data = frame.get(_DATA)
    if type(data) is not dict:
        raise _bad(text, f"{status} frame without a data object")
    index, word = data.get(Field.ID), data.get(Field.WORD)
    start, end = data.get(Field.START), data.get(Field.END)
    if isinstance(index, bool) or not isinstance(index, int) or index < 0:
        raise _bad(text, "word_timestamp id is not a non-negative integer")
    if not isinstance(word, str):
        raise _bad(text, "word_timestamp word is not a string")
    if not (_finite(start) and _finite(end)):
        raise _bad(text, "word_timestamp start/end are not finite numbers")
    assert start is not None and end is not None
    return WordTimestamp(rid, index, word, float(start), float(end), server_rid)


# -- SSE (§4) -----------------------------------------------------------------------------
_LINE_END = re.compile(rb"\r\n|\r|\n")


class SSEDecoder:
    """Incremental decoder for the ``POST /waves/v1/tts/live`` event stream (§4).

    Feed it the response bytes as they arrive, in pieces of any size; it yields
    :class:`AudioChunk` for every ``audio`` and one :class:`Complete` on ``done: true``.
    Keys on ``done`` (§9.12), never on the ``event:`` name; tolerates the older
    ``{"audio": …}`` / ``{"done": true}`` shapes, CRLF/CR/LF line ends and ``:``
    comments. A legacy ``{"status": "error", …}`` event (or an HTTP-like status ≥ 400)
    becomes an :class:`ErrorEvent`. After ``done`` or an error, later input is ignored.

    Args:
        request_id: the id every event carries (the stream itself carries none).
        server_request_id: the response's ``X-Request-Id``, copied onto audio chunks.
    """

    def __init__(self, request_id: str | None = None, *, server_request_id: str | None = None):
        self.request_id = request_id
        self.server_request_id = server_request_id
        self._buf = bytearray()
        self._data: list[str] = []
        self._finished = False

    @property
    def finished(self) -> bool:
        """True after ``done``, an error event, or :meth:`close`."""
        return self._finished

    def feed(self, data: bytes) -> list[Event]:
        """Decode ``data`` (any slice of the stream) into the events it completes."""
        if self._finished:
            return []
        self._buf += data
        events: list[Event] = []
        pos = 0
        while not self._finished:
            match = _LINE_END.search(self._buf, pos)
            if match is None:
                break
            if match.group() == b"\r" and match.end() == len(self._buf):
                break  # maybe the first half of a CRLF split across feeds
            events += self._line(bytes(self._buf[pos : match.start()]))
            pos = match.end()
        del self._buf[:pos]
        return events

    def close(self) -> list[Event]:
        """End of stream: flush a final unterminated event; report a missing ``done``.

        Returns:
            Remaining events; an :class:`ErrorEvent` with :class:`ConnectionLostError`
            when the stream ended before ``done: true``.
        """
        if self._finished:
            return []
        events: list[Event] = []
        if self._buf:
            # EOF ends the last line; a CR that feed() held back pairs with this LF.
            events += self.feed(b"\n")
        self._buf.clear()
        if not self._finished:
            events += self._dispatch()  # tolerate a missing final blank line
        if not self._finished:
            events.append(
                ErrorEvent(
                    self.request_id,
                    ConnectionLostError(
                        "SSE stream ended before done: true", request_id=self.request_id
                    ),
                )
            )
        self._finished = True
        return events

    def _line(self, raw: bytes) -> list[Event]:
        line = raw.decode("utf-8", "replace")
        if not line:
            return self._dispatch()
        if line.startswith(":"):
            return []  # comment
        name, _, value = line.partition(":")
        if name == Field.DATA:
            self._data.append(value[1:] if value.startswith(" ") else value)
        return []  # ``event:``, ``id:``, ``retry:`` and unknown fields are ignored

    def _fail(self, error: SmallestError) -> list[Event]:
        self._finished = True
        if error.request_id is None:
            error.request_id = self.request_id
        return [ErrorEvent(self.request_id, error)]

    def _dispatch(self) -> list[Event]:
        if not self._data:
            return []
        payload = "\n".join(self._data)
        self._data = []
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            return self._fail(_bad(payload, "SSE data is not JSON"))
        if not isinstance(event, dict):
            return self._fail(_bad(payload, "SSE data is not a JSON object"))
        status = event.get(Field.STATUS)
        if status == Status.ERROR:
            return self._fail(error_from_frame(event))
        if (
            isinstance(status, str)
            and status.isascii()
            and status.isdecimal()
            and int(status) >= 400
        ):
            return self._fail(error_from_status(int(status), payload))
        audio = event.get(Field.AUDIO)
        nested = event.get(Field.DATA)
        if audio is None and isinstance(nested, dict):
            audio = nested.get(Field.AUDIO)  # tolerate a WS-style envelope
        out: list[Event] = []
        if audio is not None:
            try:
                pcm = _b64(audio, payload)
            except ProtocolError as exc:
                return self._fail(exc)
            out.append(AudioChunk(self.request_id, pcm, self.server_request_id))
        if event.get(Field.DONE) is True:
            out.append(Complete(self.request_id))
            self._finished = True
        elif audio is None and event.get(Field.ERROR) is not None:
            return self._fail(error_from_frame(event))
        return out
