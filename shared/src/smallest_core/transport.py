"""The WebSocket transport: an ``asyncio.Protocol`` of ours driving websockets' sans-I/O
:class:`websockets.client.ClientProtocol`.

This is the layering websockets itself uses for its asyncio client (bytes in →
``receive_data`` → ``events_received``; ``send_*`` → ``data_to_send`` → the socket), through
websockets' documented sans-I/O API only. We drive it ourselves for one reason: each data
message goes to the caller's ``on_message`` in the same ``data_received`` step its bytes
arrived, where websockets' own client queues it for ``recv()`` (a task switch per message:
every audio chunk). Writes are synchronous — ``send_text`` frames the message and hands
the bytes to the socket — so callers need no lock, only :meth:`WebSocket.drain` when the
socket pushes back.

Everything RFC 6455 stays websockets' business: framing and masking, pings answered with
pongs, fragment rules, UTF-8 checks, the close handshake, permessage-deflate and protocol
errors. What is ours: joining a fragmented message (websockets' asyncio layer does the
same), keepalive pings on a timer, a bound on every wait (handshake, pong, close), and
turning a socket's end into one :class:`Closed` report, at the moment it is known — when
the server's close frame arrives, when websockets fails the connection, when the TCP
connection drops — not when the TCP close completes.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import ssl
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Protocol as TypingProtocol
from typing import cast

from websockets.client import ClientProtocol
from websockets.exceptions import InvalidHandshake, InvalidStatus, InvalidURI
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
from websockets.frames import Close, Frame, Opcode
from websockets.protocol import State
from websockets.uri import parse_uri

from .classify import error_from_status
from .errors import ConnectionLostError, RequestTimeoutError
from .redact import RedactingFilter, redact

__all__ = ["Closed", "ConnectFn", "WebSocket", "open_websocket"]

#: websockets logs handshake headers at DEBUG; its records pass through redaction.
ws_logger = logging.getLogger("smallest_core.websockets")
ws_logger.addFilter(RedactingFilter())

OnMessage = Callable[[str | bytes], None]


@dataclass(frozen=True, slots=True)
class Closed:
    """How a socket ended, reported once through ``on_close``.

    Attributes:
        code: the close code of the server's close frame (or ours, when we closed
            first); None when no close frame came (the TCP connection dropped, a
            keepalive ping went unanswered, websockets failed the connection).
        reason: the close frame's reason, or what happened.
        protocol_error: websockets refused a frame from the server (masked, a broken
            fragment sequence, invalid UTF-8, ...) and failed the connection.
        local: we started the close (``close()``).
    """

    code: int | None
    reason: str
    protocol_error: bool = False
    local: bool = False


OnClose = Callable[[Closed], None]


class ConnectFn(TypingProtocol):
    """The transport seam: how a connection opens its socket (default
    :func:`open_websocket`). Tests wrap it to reach the :class:`WebSocket`."""

    def __call__(
        self,
        url: str,
        *,
        headers: Mapping[str, str],
        on_message: OnMessage,
        on_close: OnClose,
        open_timeout: float = ...,
        ping_interval: float | None = ...,
        ping_timeout: float = ...,
        close_timeout: float = ...,
        compression: bool = ...,
    ) -> Awaitable[WebSocket]: ...


class WebSocket(asyncio.Protocol):
    """One client WebSocket: the asyncio side of a websockets ``ClientProtocol``.

    Built by :func:`open_websocket`; the connection above it sends with
    :meth:`send_text` / :meth:`send_binary` (synchronous), waits with :meth:`drain`
    while the socket pushes back, and hears messages and the end through the two
    callbacks given at construction.
    """

    def __init__(
        self,
        protocol: ClientProtocol,
        *,
        on_message: OnMessage,
        on_close: OnClose,
        ping_interval: float | None,
        ping_timeout: float,
        close_timeout: float,
    ) -> None:
        self.protocol = protocol
        self._on_message = on_message
        self._on_close = on_close
        self._ping_interval = ping_interval
        self._ping_timeout = ping_timeout
        self._close_timeout = close_timeout
        loop = asyncio.get_running_loop()
        self._loop = loop
        self._transport: asyncio.Transport | None = None
        self._opened: asyncio.Future[None] = loop.create_future()
        self._lost: asyncio.Future[None] = loop.create_future()
        self._paused = False
        self._drain_waiters: list[asyncio.Future[None]] = []
        self._fragments: list[bytes] = []
        self._fragment_text = False
        self._peer_close: Close | None = None
        self._local_close: Close | None = None
        self._why: str | None = None  # our reason for an end without a close frame
        self._reported = False
        self._failed = False  # we failed the connection (invalid UTF-8): deliver no more
        self._ping_payload: bytes | None = None
        self._ping_timer: asyncio.TimerHandle | None = None
        self._close_timer: asyncio.TimerHandle | None = None

    # -- what the connection above uses ------------------------------------------------
    @property
    def open(self) -> bool:
        """True while messages can be sent (the handshake done, no close begun)."""
        return self.protocol.state is State.OPEN

    @property
    def paused(self) -> bool:
        """True while the socket's write buffer is over its limit (back-pressure)."""
        return self._paused

    def send_text(self, message: str) -> bool:
        """Send ``message`` as one text frame now. False (nothing sent) once the socket
        is no longer open: its end is reported through ``on_close``."""
        if self.protocol.state is not State.OPEN:
            return False
        self.protocol.send_text(message.encode())
        self._flush()
        return True

    def send_binary(self, data: bytes) -> bool:
        """Send ``data`` as one binary frame now; False once the socket is not open."""
        if self.protocol.state is not State.OPEN:
            return False
        self.protocol.send_binary(data)
        self._flush()
        return True

    async def drain(self) -> None:
        """Wait while the socket pushes back (its write buffer over the limit)."""
        while self._paused and not self._lost.done():
            waiter = self._loop.create_future()
            self._drain_waiters.append(waiter)
            await waiter

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Start the close handshake; the TCP connection is dropped if the server has
        not closed it ``close_timeout`` seconds later. Returns at once."""
        if self.protocol.state is State.OPEN:
            self._local_close = Close(code, reason)
            self.protocol.send_close(code, reason)
            self._flush()
            self._check_state()
        elif self.protocol.state is State.CONNECTING:
            self.abort()

    def abort(self) -> None:
        """Drop the TCP connection now, without a close handshake."""
        if self._transport is not None:
            self._transport.abort()

    async def wait_closed(self) -> None:
        """Wait until the TCP connection is closed (bounded by ``close_timeout``)."""
        await asyncio.shield(self._lost)

    # -- asyncio.Protocol ---------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        protocol = self.protocol
        protocol.receive_data(data)
        events = protocol.events_received()
        for event in events:
            if isinstance(event, Frame):
                self._frame(event)
            else:  # the handshake response
                self._handshake_done()
        reported = self._reported
        self._check_state()
        # What websockets answers (pongs, a close echo, a close after a protocol error)
        # goes out after the messages and the end are handed over. A close echo waits one
        # more loop step, behind the tasks the end just woke: the error reaches its
        # callers first, and the echo's write (and the peer's TCP close it provokes) is
        # not on their path. Anything else goes out in this same step.
        if self._reported and not reported:
            self._loop.call_soon(self._flush)
        else:
            self._flush()

    def eof_received(self) -> None:
        if self._peer_close is None and self._local_close is None:
            self._why = "the server closed the TCP connection without a close frame"
        self.protocol.receive_eof()
        self._flush()
        self._check_state()

    def connection_lost(self, exc: Exception | None) -> None:
        self.protocol.receive_eof()  # idempotent: the state becomes CLOSED
        if self._why is None and self._peer_close is None and self._local_close is None:
            self._why = "the connection dropped" + (f" ({redact(str(exc))})" if exc else "")
        self._report()
        for timer in (self._ping_timer, self._close_timer):
            if timer is not None:
                timer.cancel()
        if not self._opened.done():
            self._opened.set_exception(
                ConnectionLostError("the server closed the connection during the handshake")
            )
        self._lost.set_result(None)
        self._wake_drainers()

    def pause_writing(self) -> None:
        self._paused = True

    def resume_writing(self) -> None:
        self._paused = False
        self._wake_drainers()

    # -- inside -------------------------------------------------------------------------
    def _flush(self) -> None:
        transport = self._transport
        if transport is None or transport.is_closing():
            return
        for data in self.protocol.data_to_send():
            if data:
                transport.write(data)
            elif transport.can_write_eof():  # websockets' SEND_EOF: half-close
                transport.write_eof()
            else:  # TLS cannot half-close
                transport.close()

    def _handshake_done(self) -> None:
        if self._opened.done():
            return
        exc = self.protocol.handshake_exc
        if exc is not None:
            self._opened.set_exception(exc)
            return
        self._opened.set_result(None)
        if self._ping_interval is not None:
            self._ping_timer = self._loop.call_later(self._ping_interval, self._ping)

    def _frame(self, frame: Frame) -> None:
        opcode = frame.opcode
        if opcode is Opcode.TEXT or opcode is Opcode.BINARY:
            if frame.fin:
                self._deliver(opcode is Opcode.TEXT, frame.data)
            else:
                self._fragments = [bytes(frame.data)]
                self._fragment_text = opcode is Opcode.TEXT
        elif opcode is Opcode.CONT:  # websockets checked that a message is in progress
            self._fragments.append(bytes(frame.data))
            if frame.fin:
                data = b"".join(self._fragments)
                self._fragments = []
                self._deliver(self._fragment_text, data)
        elif opcode is Opcode.PONG:
            if self._ping_payload is not None and bytes(frame.data) == self._ping_payload:
                self._ping_payload = None
                self._arm_ping(self._ping_interval)
        elif opcode is Opcode.CLOSE:
            self._peer_close = Close.parse(bytes(frame.data))

    def _deliver(self, text: bool, data: bytes | bytearray | memoryview) -> None:
        if self._failed:
            return
        if text:
            try:
                message: str | bytes = str(data, "utf-8")
            except UnicodeDecodeError as exc:  # as websockets' own client does: 1007
                self._failed = True
                self.protocol.fail(1007, f"{exc.reason} at position {exc.start}")
                self._flush()
                return
        else:
            message = bytes(data)
        self._on_message(message)

    def _check_state(self) -> None:
        """After any input or close: report the end once the socket left OPEN, and bound
        the wait for the server's TCP close."""
        state = self.protocol.state
        if state is State.OPEN or state is State.CONNECTING:
            return
        self._report()
        if self.protocol.close_expected() and self._close_timer is None:
            self._close_timer = self._loop.call_later(self._close_timeout, self.abort)

    def _report(self) -> None:
        if self._reported or not self._opened.done() or self._opened.exception() is not None:
            return
        self._reported = True
        if self._ping_timer is not None:
            self._ping_timer.cancel()
        if self._local_close is not None and self._peer_close is None:
            closed = Closed(self._local_close.code, self._local_close.reason, local=True)
        elif self._peer_close is not None:
            closed = Closed(self._peer_close.code, self._peer_close.reason)
        elif self._why is not None:
            closed = Closed(None, self._why)
        else:  # OPEN → CLOSING with no close frame from either side: websockets failed it
            closed = Closed(None, "the server sent a frame that breaks RFC 6455", True)
        self._on_close(closed)

    def _ping(self) -> None:
        """Keepalive: a ping every ``ping_interval``; no pong within ``ping_timeout``
        fails the socket (a frozen peer)."""
        self._ping_timer = None
        if self.protocol.state is not State.OPEN:
            return
        self._ping_payload = secrets.token_bytes(4)
        self.protocol.send_ping(self._ping_payload)
        self._flush()
        self._ping_timer = self._loop.call_later(self._ping_timeout, self._pong_missing)

    def _pong_missing(self) -> None:
        self._ping_timer = None
        self._why = f"no pong within {self._ping_timeout:g} s (keepalive)"
        self._report()
        self.abort()

    def _arm_ping(self, delay: float | None) -> None:
        if self._ping_timer is not None:
            self._ping_timer.cancel()
            self._ping_timer = None
        if delay is not None and self.protocol.state is State.OPEN:
            self._ping_timer = self._loop.call_later(delay, self._ping)

    def _wake_drainers(self) -> None:
        waiters, self._drain_waiters = self._drain_waiters, []
        for waiter in waiters:
            if not waiter.done():
                waiter.set_result(None)


