"""The asyncio Pulse streaming session: :class:`Transcriber` over one WebSocket.

What lives here: :class:`Transcriber` (push audio, ``finalize``, ``end``, ``cancel``,
``async for event in session``), the socket seam :class:`STTSocket` / :data:`OpenSocket`
and its default, :func:`open_websocket`. What must not: frame layout or parsing (the
sans-I/O :class:`~smallest_core.stt_protocol.STTProtocol` does that; this module only
moves its bytes and runs its timers), and any WebSocket framing (the seam hands whole
messages over; the default drives :mod:`smallest_core.transport`, the TTS side's socket).

Rules (``docs/stt.md``):

* Retries only where nothing was lost: a refused upgrade (429/5xx), or a socket that
  failed (dropped, or a retryable error frame such as a concurrency limit) before the
  server acknowledged any audio (its first transcript or VAD event), is retried under
  the :class:`RetryPolicy` (:class:`~smallest_core.retry.Attempts`, shared by every
  attempt of the session); the new socket gets every frame again, from the first. After
  that, a failure is :class:`TranscriptionLostError`, saying how many seconds finals
  covered.
* Keepalive (D2): ``{"type":"keepalive"}`` after ``keepalive_interval`` seconds in which
  nothing was sent (so never while audio flows); ``pong`` is ignored. Turn it off
  (``None``) for a direct inference server, which rejects it.
* ``end()`` (D22): the audio tail and ``close_stream``, then every final up to the
  ``is_last`` one; we close the socket after it (or accept the server's clean close), and
  wait at most ``end_timeout`` seconds for it, plus the seconds of audio no final covers yet.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Generic, Protocol, TypeVar, cast

from . import transport
from .classify import error_from_close
from .codec import authorization, resolve_base_url
from .errors import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidState,
    ProtocolError,
    RequestTimeoutError,
    SmallestError,
)
from .events import ErrorEvent
from .metrics import STTMetrics
from .redact import mask_key, redact, register_secret
from .retry import Attempts, RetryPolicy
from .stt_codec import stt_ws_url
from .stt_events import FinalTranscript, STTEvent
from .stt_options import STTOptions
from .stt_protocol import FRAME_MS, STTProtocol, STTState
from .stt_wire import STT_LEGACY_LIVE_PATH, STT_LIVE_PATH
from .transport import Closed, WebSocket
from .wire import API_KEY_ENV, USER_AGENT, Header

__all__ = ["OpenSocket", "STTSocket", "Transcriber", "open_websocket"]

logger = logging.getLogger("smallest_core")

_T = TypeVar("_T")

#: D22: how long ``end()`` waits for the ``is_last`` final by default.
END_TIMEOUT_S = 5.0
#: D2: LiveKit's keepalive period on the public gateway.
KEEPALIVE_S = 5.0


class STTSocket(Protocol):
    """One open WebSocket, message by message: the seam between the session and I/O.

    ``recv`` returns a whole text (``str``) or binary (``bytes``) message and raises a
    :class:`SmallestError` (from :func:`~smallest_core.error_from_close`) once the socket
    has closed; ``send`` after a close does nothing (the reader reports the close).
    """

    async def send(self, message: str | bytes) -> None: ...

    async def recv(self) -> str | bytes: ...

    async def close(self) -> None: ...


#: Opens a socket: ``(url, headers, open_timeout) -> STTSocket``. Raises the typed error
#: of a refused upgrade (:func:`~smallest_core.error_from_status`), RequestTimeoutError or
#: ConnectionLostError.
OpenSocket = Callable[[str, Mapping[str, str], float], Awaitable[STTSocket]]


class _Mailbox(Generic[_T]):
    """An unbounded FIFO between the callbacks and tasks of one event loop: asyncio.Queue's
    ``put_nowait`` and ``get`` without its bookkeeping (``maxsize``, ``task_done``,
    ``join``), for the per-message path. A getter cancelled after it was woken passes the
    wake-up on, as asyncio.Queue does."""

    __slots__ = ("_getters", "_items")

    def __init__(self) -> None:
        self._items: deque[_T] = deque()
        self._getters: deque[asyncio.Future[None]] = deque()

    def put_nowait(self, item: _T) -> None:
        self._items.append(item)
        self._wake()

    def _wake(self) -> None:
        getters = self._getters
        while getters:
            getter = getters.popleft()
            if not getter.done():
                getter.set_result(None)
                return

    async def get(self) -> _T:
        items = self._items
        while not items:
            getter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            self._getters.append(getter)
            try:
                await getter
            except BaseException:
                getter.cancel()  # a no-op once woken
                with contextlib.suppress(ValueError):
                    self._getters.remove(getter)
                if items and not getter.cancelled():
                    self._wake()  # woken, then cancelled: the item is another getter's
                raise
        return items.popleft()


class _TransportSocket:
    """:class:`STTSocket` over the core transport (:mod:`smallest_core.transport`):
    its callbacks feed a mailbox that :meth:`recv` reads."""

    def __init__(self) -> None:
        self._inbox: _Mailbox[str | bytes | Closed] = _Mailbox()
        self._ws: WebSocket | None = None

    def on_message(self, message: str | bytes) -> None:
        self._inbox.put_nowait(message)

    def on_close(self, closed: Closed) -> None:
        self._inbox.put_nowait(closed)

    async def send(self, message: str | bytes) -> None:
        ws = self._ws
        if ws is None:
            return
        sent = ws.send_text(message) if isinstance(message, str) else ws.send_binary(message)
        if sent and ws.paused:
            await ws.drain()

    async def recv(self) -> str | bytes:
        item = await self._inbox.get()
        if not isinstance(item, Closed):
            return item
        self._inbox.put_nowait(item)  # every later recv() sees the end too
        if item.protocol_error:
            raise ProtocolError(f"bad frame from the server: {redact(item.reason)}")
        raise error_from_close(item.code, item.reason)

    async def close(self) -> None:
        ws = self._ws
        if ws is not None:
            ws.close()
            await ws.wait_closed()


async def open_websocket(url: str, headers: Mapping[str, str], open_timeout: float) -> STTSocket:
    """The default :data:`OpenSocket`: the core transport, with keepalive pings.

    Raises:
        AuthenticationError, PermissionDeniedError, InvalidRequestError, RateLimitError,
            ServerError: the upgrade was refused with that HTTP status.
        RequestTimeoutError: the handshake took longer than ``open_timeout``.
        ConnectionLostError: the server could not be reached.
    """
    socket = _TransportSocket()
    socket._ws = await transport.open_websocket(
        url,
        headers=headers,
        on_message=socket.on_message,
        on_close=socket.on_close,
        open_timeout=open_timeout,
    )
    return socket


_END = object()  # the queue's end-of-stream marker


class Transcriber:
    """One streaming transcription over ``/waves/v1/stt/live``.

    Push PCM (or G.711, Opus) as it comes, call :meth:`finalize` at each turn boundary,
    :meth:`end` when the audio is over, and read the events with ``async for``::

        async with Transcriber(options=STTOptions(language="en")) as stt:

            async def speak() -> None:
                async for chunk in microphone():  # any chunk size
                    await stt.push_audio(chunk)
                await stt.end()

            speaker = asyncio.create_task(speak())
            async for event in stt:  # ends after the is_last final
                match event:
                    case FinalTranscript(text=text, from_finalize=True): ...
            await speaker

    Iteration yields :class:`InterimTranscript`, :class:`FinalTranscript`,
    :class:`SpeechStarted` and :class:`SpeechEnded`; it stops after the ``is_last`` final
    (or :meth:`cancel`) and raises the :class:`SmallestError` that ended the session.

    Args:
        api_key: the Bearer key; default ``$SMALLEST_API_KEY`` (never logged).
        options: the session's options (streaming-checked here, before any network).
        base_url: the service or a local server; ws(s) or http(s). Default
            ``$SMALLEST_BASE_URL``, else the real service.
        retry: retry policy for a refused upgrade or a drop before any audio; None: the
            default :class:`RetryPolicy`.
        keepalive_interval: seconds without anything sent before a ``keepalive`` (D2);
            None disables it. Only the gateway's paths get it: with another ``path`` (a
            direct inference server, which rejects it, LiveKit's ``stream_path``) it is
            off whatever this says.
        end_timeout: the longest wait, after ``close_stream``, for the ``is_last`` final,
            on top of the seconds of audio not yet answered by a final.
        open_timeout: seconds for each WebSocket handshake.
        frame_ms: milliseconds of audio per binary frame (D13: 50-100).
        headers: extra upgrade headers (e.g. ``x-expire-content``).
        path: the streaming path: ``/waves/v1/stt/live``, the legacy
            ``/waves/v1/pulse/get_text`` (same messages), or a direct server's.
        open_socket: the socket seam (default :func:`open_websocket`).

    Raises:
        AuthenticationError: no API key.
        InvalidOptionError: options streaming cannot take, a bad ``base_url`` or timing.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        options: STTOptions | None = None,
        base_url: str | None = None,
        retry: RetryPolicy | None = None,
        keepalive_interval: float | None = KEEPALIVE_S,
        end_timeout: float = END_TIMEOUT_S,
        open_timeout: float = 10.0,
        frame_ms: int = FRAME_MS,
        headers: Mapping[str, str] | None = None,
        path: str = STT_LIVE_PATH,
        open_socket: OpenSocket | None = None,
    ) -> None:
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise AuthenticationError(f"no API key: pass api_key= or set {API_KEY_ENV}")
        self._secret = register_secret(key)  # redacted while this session lives
        self._api_key = key
        self.options = (options or STTOptions()).check_streaming()
        self.url = stt_ws_url(resolve_base_url(base_url), self.options, path=path)
        for name, value in (("end_timeout", end_timeout), ("open_timeout", open_timeout)):
            if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
                raise InvalidOptionError(name, value, "a number > 0 (seconds)")
        if keepalive_interval is not None and (
            isinstance(keepalive_interval, bool)
            or not isinstance(keepalive_interval, int | float)
            or keepalive_interval <= 0
        ):
            raise InvalidOptionError(
                "keepalive_interval", keepalive_interval, "a number > 0 (seconds), or None"
            )
        self.retry = retry if retry is not None else RetryPolicy()
        # D2: the public gateway wants keepalives; a direct inference server rejects them
        gateway = path in (STT_LIVE_PATH, STT_LEGACY_LIVE_PATH)
        self.keepalive_interval = keepalive_interval if gateway else None
        self.end_timeout = float(end_timeout)
        self.open_timeout = float(open_timeout)
        self._headers = dict(headers or {})
        self._open_socket: OpenSocket = open_socket or open_websocket
        self._proto = STTProtocol(self.options, frame_ms=frame_ms)
        self.metrics = STTMetrics(
            sample_rate=self.options.sample_rate, sample_width=self.options.sample_width
        )
        self._attempts = Attempts(self.retry, time.monotonic(), what="transcription")
        self._socket: STTSocket | None = None
        self._queue: _Mailbox[STTEvent | object] = _Mailbox()
        self._done = asyncio.Event()
        self._write_lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[None]] = set()
        self._last_sent = 0.0
        #: The running loop's clock (the keepalive's), bound when a socket opens.
        self._loop_time: Callable[[], float] = time.monotonic
        self._audio_high = 0  # audio bytes counted in the metrics (a replay is not new)
        #: Socket attempts made (1 + retries), for logs and tests.
        self.connects = 0

    # -- state ---------------------------------------------------------------------------
    @property
    def state(self) -> STTState:
        """Where the session is (:class:`STTState`)."""
        return self._proto.state

    @property
    def covered_seconds(self) -> float:
        """Seconds of the stream's audio that delivered finals cover."""
        return self._proto.covered_seconds

    @property
    def error(self) -> SmallestError | None:
        """What ended the session, once it failed."""
        return self._proto.error

    # -- lifecycle -----------------------------------------------------------------------
    async def connect(self) -> Transcriber:
        """Open the socket (retrying a refused upgrade), start reading and the keepalive.

        Raises:
            AuthenticationError, PermissionDeniedError, InvalidRequestError: refused for
                good (401/403/400).
            RateLimitError, ServerError, ConnectionLostError, RequestTimeoutError: still
                failing when the retry policy gave up.
            InvalidState: the session already finished (a session is not reusable).
        """
        if self._socket is not None or self._tasks:
            return self
        if self._proto.finished:
            raise InvalidState(f"cannot connect: the transcription is {self._proto.state.value}")
        # the policy's deadline runs from here, not from construction
        self._attempts = Attempts(self.retry, time.monotonic(), what="transcription")
        self._socket = await self._open()
        self._spawn(self._read(), "smallest-core-stt-reader")
        if self.keepalive_interval is not None:
            self._spawn(self._keepalive(self.keepalive_interval), "smallest-core-stt-keepalive")
        await self._flush()
        return self

    async def __aenter__(self) -> Transcriber:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the socket and stop; a session not yet finished is cancelled."""
        if not self._proto.finished:
            self.cancel()
        await self._close_socket()
        current = asyncio.current_task()
        tasks = [t for t in self._tasks if t is not current]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _open(self) -> STTSocket:
        """A socket, retried under the session's attempts; raises when they give up."""
        headers = {
            Header.AUTHORIZATION.value: authorization(self._api_key),
            Header.X_SOURCE.value: USER_AGENT,
            **self._headers,
        }
        while True:
            self.connects += 1
            try:
                socket = await self._open_socket(self.url, headers, self.open_timeout)
            except SmallestError as exc:
                delay = self._attempts.next_delay(exc, time.monotonic())  # raises: give up
                logger.warning("= STT connect failed (%s); retrying in %.2f s", exc, delay)
                await asyncio.sleep(delay)  # backoff
                continue
            logger.info("= STT connected %s", self.url.split("?", 1)[0])
            self._loop_time = asyncio.get_running_loop().time
            self._last_sent = self._loop_time()
            return socket

    def _spawn(self, work: Awaitable[None], name: str) -> None:
        task: asyncio.Task[None] = asyncio.ensure_future(work)
        task.set_name(name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _close_socket(self) -> None:
        socket, self._socket = self._socket, None
        if socket is not None:
            with contextlib.suppress(Exception):
                await socket.close()

    # -- sending -------------------------------------------------------------------------
    async def push_audio(self, audio: bytes | bytearray | memoryview) -> None:
        """Send audio in the session's encoding, any chunk size (framed to ``frame_ms``).

        Pace it as it is captured: the service transcribes in real time (D13).

        Raises:
            InvalidState: after :meth:`end` or :meth:`cancel`. (After a failure, which the
                iterator raises, audio is dropped.)
        """
        # bytes() copies only a bytearray or memoryview (bytes are passed as they are);
        # most chunks only fill the next frame: nothing to write, no lock taken
        if self._proto.send_audio(bytes(audio)):
            await self._flush()

    async def finalize(self) -> None:
        """Close the current turn: the buffered speech comes back as a final now.

        That final has ``from_finalize=True`` (D5); the session stays open.

        Raises:
            InvalidState: after :meth:`end` or :meth:`cancel`.
        """
        self._proto.finalize(asyncio.get_running_loop().time())
        await self._flush()

    async def end(self) -> None:
        """Finish: the last finals, the ``is_last`` one, then a clean close.

        Waits for ``is_last`` (D22) at most ``end_timeout`` seconds plus the seconds of
        audio no final covers yet (the server may still be working through audio pushed
        faster than real time). Events stay available to the iterator.

        Raises:
            SmallestError: the session failed (as iteration raises it); a missing
                ``is_last`` is a :class:`TranscriptionLostError` (after audio) or a
                :class:`RequestTimeoutError`.
            InvalidState: after :meth:`cancel`.
        """
        self._proto.end()
        await self._flush()
        # Audio the server has not answered yet is work it may still be doing (audio
        # pushed faster than real time queues up): up to its own length on top.
        sent = self._proto.audio_seconds or 0.0
        backlog = max(0.0, sent - self._proto.covered_seconds)
        wait = self.end_timeout + backlog
        try:
            async with asyncio.timeout(wait):
                await self._done.wait()
        except TimeoutError:
            self._fail(
                RequestTimeoutError(
                    f"no is_last final within {wait:.3g} s after close_stream "
                    f"({self.end_timeout:g} s + {backlog:.2f} s of audio not yet answered)"
                )
            )
        await self._close_socket()
        if self._proto.state is STTState.FAILED and self._proto.error is not None:
            raise self._proto.error

    def cancel(self) -> None:
        """Stop now: nothing more is sent or yielded; the socket closes. Idempotent."""
        if self._proto.finished:
            return
        self._proto.cancel()
        self._finish()

    async def _flush(self) -> None:
        """Write what the protocol queued, in order, on the current socket (if any).

        Writes are serialised by ``_write_lock``: a write that waits (a socket pushing
        back, or a seam whose ``send`` does I/O) holds later flushes behind it. The default
        socket takes a frame without suspending unless it pushes back, so with nobody
        mid-write its frames go out here at once, with no lock round trip (the hot path:
        a 50 ms frame every 50 ms, kept to a few calls); only a push-back takes the lock,
        to wait on the drain.
        """
        socket = self._socket
        if type(socket) is _TransportSocket and not self._write_lock.locked():
            ws = socket._ws
            if ws is not None:
                if self._proto.finished:
                    return
                frames = self._proto.data_to_send()
                if not frames:
                    return
                self._count_audio()
                pushed_back = False
                for frame in frames:
                    if isinstance(frame, str):
                        if logger.isEnabledFor(logging.DEBUG):
                            logger.debug("> %s", frame)
                        sent = ws.send_text(frame)
                    else:
                        sent = ws.send_binary(frame)
                    if sent and ws.paused:
                        pushed_back = True
                self._last_sent = self._loop_time()
                if pushed_back:
                    async with self._write_lock:  # later flushes queue behind the drain
                        await ws.drain()
                return
        async with self._write_lock:
            socket = self._socket
            if socket is None or self._proto.finished:
                return  # reconnecting: frames stay queued in the protocol
            frames = self._proto.data_to_send()
            if not frames:
                return
            self._count_audio()
            for frame in frames:
                if isinstance(frame, str) and logger.isEnabledFor(logging.DEBUG):
                    logger.debug("> %s", frame)
                await socket.send(frame)
            self._last_sent = asyncio.get_running_loop().time()

    def _count_audio(self) -> None:
        """New audio handed over, into the metrics (a replay below the high mark is not
        new); called as a batch of frames starts going out."""
        sent = self._proto.audio_bytes_sent
        if sent > self._audio_high:
            self.metrics.on_audio(sent - self._audio_high)
            self._audio_high = sent

    async def _keepalive(self, interval: float) -> None:
        """D2: a keepalive after ``interval`` seconds in which nothing was sent."""
        loop = asyncio.get_running_loop()
        while not self._proto.finished:
            wait = self._last_sent + interval - loop.time()
            if wait > 0:
                await asyncio.sleep(wait)  # the keepalive timer
                continue
            self._proto.keepalive()
            await self._flush()
            self._last_sent = loop.time()

    # -- receiving -----------------------------------------------------------------------
    async def _read(self) -> None:
        try:
            await self._read_messages()
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a bug must not hang the iterator: fail loudly
            logger.exception("STT reader crashed")
            self._fail(ConnectionLostError(f"STT reader crashed: {exc!r}"))

    async def _read_messages(self) -> None:
        while not self._proto.finished:
            socket = self._socket
            if socket is None:
                return
            try:
                message = await socket.recv()
            except SmallestError as exc:
                if self._socket is not socket:
                    continue  # end() or a retry replaced it: not a loss
                if self._retryable(exc):
                    await self._reconnect(exc)
                else:
                    self._proto.connection_lost(exc)
                    self._deliver()
                continue
            if isinstance(message, str):
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("< %s", redact(message[:200]))
                self._proto.receive_text(message, asyncio.get_running_loop().time())
            else:
                self._proto.receive_bytes(message)
            error = self._proto.error
            if error is not None and self._retryable(error):
                # e.g. a concurrency-limit frame right after the upgrade: a refusal
                self._deliver(drop_error=True)
                await self._reconnect(error)
            else:
                self._deliver()

    def _retryable(self, error: SmallestError) -> bool:
        """Nothing lost yet: the server acknowledged nothing we sent (the protocol can
        replay it all), and the caller is still listening."""
        return (
            error.retryable
            and self._proto.can_replay
            and not self._proto.ends_cleanly(error)
            and self._proto.state is not STTState.CANCELLED
            and self._proto.state is not STTState.DONE
        )

    async def _reconnect(self, error: SmallestError) -> None:
        """Replace a socket that failed before any audio; frames queued meanwhile wait."""
        old, self._socket = self._socket, None
        self._proto.reconnected()
        if old is not None:
            with contextlib.suppress(Exception):
                await old.close()
        try:
            delay = self._attempts.next_delay(error, time.monotonic())
        except SmallestError as final:
            self._proto.connection_lost(final)
            self._deliver()
            return
        logger.warning("= STT socket lost before any audio (%s); retrying", error)
        await asyncio.sleep(delay)  # backoff
        try:
            socket = await self._open()
        except SmallestError as final:
            self._proto.connection_lost(final)
            self._deliver()
            return
        if self._proto.finished:  # cancelled, or end() gave up, while we reconnected
            with contextlib.suppress(Exception):
                await socket.close()
            return
        self._socket = socket
        await self._flush()

    def _deliver(self, *, drop_error: bool = False) -> None:
        for event in self._proto.events_received():
            if isinstance(event, ErrorEvent) and drop_error:
                continue
            if isinstance(event, FinalTranscript):
                self.metrics.on_final()
                if event.session_id and self.metrics.session_id is None:
                    self.metrics.session_id = event.session_id
            self._queue.put_nowait(event)
        if self._proto.finished and not drop_error:  # drop_error: a retry follows
            self._finish()

    def _fail(self, error: SmallestError) -> None:
        """A local failure (``end()``'s timeout): the protocol words it and reports it."""
        if not self._proto.finished:
            self._proto.connection_lost(error)
            self._deliver()

    def _finish(self) -> None:
        if self._done.is_set():
            return
        self._done.set()
        self.metrics.on_end()
        self._queue.put_nowait(_END)
        if self._proto.state is STTState.DONE:
            logger.info("= STT session done (%d finals)", self._proto.finals)
        # D22: after is_last the client closes; a cancelled or failed one closes too.
        self._spawn(self._close_socket(), "smallest-core-stt-close")

    def __aiter__(self) -> AsyncIterator[STTEvent]:
        return self._events()

    async def _events(self) -> AsyncIterator[STTEvent]:
        while True:
            if self._proto.state is STTState.CANCELLED:
                return
            item = await self._queue.get()
            if item is _END:
                self._queue.put_nowait(_END)  # a second iterator also stops
                return
            if isinstance(item, ErrorEvent):
                raise item.error
            yield cast(STTEvent, item)

    def __repr__(self) -> str:
        return (
            f"Transcriber({self.url.split('?', 1)[0]!r}, state={self._proto.state.value}, "
            f"key={mask_key(self._api_key)})"
        )
