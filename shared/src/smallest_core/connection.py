"""One WebSocket carrying utterances: :class:`StreamConnection`.

The connection owns what is per socket: opening it (through the transport seam,
:func:`~smallest_core.transport.open_websocket`), the sans-I/O
:class:`~smallest_core.protocol.Protocol` that turns caller actions into frames and
frames into events, routing each event to its :class:`~smallest_core.utterance.Utterance`
by request id in the same loop step the bytes arrived, writing in protocol order, and
the socket's health (a poisoned protocol, a stalled peer retired, the server's close
turned into the one error every unfinished utterance gets).

The asyncio layer only moves frames: every decision about what a frame means lives in
the protocol. Follow one utterance in :mod:`smallest_core.utterance`'s docstring.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

from .classify import error_from_close
from .codec import authorization, resolve_base_url, ws_url
from .errors import (
    ConnectionLostError,
    InvalidOptionError,
    InvalidState,
    ProtocolError,
    RequestTimeoutError,
    SmallestError,
)
from .events import AudioChunk, Complete, ErrorEvent, WordTimestamp
from .options import TTSOptions
from .protocol import MODES, EndRule, Mode, Protocol
from .redact import mask_key, register_secret, scrub_frame
from .retry import Attempts, RetryPolicy
from .state import Action, UtteranceState
from .transport import Closed, ConnectFn, WebSocket, open_websocket
from .utterance import Utterance
from .wire import USER_AGENT, Header

__all__ = ["StreamConnection"]

logger = logging.getLogger("smallest_core")


class StreamConnection:
    """One WebSocket to ``/waves/v1/tts/live`` carrying any number of utterances.

    In continuations mode (the default, docs/protocol.md §12) utterances are multiplexed by
    ``context_id``; in flush mode (§5.2) one utterance at a time is open for text and
    finished ones may still be receiving audio. ``cancel`` never closes the socket.

    Args:
        api_key: the Bearer key (never logged; redacted everywhere).
        options: default options for utterances on this connection.
        base_url: the service or a local server (``ws://host:port``); http(s) URLs are
            taken too. Default ``$SMALLEST_BASE_URL``, else the real service.
        mode: ``"continuations"`` or ``"flush"``.
        idle_timeout: seconds sent as ``?timeout=`` (§5.1); None = the server default (60).
        connect: the socket factory (the transport seam; default
            :func:`~smallest_core.transport.open_websocket`).
        open_timeout: seconds for the whole open: TCP, TLS and the upgrade.
        headers: extra upgrade headers (e.g. ``X-Source``).
        end_rule: when a continuations utterance has ended (:class:`EndRule`); a pool
            shares one between its sockets. A fresh one when None.
        ping_interval: seconds between WebSocket pings (liveness): a peer that answers
            none within ``ping_timeout`` fails the socket, so a frozen server is noticed
            within ``ping_interval + ping_timeout``. None disables pings.
        ping_timeout: seconds to wait for a pong.
        close_timeout: the longest wait for the peer's side of a close handshake.
        compression: offer permessage-deflate (off: see :func:`open_websocket`).
        on_idle: called when an utterance leaves this connection or the socket closes
            (a pool wakes its waiters).
        on_closed: called once when the socket has ended, with the error its
            utterances got (a pool tells its listeners).
    """

    def __init__(
        self,
        *,
        api_key: str,
        options: TTSOptions | None = None,
        base_url: str | None = None,
        mode: Mode = "continuations",
        idle_timeout: int | None = None,
        connect: ConnectFn | None = None,
        open_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        end_rule: EndRule | None = None,
        ping_interval: float | None = 5.0,
        ping_timeout: float = 5.0,
        close_timeout: float = 2.0,
        compression: bool = False,
        on_idle: Callable[[], None] | None = None,
        on_closed: Callable[[StreamConnection, SmallestError], None] | None = None,
    ) -> None:
        self._secret = register_secret(api_key)  # redacted while this connection lives
        self._api_key = api_key
        self.options = options or TTSOptions()
        self.base_url = resolve_base_url(base_url)
        ws_url(self.base_url, idle_timeout)  # a bad URL or timeout fails here, not at connect
        if mode not in MODES:
            raise InvalidOptionError("mode", mode, " or ".join(MODES))
        self.mode: Mode = mode
        self.idle_timeout = idle_timeout
        self._connect: ConnectFn = connect or open_websocket
        self._open_timeout = open_timeout
        self._headers = dict(headers or {})
        self._ping = (ping_interval, ping_timeout, close_timeout)
        self._compression = compression
        self._proto = Protocol(self.options, mode=mode, end_rule=end_rule)
        #: request id → (its quiet-window timer, when it started): the EndRule's clock.
        self._quiet: dict[str, tuple[asyncio.TimerHandle, float]] = {}
        self._ws: WebSocket | None = None
        self._write_lock = asyncio.Lock()
        self._pending_writes: set[asyncio.Task[None]] = set()
        self._utterances: dict[str, Utterance] = {}
        self._closed = False
        self._failure: SmallestError | None = None
        self.opened_at = 0.0
        self.last_sent_at = 0.0
        self._on_idle = on_idle
        self._on_closed = on_closed

    # -- lifecycle --------------------------------------------------------------------
    async def connect(self) -> StreamConnection:
        """Open the socket and start the reader.

        Raises:
            AuthenticationError, PermissionDeniedError, RateLimitError, ServerError: the
                upgrade was refused with that HTTP status.
            ConnectionLostError: the server could not be reached.
            RequestTimeoutError: the handshake took longer than ``open_timeout``.
        """
        url = ws_url(self.base_url, self.idle_timeout)
        headers = {
            Header.AUTHORIZATION: authorization(self._api_key),
            Header.X_SOURCE: USER_AGENT,
            **self._headers,
        }
        ping_interval, ping_timeout, close_timeout = self._ping
        self._ws = await self._connect(
            url,
            headers=headers,
            on_message=self._on_message,
            on_close=self._on_close,
            open_timeout=self._open_timeout,
            ping_interval=ping_interval,
            ping_timeout=ping_timeout,
            close_timeout=close_timeout,
            compression=self._compression,
        )
        self.opened_at = self.last_sent_at = time.monotonic()
        logger.info("= connected %s (mode=%s)", url, self.mode)
        return self

    async def aclose(self) -> None:
        """Close the socket; utterances still running end with ConnectionLostError."""
        self._closed = True
        if self._ws is not None:
            self._ws.close()
            await self._ws.wait_closed()
        for task in list(self._pending_writes):
            task.cancel()

    async def __aenter__(self) -> StreamConnection:
        return await self.connect()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- state ------------------------------------------------------------------------
    @property
    def closed(self) -> bool:
        """True once the socket is closed or the connection is poisoned."""
        return self._closed or self._ws is None or self._proto.poisoned

    @property
    def active(self) -> int:
        """Utterances on this connection that have not finished."""
        return len(self._utterances)

    @property
    def draining(self) -> bool:
        """Flush mode: the server is still speaking a cancelled request on this socket."""
        return self._proto.draining

    def knows(self, request_id: str) -> bool:
        """Whether ``request_id`` was used on this socket (a retry must go elsewhere)."""
        return self._proto.knows(request_id)

    def can_open(self) -> bool:
        """Whether a new utterance may start here now (flush mode: none open for text)."""
        if self.closed:
            return False
        if self._proto.multiplexed:
            return True
        # flush mode: one request open for text, and none queued behind a cancelled one
        if self._proto.draining:
            return False
        return not any(u.open_for_text for u in self._utterances.values())

    def idle_for(self) -> float:
        """Seconds since we last sent a frame (the server's idle clock, §5.1)."""
        return time.monotonic() - self.last_sent_at

    def age(self) -> float:
        """Seconds since the socket opened."""
        return time.monotonic() - self.opened_at

    # -- utterances -------------------------------------------------------------------
    def utterance(
        self,
        request_id: str | None = None,
        *,
        options: TTSOptions | None = None,
        retry: RetryPolicy | None = None,
        reacquire: Callable[[StreamConnection, str], Awaitable[StreamConnection]] | None = None,
        finish_timeout: float = 5.0,
        attempts: Attempts | None = None,
        on_first_audio: Callable[[], None] | None = None,
    ) -> Utterance:
        """Start an utterance on this connection.

        Args:
            request_id: our id for it (sent as ``request_id``/``context_id``); generated
                when None.
            options: per-utterance options (default: the connection's).
            retry: how to retry before audio; None = no retry.
            reacquire: gives a fresh connection for a retry of the request id — one that
                has not used that id (a pool passes its own).
            finish_timeout: after ``end()``, the longest wait for the next event.
            attempts: retry bookkeeping already started (a pool that retried opening the
                socket passes its own, so attempts are counted once); overrides ``retry``.
            on_first_audio: called once, when the first audio reaches the caller (a
                pool opens its warm spare then, not beside the request's first frames).

        Raises:
            InvalidState: the connection is closed, or (flush mode) another utterance is
                still open for text.
        """
        if self.closed:
            raise InvalidState("connection is closed")
        return Utterance(
            self,
            request_id,
            options or self.options,
            retry=retry,
            reacquire=reacquire,
            finish_timeout=finish_timeout,
            attempts=attempts,
            on_first_audio=on_first_audio,
        )

    # -- the API an Utterance uses (its only way into a connection) --------------------
    def attach(self, utt: Utterance) -> str:
        """Open ``utt`` here and replay what it has sent so far (a first attempt or a retry).

        Returns:
            The utterance's request id (generated when it had none).
        """
        rid = self._proto.open(utt.request_id or None, options=utt.options)
        self._utterances[rid] = utt
        # each flush where it was: what was flushed is spoken now on this socket too, in
        # the same pieces, and text sent after the last flush waits as it did
        flushes = utt.flush_points
        for n, text in enumerate(utt.sent_texts, 1):
            self._proto.send_text(rid, text, flush=n in flushes)
        if utt.state is UtteranceState.ENDING:
            self._proto.end(rid)
        return rid

    async def reattach(self, utt: Utterance) -> None:
        """:meth:`attach` a retried utterance and write its replayed frames now."""
        self.attach(utt)
        await self._write()

    def detach(self, utt: Utterance) -> None:
        """``utt`` no longer listens here (it finished, was cancelled or moved on).

        Tells ``on_idle`` once per utterance that leaves (an utterance that finishes is
        detached by the reader and again by itself): a pool wakes one waiter per place
        freed.
        """
        if self._utterances.get(utt.request_id) is utt:
            del self._utterances[utt.request_id]
            self._notify_idle()

    async def send(
        self, request_id: str, action: Action, text: str = "", *, flush: bool = False
    ) -> None:
        """Apply a caller action (``send_text``, ``flush`` or ``end``) and write its frames.

        ``flush`` with ``send_text``: the text and the flush in one frame. A closed
        connection takes nothing: the utterance's reader gets the failure and a retry
        replays the text elsewhere.
        """
        if self.closed:
            return
        if action is Action.SEND_TEXT:
            self._proto.send_text(request_id, text, flush=flush)
        elif action is Action.FLUSH:
            self._proto.flush(request_id)
        elif action is Action.END:
            self._proto.end(request_id, text)
        else:
            raise InvalidState(f"send() takes send_text, flush or end, not {action.value}")
        self._dispatch()  # local events (e.g. an empty utterance's Complete)
        await self._write()

    def cancel(self, request_id: str) -> None:
        """Stop ``request_id`` now; the cancel frame (if the mode has one) goes out soon."""
        if not self.closed:
            self._proto.cancel(request_id)
            self._write_soon()

    def retire(self, error: SmallestError) -> None:
        """Give up on this socket now: fail its utterances with ``error`` and close it.

        For a peer that stopped answering; the close runs in the background (a frozen
        peer never completes the handshake, ``close_timeout`` bounds it).
        """
        if self._proto.poisoned:
            return
        logger.info("= retiring the socket: %s", str(error))
        self._proto.connection_lost(error)
        self._closed = True
        self._dispatch()
        self._notify_idle()
        if self._ws is not None:
            self._ws.close(1011, "stalled")

    def _notify_idle(self) -> None:
        if self._on_idle is not None:
            self._on_idle()

    # -- writing ----------------------------------------------------------------------
    async def _write(self) -> None:
        """Send every frame the protocol has queued, in order.

        Writes are synchronous (the transport frames and writes at once): while the
        socket does not push back, the frames go out now. While it does, callers queue
        on one lock behind the drain, and the first one through writes every frame the
        protocol has queued, so order never changes and nothing is written past a full
        buffer.
        """
        ws = self._ws
        if ws is None:
            return
        if ws.paused or self._write_lock.locked():
            async with self._write_lock:
                await ws.drain()
        for frame in self._proto.data_to_send():
            if not ws.send_text(frame):
                return  # the socket is ending: its close reaches every utterance
            self._sent(frame)

    def _sent(self, frame: str) -> None:
        self.last_sent_at = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("> %s", scrub_frame(frame))

    def _write_soon(self) -> None:
        """Schedule :meth:`_write` from synchronous code (``cancel``)."""
        self._in_background(self._write())

    def _in_background(self, work: Coroutine[Any, Any, None]) -> None:
        """Run ``work`` from synchronous code; ``aclose()`` cancels what is left of it."""
        task = asyncio.get_running_loop().create_task(work)
        self._pending_writes.add(task)
        task.add_done_callback(self._pending_writes.discard)

    # -- reading ----------------------------------------------------------------------
    def _on_message(self, message: str | bytes) -> None:
        """One server message, handed over by the socket as it is parsed (no task switch).

        Runs inside the socket's ``data_received``: it must not raise, and it does not
        block (the protocol and the routing are synchronous).
        """
        if self._proto.poisoned:
            return  # the close handshake still completes: websockets handles it
        try:
            draining = self._proto.draining
            if isinstance(message, str):
                if logger.isEnabledFor(logging.DEBUG):
                    logger.debug("< %s", scrub_frame(message))
                self._proto.receive_text(message)
            else:
                self._proto.receive_bytes(message)
            self._dispatch()
            if draining and not self._proto.draining:
                self._notify_idle()  # flush mode: the abandoned request finished
            if self._proto.poisoned:
                self._close_poisoned()
        except Exception as exc:  # a bug must not hang utterances: fail them loudly
            logger.exception("reader crashed")
            self.retire(ConnectionLostError(f"reader crashed: {exc!r}"))

    def _close_poisoned(self) -> None:
        failure = self._proto.error
        if isinstance(failure, RequestTimeoutError):
            # §5.1: the server's idle timeout, documented normal behaviour
            logger.info("= the server timed the socket out: %s", str(failure))
        else:
            logger.warning("= connection poisoned: %s", str(failure))
        self._closed = True
        self._notify_idle()
        if self._ws is not None:
            self._ws.close(1002, "protocol error")

    def _on_close(self, closed: Closed) -> None:
        """The socket ended (transport callback, at the moment it is known): fail
        whatever is still running on it with the error its end means."""
        if closed.local and self._proto.poisoned and self._proto.error is not None:
            error: SmallestError = self._proto.error  # we closed it for this reason
        elif closed.protocol_error:
            error = ProtocolError(
                f"bad frame from the server: {closed.reason}; websockets failed the socket"
            )
        else:
            error = error_from_close(closed.code, closed.reason)
        self._closed = True
        self._failure = error
        for handle, _ in self._quiet.values():
            handle.cancel()
        self._quiet.clear()
        if not self._proto.poisoned:
            self._proto.connection_lost(error)
        self._dispatch()
        self._notify_idle()
        logger.info("= closed (%s)", str(error))
        if self._on_closed is not None:
            self._on_closed(self, error)

    def _dispatch(self) -> None:
        for event in self._proto.events_received():
            rid = event.request_id
            if rid is not None and rid in self._quiet:
                # The quiet window after a complete was broken (more audio: a release),
                # or the utterance ended: stop its timer; tell the rule how long it was.
                handle, started = self._quiet.pop(rid)
                handle.cancel()
                if isinstance(event, AudioChunk | WordTimestamp):
                    self._proto.end_rule.saw_gap(time.monotonic() - started)
            utt = self._utterances.get(rid) if rid else None
            if utt is None:
                continue  # the protocol routes; an unknown id here is already dropped
            utt.deliver(event)
            if isinstance(event, Complete | ErrorEvent):
                self.detach(utt)
        for rid, generation, seconds in self._proto.timers_to_start():
            old = self._quiet.pop(rid, None)
            if old is not None:
                old[0].cancel()
            handle = asyncio.get_running_loop().call_later(
                seconds, self._quiet_elapsed, rid, generation
            )
            self._quiet[rid] = (handle, time.monotonic())

    def _quiet_elapsed(self, rid: str, generation: int) -> None:
        """An :class:`EndRule` quiet window ran out (timer callback)."""
        self._quiet.pop(rid, None)
        self._proto.quiet_elapsed(rid, generation)
        self._dispatch()

    def __repr__(self) -> str:
        state = "closed" if self.closed else "open"
        return (
            f"StreamConnection({self.base_url!r}, mode={self.mode!r}, {state}, "
            f"active={self.active}, key={mask_key(self._api_key)})"
        )
