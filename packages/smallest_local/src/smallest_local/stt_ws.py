"""The Pulse STT WebSocket: ``/waves/v1/stt/live`` and the legacy ``/waves/v1/pulse/get_text``.

One :class:`SttSession` per socket (STT.md §3). Before the upgrade: Bearer auth (the app
middleware), scripted upgrade refusals, and the query string validated field by field
(a 400 naming the field). After it: binary frames are audio in the declared encoding,
decoded and fed to the server's recognizer through a :class:`~.stt.Segmenter`; text
frames are the controls ``finalize``, ``close_stream`` (also ``{"flag":"END"}``) and
``keepalive``; unknown or malformed text frames are logged and ignored (§7.15). Every
answer follows the session's :class:`~.config.SttDialect`.

Bounded under abuse: frames over ``max_frame_bytes`` close the socket (1009); audio
faster than the rate limit, longer than ``stt_max_session_s``, or bytes that are a
container file rather than the declared encoding get an error frame and a close
(1008 / 1003) — never a 500 or a silent drop; a client that stops reading is dropped
after ``write_timeout_s``; an idle socket gets an ``IDLE_TIMEOUT`` error frame and is
closed. Each session holds one unit of the key's concurrency limit for its lifetime;
over the limit the socket gets an error frame and close 1008 (§2).

The socket is read all the time, by a task of its own, and frames wait in order for the
recognizer: aiohttp answers a client's pings only while a ``receive`` is pending, and a
final being decoded takes seconds (more on a loaded machine, or while the decoder process
starts). Read only between frames, the server looked frozen to every client keepalive
meanwhile (the core gives up after 5 s without a pong). The reader stops reading while
:data:`INBOX_BYTES` of audio wait, so a client that floods still meets TCP backpressure.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from typing import Any

from aiohttp import WSMessage, WSMsgType, web

from .config import STT_DIALECTS, SttDialect
from .faults import CONNECTION_KINDS, SYNTHESIS_KINDS, Fault, FaultKind
from .state import STATE, ServerState
from .stt import (
    AudioDecoder,
    AudioError,
    Segmenter,
    SttEvent,
    SttOptions,
    error_payload,
    event_frame,
    parse_options,
)
from .tts_http import reset_connection
from .wire import RequestError, short

__all__ = ["LEGACY_PATH", "LIVE_PATH", "SttSession", "add_routes"]

logger = logging.getLogger("smallest_local")

LIVE_PATH = "/waves/v1/stt/live"
LEGACY_PATH = "/waves/v1/pulse/get_text"
#: The query parameter choosing a dialect for one connection (the real service ignores it).
DIALECT_PARAM = "smallest_local_dialect"
#: Close codes: org concurrency / policy (§2), unsupported data, abnormal server error.
CLOSE_POLICY = 1008
CLOSE_UNSUPPORTED = 1003
CLOSE_ERROR = 1011
#: Longest wait for a close handshake before the TCP connection is reset.
CLOSE_GRACE_S = 1.0
#: D22: how long the ``client-closes`` dialect waits for the client after ``is_last``.
CLIENT_CLOSE_WAIT_S = 5.0
#: Received frames waiting for the recognizer, in bytes, beyond which the reader pauses
#: (about 2 min of 16 kHz PCM).
INBOX_BYTES = 4 * 1024 * 1024
#: What the reader queues when the socket idled out (no frame, pings included, for the
#: idle timeout: STT.md D2, any frame resets the timer).
_IDLE = None
_DATA = (WSMsgType.BINARY, WSMsgType.TEXT)


class _SessionOver(Exception):
    """The socket is gone or closing; stop serving it."""


class SttSession:
    """One STT WebSocket connection: audio in, transcript events out."""

    def __init__(
        self,
        state: ServerState,
        ws: web.WebSocketResponse,
        request: web.Request,
        options: SttOptions,
        dialect: SttDialect,
        *,
        idle_timeout: float,
    ) -> None:
        self.state = state
        self.ws = ws
        self.http_request = request
        self.options = options
        self.dialect = dialect
        self.idle_timeout = idle_timeout
        self.session_id = str(uuid.uuid4())
        self.config = state.config
        self.recognizer = state.recognizer
        self.decoder = AudioDecoder(options.encoding, options.sample_rate)
        self.segmenter: Segmenter | None = None
        self.audio_frames = 0
        self._first_audio_at: float | None = None
        self._finals_text: list[str] = []
        self._faults: list[Fault] = []
        self._stalled_until: float | None = None  # monotonic; inf = for good
        self._held: list[str] = []
        self._closed_stream = False
        #: the recognizer call running in a worker thread, if any (see ``_engine``)
        self._in_flight: asyncio.Future[Any] | None = None
        self._opening = False  # that call opens the stream
        #: frames read and not yet handled, each with its arrival time (see the module
        #: docstring); ``_IDLE`` when the socket idled out
        self._inbox: asyncio.Queue[tuple[WSMessage, float] | None] = asyncio.Queue()
        self._inbox_bytes = 0
        self._room = asyncio.Event()  # set while the inbox is under INBOX_BYTES
        self._room.set()
        self._reader: asyncio.Task[None] | None = None

    # -- sending ----------------------------------------------------------------------
    async def _send_json(self, payload: dict[str, Any], *, fault_exempt: bool = False) -> None:
        text = json.dumps(payload)
        if not fault_exempt and self._stalled_until is not None:
            if time.monotonic() < self._stalled_until:
                self._held.append(text)
                return
            await self._release_held()
        await self._send_raw(text)

    async def _release_held(self) -> None:
        """A stall is over: what it held back goes out, in order."""
        self._stalled_until = None
        held, self._held = self._held, []
        for frame in held:
            await self._send_raw(frame)

    async def _send_raw(self, text: str) -> None:
        if self.ws.closed:
            raise _SessionOver
        try:
            async with asyncio.timeout(self.config.write_timeout_s):
                await self.ws.send_str(text)
        except TimeoutError:
            self.state.stats.slow_clients_dropped += 1
            reset_connection(self.http_request)
            raise _SessionOver from None
        except (ConnectionError, RuntimeError) as exc:
            raise _SessionOver from exc
        self.state.stats.frames_sent += 1

    async def _send_events(self, events: list[SttEvent]) -> None:
        for event in events:
            if event.kind == "final":
                self.state.stats.stt_finals += 1
                text = " ".join(w.word for w in event.words)
                if text:
                    self._finals_text.append(text)
            payload = event_frame(
                event,
                session_id=self.session_id,
                options=self.options,
                dialect=self.dialect,
                full_text=" ".join(self._finals_text),
            )
            await self._send_json(payload)

    async def send_error(
        self, message: str, code: str, *, shape: str | None = None, close: int | None = None
    ) -> None:
        """An error frame (the dialect's shape unless given), then a close if ``close``."""
        payload = error_payload(shape or self.dialect.error_shape, message, code, self.session_id)
        with contextlib.suppress(_SessionOver):
            await self._send_json(payload, fault_exempt=True)
        if close is not None:
            await self._close(close, code.encode()[:120])

    async def _close(self, code: int, message: bytes = b"") -> None:
        # The reader stops first: aiohttp closes a socket whose ``receive`` is pending
        # in another task by dropping the connection at once, and the client's audio
        # still unread would turn that into a reset that loses the frames sent before.
        # With no reader, ``close`` waits for the client's close frame, reading past it.
        await self._stop_reading()
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            reset_connection(self.http_request)
        raise _SessionOver

    # -- the engine -------------------------------------------------------------------
    async def _engine(self, fn: Any, *args: Any) -> Any:
        """Run a segmenter call, in a worker thread when the recognizer is CPU-heavy.

        The thread's future is shielded and remembered: when the client leaves, aiohttp
        cancels this session's handler, but a thread cannot be stopped, so
        :meth:`_settle` lets the call finish before the stream is closed. One stream is
        never in two threads, and its decoder goes back to the pool only when idle.
        (The executor's future itself, not a task around it: this runs per audio frame.)
        """
        if not self.recognizer.blocking:
            return fn(*args)
        call = self._in_flight = asyncio.get_running_loop().run_in_executor(None, fn, *args)
        return await asyncio.shield(call)

    async def _settle(self) -> None:
        """Wait out a recognizer call still running in its thread (see :meth:`_engine`);
        a stream it opened unseen becomes the session's, so it is closed too."""
        call, self._in_flight = self._in_flight, None
        if call is None:
            return
        try:
            result = await call
        except Exception:  # its caller is gone; the stream is closed next either way
            return
        if self.segmenter is None and self._opening:
            self.segmenter = Segmenter(result, self.options)

    async def _open_segmenter(self) -> Segmenter:
        if self.segmenter is None:
            self._opening = True
            stream = await self._engine(
                self.recognizer.open, self.options.sample_rate, self.options.language
            )
            self._opening = False
            self.segmenter = Segmenter(stream, self.options)
        return self.segmenter

    # -- the session ------------------------------------------------------------------
    async def run(self) -> None:
        """Serve the socket until the client leaves, ``close_stream`` ends it, or a fault."""
        self._faults = self.state.faults.take(
            SYNTHESIS_KINDS, route="stt", exact_route=True, where=f"stt:{self.session_id}"
        )
        self._reader = asyncio.create_task(self._read(), name=f"stt-read-{self.session_id}")
        try:
            await self._apply_faults()
            while True:
                item = await self._next()
                if item is _IDLE:
                    shown = (
                        int(self.idle_timeout)
                        if self.idle_timeout.is_integer()
                        else self.idle_timeout
                    )
                    await self.send_error(
                        f"Connection timed out after {shown} seconds of inactivity",
                        "IDLE_TIMEOUT",
                        close=1000,
                    )
                    return
                msg, arrived = item
                if msg.type is WSMsgType.BINARY:
                    self.state.stats.frames_received += 1
                    await self._on_audio(msg.data, arrived)
                elif msg.type is WSMsgType.TEXT:
                    self.state.stats.frames_received += 1
                    await self._on_text(msg.data)
                else:  # CLOSE / CLOSING / CLOSED / ERROR (e.g. a frame over the size limit)
                    return
        except _SessionOver:
            pass
        finally:
            await self._settle()
            if self.segmenter is not None:
                stream = self.segmenter.stream
                with contextlib.suppress(Exception):
                    await self._engine(stream.close)
            if not self.ws.closed:
                with contextlib.suppress(_SessionOver):
                    await self._close(1000)
            await self._stop_reading()

    async def _read(self) -> None:
        """Read every frame into the inbox as it arrives (see the module docstring)."""
        while True:
            await self._room.wait()
            try:
                msg = await self.ws.receive(timeout=self.idle_timeout)
            except TimeoutError:
                self._inbox.put_nowait(_IDLE)
                return
            if msg.type is WSMsgType.BINARY:
                self._inbox_bytes += len(msg.data)
                if self._inbox_bytes >= INBOX_BYTES:
                    self._room.clear()
            self._inbox.put_nowait((msg, time.monotonic()))
            if msg.type not in _DATA:  # the socket is closing or broken: nothing follows
                return

    async def _stop_reading(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.cancel()  # a pending ``receive`` is cancellable: its own timeout does it
            with contextlib.suppress(asyncio.CancelledError):
                await reader

    async def _next(self) -> tuple[WSMessage, float] | None:
        """The next frame read (with its arrival time), or ``_IDLE``."""
        item = await self._inbox.get()
        if item is not _IDLE and item[0].type is WSMsgType.BINARY:
            self._inbox_bytes -= len(item[0].data)
            if self._inbox_bytes < INBOX_BYTES:
                self._room.set()
        return item

    async def _on_audio(self, data: bytes, arrived: float) -> None:
        if self._closed_stream:
            return  # §7.11: audio after close_stream is ignored
        now = arrived  # the rate limit is on audio as it arrives, not as it is decoded
        if self._first_audio_at is None:
            self._first_audio_at = now
        self.audio_frames += 1
        await self._apply_faults()  # "after N frames": act on the Nth, before answering it
        try:
            pcm = self.decoder.decode(data)
        except AudioError as exc:
            await self.send_error(str(exc), "INVALID_AUDIO", close=CLOSE_UNSUPPORTED)
            return
        segmenter = await self._open_segmenter()
        seconds = len(pcm) / 2 / self.options.sample_rate
        self.state.stats.stt_audio_seconds += seconds
        allowed = self.config.stt_burst_s + self.config.stt_max_realtime_factor * (
            now - self._first_audio_at
        )
        if segmenter.seconds + seconds > allowed:
            await self.send_error(
                f"Audio is arriving faster than {self.config.stt_max_realtime_factor:g}x real "
                f"time (beyond a {self.config.stt_burst_s:g} s burst); pace it.",
                "RATE_LIMITED",
                close=CLOSE_POLICY,
            )
            return
        if segmenter.seconds + seconds > self.config.stt_max_session_s:
            await self._send_events(await self._engine(segmenter.close))
            await self.send_error(
                f"Session audio exceeds {self.config.stt_max_session_s:g} seconds; "
                "open a new session.",
                "SESSION_TOO_LONG",
                close=CLOSE_POLICY,
            )
            return
        await self._send_events(await self._engine(segmenter.feed, pcm))

    async def _on_text(self, data: str) -> None:
        try:
            body = json.loads(data) if len(data) <= 4096 else None
        except ValueError:
            body = None
        if not isinstance(body, dict):
            logger.info("STT %s: ignored a text frame that is not a JSON object", self.session_id)
            return
        kind = body.get("type")
        if kind == "close_stream" or body.get("flag") == "END":
            await self._close_stream()
        elif kind == "finalize" and self.dialect.finalize:
            if not self._closed_stream:
                segmenter = await self._open_segmenter()
                await self._send_events([await self._engine(segmenter.finalize)])
        elif kind == "keepalive":
            await self._keepalive()
        else:
            logger.info("STT %s: ignored unknown frame type %s", self.session_id, short(kind))

    async def _keepalive(self) -> None:
        mode = self.dialect.keepalive
        if mode == "pong":
            await self._send_json({"type": "pong"})
        elif mode == "error":
            await self._send_json({"error": "Unsupported message type: keepalive"})

    async def _close_stream(self) -> None:
        if self._closed_stream:
            return
        self._closed_stream = True
        segmenter = await self._open_segmenter()
        await self._send_events(await self._engine(segmenter.close))
        if self._stalled_until is not None:
            if self._stalled_until == float("inf"):
                return  # stalled for good: no is_last, no close; the client must time out
            # a timed stall: the held events (is_last among them) go out when it ends
            await asyncio.sleep(max(0.0, self._stalled_until - time.monotonic()))
            await self._release_held()
        if self.dialect.server_closes:
            await self._close(1000)
            return
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(CLIENT_CLOSE_WAIT_S):
                while (item := await self._next()) is not _IDLE and item[0].type in _DATA:
                    pass
        await self._close(1000)

    async def _apply_faults(self) -> None:
        """Act on scripted faults whose audio-frame count has been reached."""
        for fault in list(self._faults):
            if self.audio_frames < fault.after_chunks:
                continue
            self._faults.remove(fault)
            kind = fault.kind
            if kind is FaultKind.CLOSE_AFTER_CHUNKS:
                close_code = fault.code if isinstance(fault.code, int) else CLOSE_ERROR
                await self._close(close_code, b"injected close")
            elif kind is FaultKind.ABORT_AFTER_CHUNKS:
                reset_connection(self.http_request)
                raise _SessionOver
            elif kind is FaultKind.ERROR_FRAME:
                error_code = fault.code if isinstance(fault.code, str) else "INTERNAL_ERROR"
                await self.send_error(
                    fault.message or "Transcription failed",
                    error_code,
                    shape=fault.shape,
                    close=CLOSE_ERROR,
                )
            elif kind is FaultKind.MALFORMED_FRAME:
                await self._send_raw("{not json")
            elif kind is FaultKind.BINARY_FRAME:
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.send_bytes(b"\x00\x01")
            elif kind in (FaultKind.STALL, FaultKind.FREEZE):
                seconds = fault.seconds
                self._stalled_until = (
                    float("inf") if seconds is None else time.monotonic() + seconds
                )


def _dialect_for(request: web.Request, state: ServerState) -> SttDialect:
    name = request.query.get(DIALECT_PARAM, state.config.stt_dialect)
    if name not in STT_DIALECTS:
        raise RequestError(
            f"Invalid '{DIALECT_PARAM}': {short(name)}. Allowed values: {', '.join(STT_DIALECTS)}."
        )
    return STT_DIALECTS[name]


def stt_error(status: int, message: str, *, headers: dict[str, str] | None = None) -> web.Response:
    """An STT HTTP error body: the unified ``{"error": ...}`` (§2), plus ``message``."""
    return web.Response(
        status=status,
        text=json.dumps({"error": message, "message": message}),
        content_type="application/json",
        headers=headers,
    )


async def stt_live(request: web.Request) -> web.StreamResponse:
    """Upgrade to a Pulse streaming session (both paths; the legacy one has its defaults)."""
    from .app import API_KEY, fault_response

    state = request.app[STATE]
    key = request[API_KEY]
    legacy = request.path.rstrip("/") == LEGACY_PATH
    conn_faults = state.faults.take(CONNECTION_KINDS, route="stt", where="stt-connect")
    for fault in conn_faults:
        if fault.kind is FaultKind.REFUSE_UPGRADE:
            state.stats.rejected_upgrades += 1
            return fault_response(fault.status or 503, fault.retry_after, fault.message)
    try:
        options = parse_options(request.query, legacy=legacy, strict=state.config.stt_strict)
        dialect = _dialect_for(request, state)
    except RequestError as exc:
        state.stats.rejected_upgrades += 1
        return stt_error(exc.status, exc.message)
    idle = state.config.idle_timeout_s
    for fault in conn_faults:
        if fault.kind is FaultKind.IDLE_CLOSE and fault.seconds is not None:
            idle = fault.seconds
    if state.latency.connect_ms > 0:
        await asyncio.sleep(state.latency.connect_ms / 1000)
    ws = web.WebSocketResponse(max_msg_size=state.config.max_frame_bytes, autoping=True)
    state.stats.ws_connections_total += 1
    state.stats.ws_connections_active += 1
    try:
        await ws.prepare(request)
    except ConnectionResetError:
        state.stats.ws_connections_active -= 1
        raise asyncio.CancelledError from None
    except BaseException:
        state.stats.ws_connections_active -= 1
        raise
    session = SttSession(state, ws, request, options, dialect, idle_timeout=float(idle))
    state.stats.stt_sessions += 1
    acquired = state.limiter.try_acquire(key)
    try:
        if not acquired:
            with contextlib.suppress(_SessionOver):
                await session.send_error(
                    f"Concurrency limit of {state.config.concurrency_limit} sessions for "
                    "this key reached; close a session and retry.",
                    "CONCURRENCY_LIMIT",
                    close=CLOSE_POLICY,
                )
        elif options.model == "pulse-2" and options.language != "en":
            # D19 / PC: pulse-2 is English-only and the service just closes the socket
            with contextlib.suppress(_SessionOver):
                await session._close(CLOSE_POLICY, b"pulse-2 supports only language=en")
        else:
            await session.run()
    finally:
        if acquired:
            state.limiter.release(key)
        state.stats.ws_connections_active -= 1
    return ws


def add_routes(app: web.Application) -> None:
    """Register both streaming paths (GET upgrades)."""
    app.router.add_get(LIVE_PATH, stt_live)
    app.router.add_get(LEGACY_PATH, stt_live)