_tls: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _tls
    if _tls is None:
        _tls = ssl.create_default_context()
    return _tls


async def open_websocket(
    url: str,
    *,
    headers: Mapping[str, str],
    on_message: OnMessage,
    on_close: OnClose,
    open_timeout: float = 10.0,
    ping_interval: float | None = 5.0,
    ping_timeout: float = 5.0,
    close_timeout: float = 2.0,
    compression: bool = False,
) -> WebSocket:
    """Open a client WebSocket to ``url`` (``ws://`` or ``wss://``), handshake included.

    Args:
        url: the WebSocket URL (it may carry a query string).
        headers: extra upgrade headers (``Authorization``, ``X-Source``, ...).
        on_message: called with each data message (``str`` for text, ``bytes`` for
            binary), from the socket's ``data_received``: it must not block or raise.
        on_close: called once with :class:`Closed` when the socket ends (after a
            successful handshake only).
        open_timeout: seconds for the whole open: TCP, TLS and the HTTP upgrade.
        ping_interval: seconds between keepalive pings; None: no pings.
        ping_timeout: seconds to wait for a pong before failing the socket.
        close_timeout: the longest wait for the server's side of a close.
        compression: offer permessage-deflate (RFC 7692). Off by default: audio is
            base64 in JSON, and deflating every chunk costs both sides CPU per frame for
            a quarter less bandwidth.

    Raises:
        AuthenticationError, PermissionDeniedError, RateLimitError, ServerError,
            InvalidRequestError: the upgrade was refused with that HTTP status.
        ConnectionLostError: the server could not be reached or broke the handshake.
        RequestTimeoutError: the open took longer than ``open_timeout``.
    """
    try:
        uri = parse_uri(url)
    except InvalidURI as exc:
        raise ConnectionLostError(f"cannot connect to {redact(url)}: {redact(str(exc))}") from None
    extensions = [ClientPerMessageDeflateFactory()] if compression else None
    protocol = ClientProtocol(uri, extensions=extensions, max_size=None, logger=ws_logger)
    request = protocol.connect()
    for name, value in headers.items():
        request.headers[name] = value
    ws = WebSocket(
        protocol,
        on_message=on_message,
        on_close=on_close,
        ping_interval=ping_interval,
        ping_timeout=ping_timeout,
        close_timeout=close_timeout,
    )
    loop = asyncio.get_running_loop()
    where = redact(url)
    try:
        async with asyncio.timeout(open_timeout):
            await loop.create_connection(
                lambda: ws,
                uri.host,
                uri.port,
                ssl=_tls_context() if uri.secure else None,
                server_hostname=uri.host if uri.secure else None,
            )
            protocol.send_request(request)
            ws._flush()
            await ws._opened
    except TimeoutError:
        ws.abort()
        raise RequestTimeoutError(f"WebSocket handshake to {where} timed out") from None
    except InvalidStatus as exc:
        ws.abort()
        response = exc.response
        # from None: the handshake exception may carry our request headers (the key).
        raise error_from_status(
            response.status_code, response.body or b"", dict(response.headers)
        ) from None
    except (OSError, InvalidHandshake) as exc:
        ws.abort()
        raise ConnectionLostError(f"cannot connect to {where}: {redact(str(exc))}") from None
    except BaseException:
        ws.abort()  # cancelled: leave no socket behind
        raise
    return ws
