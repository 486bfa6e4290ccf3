"""Streaming over one WebSocket: :class:`StreamConnection` and the :class:`Utterance` handle.

The asyncio layer only moves frames: every decision about what a frame means lives in
the sans-I/O :class:`~smallest_core.protocol.Protocol`. Each server message goes from the
socket's ``data_received`` to the protocol and is routed to its utterance by request id
in the same loop step; writes go out in protocol order under one lock.

Follow one utterance: ``Utterance.push_text`` → ``StreamConnection.send`` →
``Protocol.send_text`` builds the frame → ``StreamConnection._write`` sends it → the
server answers → ``_PushConnection.data_received`` cuts the frame out →
``StreamConnection._on_message`` feeds ``Protocol.receive_text`` → ``_dispatch`` routes
the event to ``Utterance.deliver`` → ``async for`` yields it. The two classes meet only
through that small API (``attach``/``reattach``/``detach``/``send``/``cancel``/
``retire`` one way, ``deliver``/``sent_texts``/``state`` the other).

Retries (:class:`~smallest_core.retry.Attempts`): an utterance whose connection fails
before it yielded any audio is replayed on a fresh connection from its pool (one that
never used its request id), transparently; one that already yielded audio raises
:class:`ConnectionLostError` at once, so audio is never duplicated. A socket that owes
frames and sends none past ``finish_timeout`` is retired (:meth:`Utterance._watch`);
pings bound a frozen peer.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed, InvalidStatus, InvalidURI
from websockets.frames import DATA_OPCODES, Frame, Opcode, apply_mask
from websockets.protocol import Event as Event_
from websockets.protocol import State

from .classify import error_from_close, error_from_status
from .codec import authorization, resolve_base_url, ws_url
from .errors import (
    ConnectionLostError,
    InvalidState,
    RequestTimeoutError,
    SmallestError,
)
from .events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from .metrics import UtteranceMetrics
from .options import TTSOptions, check_text
from .protocol import EndRule, Protocol
from .redact import RedactingFilter, mask_key, redact, register_secret
from .retry import Attempts, RetryPolicy
from .state import TERMINAL, Action, UtteranceState, transition
from .wire import USER_AGENT, Field, Header

__all__ = ["ConnectFn", "StreamConnection", "Utterance"]

logger = logging.getLogger("smallest_core")
#: websockets logs handshake headers at DEBUG; its records pass through redaction.
ws_logger = logging.getLogger("smallest_core.websockets")
ws_logger.addFilter(RedactingFilter())

#: How a :class:`StreamConnection` opens its socket (the transport seam):
#: ``connect(url, additional_headers=..., open_timeout=...)`` → a websockets connection.
ConnectFn = Callable[..., Awaitable[ClientConnection]]


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
        connect: the socket factory (default ``websockets.connect``).
        open_timeout: seconds for the handshake.
        headers: extra upgrade headers (e.g. ``X-Source``).
        end_rule: when a continuations utterance has ended (:class:`EndRule`); a pool
            shares one between its sockets. A fresh one when None.
        ping_interval: seconds between WebSocket pings (liveness): a peer that answers
            none within ``ping_timeout`` fails the socket, so a frozen server is noticed
            within ``ping_interval + ping_timeout``. None disables pings.
        ping_timeout: seconds to wait for a pong.
        close_timeout: the longest wait for the peer's side of a close handshake.
    """

    def __init__(
        self,
        *,
        api_key: str,
        options: TTSOptions | None = None,
        base_url: str | None = None,
        mode: str = "continuations",
        idle_timeout: int | None = None,
        connect: ConnectFn | None = None,
        open_timeout: float = 10.0,
        headers: Mapping[str, str] | None = None,
        end_rule: EndRule | None = None,
        ping_interval: float | None = 5.0,
        ping_timeout: float = 5.0,
        close_timeout: float = 2.0,
    ) -> None:
        self._secret = register_secret(api_key)  # redacted while this connection lives
        self._api_key = api_key
        self.options = options or TTSOptions()
        self.base_url = resolve_base_url(base_url)
        ws_url(self.base_url, idle_timeout)  # a bad URL or timeout fails here, not at connect
        self.mode = mode
        self.idle_timeout = idle_timeout
        self._connect = connect or websockets.connect
        self._open_timeout = open_timeout
        self._headers = dict(headers or {})
        self._ping = (ping_interval, ping_timeout, close_timeout)
        self._proto = Protocol(
            self.options,
            mode=mode,  # type: ignore[arg-type]
            end_rule=end_rule,
        )
        #: request id → (its quiet-window timer, when it started): the EndRule's clock.
        self._quiet: dict[str, tuple[asyncio.TimerHandle, float]] = {}
        self._ws: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        self._write_lock = asyncio.Lock()
        self._pending_writes: set[asyncio.Task[None]] = set()
        self._utterances: dict[str, Utterance] = {}
        self._closed = False
        self._failure: SmallestError | None = None
        self.opened_at = 0.0
        self.last_sent_at = 0.0
        #: called when an utterance leaves this connection or the socket closes (pools).
        self.on_idle: Callable[[], None] | None = None
        #: called once when the socket has closed, with the error its utterances got.
        self.on_closed: Callable[[SmallestError], None] | None = None

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
        try:
            self._ws = await self._connect(
                url,
                additional_headers=headers,
                open_timeout=self._open_timeout,
                max_size=None,
                compression=None,
                logger=ws_logger,
                ping_interval=self._ping[0],
                ping_timeout=self._ping[1],
                close_timeout=self._ping[2],
                create_connection=_push_connection(self._on_message, self._on_ws_error),
            )
        except InvalidStatus as exc:
            response = exc.response
            # from None: the handshake exception carries our request headers (the key).
            raise error_from_status(
                response.status_code, response.body, dict(response.headers)
            ) from None
        except TimeoutError:
            raise RequestTimeoutError(f"WebSocket handshake to {url} timed out") from None
        except (OSError, InvalidURI, websockets.InvalidHandshake) as exc:
            raise ConnectionLostError(f"cannot connect to {url}: {redact(str(exc))}") from None
        self.opened_at = self.last_sent_at = time.monotonic()
        self._reader = asyncio.create_task(self._read(), name="smallest-core-reader")
        logger.info("= connected %s (mode=%s)", url, self.mode)
        return self

    async def aclose(self) -> None:
        """Close the socket; utterances still running end with ConnectionLostError."""
        self._closed = True
        if self._ws is not None:
            await self._ws.close()
        if self._reader is not None:
            await asyncio.gather(self._reader, return_exceptions=True)
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
        """``utt`` no longer listens here (it finished, was cancelled or moved on)."""
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
            self._in_background(self._ws.close(1011, "stalled"))

    def _notify_idle(self) -> None:
        if self.on_idle is not None:
            self.on_idle()

    # -- writing ----------------------------------------------------------------------
    async def _write(self) -> None:
        """Send every frame the protocol has queued, in order.

        While no earlier write is waiting (for the socket to drain), the frames go out
        at once through :meth:`_PushConnection.send_now`, without a lock or a drain;
        whatever that cannot take goes through websockets' ``send()``, in order.
        """
        ws = self._ws
        if ws is None:
            return
        frames = deque[str]()
        if isinstance(ws, _PushConnection) and not self._write_lock.locked():
            frames.extend(self._proto.data_to_send())
            while frames and ws.send_now(frames[0]):
                self._sent(frames.popleft())
            if not frames:
                return
        async with self._write_lock:
            frames.extend(self._proto.data_to_send())
            try:
                while frames:
                    await ws.send(frames[0])
                    self._sent(frames.popleft())
            except ConnectionClosed:
                pass  # the reader reports the loss to every utterance

    def _sent(self, frame: str) -> None:
        self.last_sent_at = time.monotonic()
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("> %s", _short(frame))

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
                    logger.debug("< %s", _short(message))
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

    def _on_ws_error(self, exc: Exception) -> None:
        """websockets failed the connection on a frame it could not accept."""
        self.retire(ConnectionLostError(f"bad frame from the server: {redact(str(exc))}"))

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
            self._in_background(self._ws.close(code=1002, reason="protocol error"))

    async def _read(self) -> None:
        """Wait for the socket to close, then fail whatever is still running on it.

        Messages do not pass through here: the socket hands each one to
        :meth:`_on_message` as it arrives (see :class:`_PushConnection`).
        """
        ws = self._ws
        assert ws is not None
        await ws.wait_closed()
        rcvd = ws.protocol.close_rcvd
        if rcvd is not None:
            error = error_from_close(rcvd.code, rcvd.reason)
        else:
            error = error_from_close(None, "connection dropped")
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
        if self.on_closed is not None:
            self.on_closed(error)

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


class Utterance:
    """One utterance: push text in, iterate audio out.

    ``push_text``/``flush``/``end`` send as you go (the first audio can start while text
    is still arriving); ``async for event in utterance`` yields
    :class:`AudioChunk` and :class:`WordTimestamp` events and stops after the server's
    ``complete`` for this request id — there are no silence timers. ``cancel()``
    returns at once: nothing of this utterance is yielded after it, the server is told
    (continuations mode) and the socket stays open for the next utterance.

    Raises (from iteration): the typed :class:`SmallestError` that ended it;
    :class:`ConnectionLostError` if the connection failed after audio was yielded.
    """

    def __init__(
        self,
        conn: StreamConnection,
        request_id: str | None,
        options: TTSOptions,
        *,
        retry: RetryPolicy | None,
        reacquire: Callable[[StreamConnection, str], Awaitable[StreamConnection]] | None,
        finish_timeout: float,
        attempts: Attempts | None = None,
        on_first_audio: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        self._on_first_audio = on_first_audio
        self.request_id: str = request_id or ""
        self.options = options
        self._reacquire = reacquire
        self._finish_timeout = finish_timeout
        # What the reader routed here, for the iterator (None: cancelled). A deque and one
        # waiter, not an asyncio.Queue: this is every audio chunk's hand-over.
        self._inbox: deque[Event | None] = deque()
        self._waiter: asyncio.Future[None] | None = None
        # The stall watchdog (see _watch): one loop timer per utterance, not one per chunk.
        self._watchdog: asyncio.TimerHandle | None = None
        self._waiting_since = 0.0  # loop time the iterator began waiting in ENDING
        # stream_to(): the callback the reader hands events to while the consumer waits
        self._sink: Callable[[AudioChunk | WordTimestamp], None] | None = None
        self._sink_error: Exception | None = None
        #: Where this utterance is, by the one transition table (state.py). The socket's
        #: protocol keeps its own per-attempt copy; this one spans retries.
        self.state = UtteranceState.OPEN
        self._texts: list[str] = []
        self._flushes: list[int] = []  # len(self._texts) at each flush
        self.metrics = UtteranceMetrics(
            request_id=request_id or "", sample_rate=options.sample_rate
        )
        self.request_id = conn.attach(self)
        self.metrics.request_id = self.request_id
        # Retries need somewhere to go: without ``reacquire`` there is no policy.
        if attempts is None or reacquire is None:
            attempts = Attempts(retry if reacquire is not None else None, time.monotonic())
        attempts.what = f"utterance {self.request_id}"
        self._attempts = attempts

    # -- sending ----------------------------------------------------------------------
    @property
    def open_for_text(self) -> bool:
        """True until ``end()`` or ``cancel()`` (or until it failed)."""
        return self.state is UtteranceState.OPEN

    @property
    def sent_texts(self) -> tuple[str, ...]:
        """The text sent so far, in order (a retry replays it on the next socket)."""
        return tuple(self._texts)

    @property
    def flush_points(self) -> frozenset[int]:
        """Where flushes went out: after how many of :attr:`sent_texts` (a retry replays
        each one in its place)."""
        return frozenset(self._flushes)

    @property
    def connection(self) -> StreamConnection:
        """The connection currently carrying this utterance (changes on a retry)."""
        return self._conn

    def _act(self, action: Action) -> bool:
        """Move by the table; False when the action is absorbed (the utterance failed)."""
        before = self.state
        self.state = transition(before, action, self.request_id)
        return before is not UtteranceState.FAILED

    async def push_text(self, text: str, *, flush: bool = False) -> None:
        """Send more text; it is spoken as soon as the server has a sentence (or a flush).

        ``flush=True`` is ``push_text(text)`` then :meth:`flush`, in one message: for a
        caller that sends whole sentences and wants each spoken at once.

        Raises:
            InvalidOptionError: ``text`` is not a str.
            InvalidState: after ``end()`` or ``cancel()``. (After a failure, which the
                iterator reports, the text is dropped.)
        """
        check_text(text)
        if self._act(Action.SEND_TEXT):
            self._texts.append(text)
            self.metrics.on_text(len(text))
            if flush:
                self._flushes.append(len(self._texts))
            await self._conn.send(self.request_id, Action.SEND_TEXT, text, flush=flush)

    async def flush(self) -> None:
        """Ask the server to speak everything sent so far without waiting for more.

        Raises:
            InvalidState: after ``end()`` or ``cancel()``.
        """
        if self._act(Action.FLUSH):
            self._flushes.append(len(self._texts))
            await self._conn.send(self.request_id, Action.FLUSH)

    async def end(self, text: str = "") -> None:
        """Send the last text (optional): the server finishes and sends ``complete``.

        Raises:
            InvalidOptionError: ``text`` is not a str.
            InvalidState: after ``end()`` or ``cancel()``.
        """
        check_text(text)
        if self._act(Action.END):
            self._arm_watchdog(asyncio.get_running_loop())  # also if already iterating
            if text:
                self._texts.append(text)
                self.metrics.on_text(len(text))
            await self._conn.send(self.request_id, Action.END, text)

    def cancel(self) -> None:
        """Stop this utterance now (barge-in); never closes the socket. Idempotent."""
        if self.state in TERMINAL:
            return
        self._act(Action.CANCEL)
        self._conn.detach(self)
        self._conn.cancel(self.request_id)
        self._stop_watchdog()
        # Drop what was routed but not yet consumed: nothing is yielded after cancel().
        self._inbox.clear()
        self._put(None)

    # -- receiving --------------------------------------------------------------------
    def deliver(self, event: Event) -> None:
        """Hand an event over (called by the connection's reader).

        Audio and word events go straight to the :meth:`stream_to` sink when its caller
        is waiting with nothing queued (the order cannot change); everything else, and
        every event for a plain iterator, is queued for the iterator.
        """
        if self.state is UtteranceState.CANCELLED:
            return
        sink, waiter = self._sink, self._waiter
        if (
            sink is None
            or self._inbox
            or waiter is None
            or waiter.done()  # done: the consumer is being cancelled, sink nothing more
            or not isinstance(event, AudioChunk | WordTimestamp)
        ):
            self._put(event)
            return
        if isinstance(event, AudioChunk):
            self._on_audio_out(event)
        if self._watchdog is not None:
            self._waiting_since = waiter.get_loop().time()  # frames arrive: no stall
        try:
            sink(event)
        except Exception as exc:  # the sink's bug: stop here, stream_to() raises it
            self._sink_error = exc
            self.cancel()

    def _put(self, item: Event | None) -> None:
        self._inbox.append(item)
        waiter = self._waiter
        if waiter is not None:
            self._waiter = None
            if not waiter.done():  # done: the iterating task was cancelled
                waiter.set_result(None)

    def __aiter__(self) -> Utterance:
        return self

    async def __anext__(self) -> AudioChunk | WordTimestamp:
        while True:
            if self.state in TERMINAL:
                raise StopAsyncIteration
            event = await self._next_event()
            match event:
                case None:
                    raise StopAsyncIteration
                case AudioChunk():
                    self._on_audio_out(event)
                    return event
                case WordTimestamp():
                    return event
                case Complete():
                    self._finish(Action.COMPLETE)
                    raise StopAsyncIteration
                case ErrorEvent(error=error):
                    await self._handle_error(error)

    def _on_audio_out(self, chunk: AudioChunk) -> None:
        """Audio reaches the caller (yielded or sunk): no transparent retry after this."""
        self._attempts.output()
        self.metrics.on_audio(len(chunk.audio))
        if self._on_first_audio is not None:
            hook, self._on_first_audio = self._on_first_audio, None
            hook()

    async def stream_to(self, sink: Callable[[AudioChunk | WordTimestamp], None]) -> None:
        """Run the utterance to its end, handing each audio and word event to ``sink``.

        The same events, errors, retries and cancellation as ``async for event in
        self: sink(event)``, with one difference: while this call waits, the socket's
        reader calls ``sink`` itself, in the loop step the bytes arrived, instead of
        waking this task for every chunk (a task wake-up, a loop iteration, saved per
        chunk; also on the first one, for time-to-first-audio). ``sink`` must be quick and
        must not block (it runs inside the reader); adapters whose hand-over is a
        synchronous queue put (LiveKit's ``AudioEmitter.push``) use this.

        Raises:
            SmallestError: what ended the utterance, as iteration raises it.
            Exception: whatever ``sink`` raised; the utterance was cancelled then.
        """
        self._sink = sink
        try:
            async for event in self:
                try:
                    sink(event)
                except Exception:
                    self.cancel()  # as when the reader calls it: stop the utterance
                    raise
        finally:
            self._sink = None
        if self._sink_error is not None:
            raise self._sink_error

    async def _next_event(self) -> Event | None:
        inbox = self._inbox
        while not inbox:
            loop = asyncio.get_running_loop()
            if self.state is UtteranceState.ENDING:
                self._arm_watchdog(loop)
            waiter = self._waiter = loop.create_future()
            await waiter
        return inbox.popleft()

    def _watch(self) -> None:
        """The stall watchdog: retire the socket if the iterator has waited, with nothing
        arriving, for ``finish_timeout`` after ``end()``.

        The server owes us frames and sends none: its side of this socket is stuck (a
        dead worker, a frozen peer). Retiring it gives every utterance on it the error,
        and those with no audio yet are retried elsewhere. One timer per utterance that
        re-arms itself, rather than a timer per wait: the hot path sets no timer.
        """
        self._watchdog = None
        if self.state is not UtteranceState.ENDING:
            return
        loop = asyncio.get_running_loop()
        now = loop.time()
        due = now + self._finish_timeout
        waiting = self._waiter is not None and not self._waiter.done()
        if waiting:
            due = self._waiting_since + self._finish_timeout
            if now >= due - _TIMER_SLACK:
                if not self._conn.draining:
                    self._conn.retire(
                        RequestTimeoutError(
                            f"no frame for {self._finish_timeout:g} s after end(); "
                            "retiring the socket",
                            request_id=self.request_id,
                        )
                    )
                    return
                # flush mode: queued behind a cancelled request the server is still
                # speaking (§5.4 has no cancel); the wait is real work, not a stall.
                self._waiting_since = now
                due = now + self._finish_timeout
        self._watchdog = loop.call_at(due, self._watch)

    def _arm_watchdog(self, loop: asyncio.AbstractEventLoop) -> None:
        """The server owes frames (after ``end()``): watch from now."""
        self._waiting_since = loop.time()
        if self._watchdog is None:
            self._watchdog = loop.call_at(self._waiting_since + self._finish_timeout, self._watch)

    def _stop_watchdog(self) -> None:
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None

    async def _handle_error(self, error: SmallestError) -> None:
        """Retry on a fresh connection if nothing was yielded yet; otherwise raise.

        Raises:
            SmallestError: the error when it is final (see :meth:`Attempts.next_delay`).
        """
        while True:
            try:
                delay = self._attempts.next_delay(error, time.monotonic())
            except SmallestError:
                self._finish(Action.ERROR)
                raise
            # A transparent retry is the design working, not a problem: INFO.
            logger.info("retrying %s in %.3f s after %s", self.request_id, delay, str(error))
            if delay > 0:
                await asyncio.sleep(delay)  # backoff, not synchronisation
            old = self._conn
            old.detach(self)
            assert self._reacquire is not None  # no policy without it (see __init__)
            try:
                # A full pool may have no other socket for a while: wait within the deadline.
                self._conn = await asyncio.wait_for(
                    self._reacquire(old, self.request_id),
                    self._attempts.remaining(time.monotonic()),
                )
            except TimeoutError:
                self._finish(Action.ERROR)
                raise error from None
            except SmallestError as exc:
                error = exc  # no socket to be had: that failure is the next to weigh
                continue
            await self._conn.reattach(self)
            return

    def _finish(self, action: Action) -> None:
        self.state = transition(self.state, action, self.request_id)
        self._stop_watchdog()
        self._conn.detach(self)
        self.metrics.on_end()

    def __repr__(self) -> str:
        return f"Utterance({self.request_id!r}, {self.state.value})"


#: A loop timer may run up to the clock's resolution early.
_TIMER_SLACK = 0.001

#: Frame fields whose values are user content (or audio): logged as a length, never as text.
_CONTENT = frozenset({Field.TEXT, Field.AUDIO, Field.WORD, Field.MESSAGE, Field.DATA})


def _short(frame: str, limit: int = 200) -> str:
    """A log line for a frame that carries no user content: ids, flags and status as they
    are; text, words, audio and messages as their lengths; keys redacted."""
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        return f"<unparseable frame, {len(frame)} chars>"
    if not isinstance(data, dict):
        return f"<{type(data).__name__} frame, {len(frame)} chars>"
    shown = {k: _content(v) if k in _CONTENT else v for k, v in data.items()}
    text = json.dumps(shown, separators=(",", ":"), default=str)
    return redact(text if len(text) <= limit else text[:limit] + "…")


def _content(value: object) -> object:
    if isinstance(value, dict):
        return {k: _content(v) for k, v in value.items()}
    if isinstance(value, str):
        return f"<{len(value)} chars>"
    return value


class _PushConnection(ClientConnection):
    """A websockets client connection that hands each data message to a callback.

    websockets queues messages for ``recv()``, which costs a task switch per message
    before our reader even sees it; here the message goes to the callback straight from
    ``data_received``, so a chunk reaches its utterance's queue in the same loop step
    the bytes arrived (one wake-up, of the consumer, instead of two).

    The common frame — a whole, unmasked text or binary frame on an open connection
    (every audio chunk) — is also cut out of the byte stream here (RFC 6455 §5.2, a
    header of 2, 4 or 10 bytes), without websockets' generator-based parser: that
    parser costs more than the rest of a chunk's trip to its utterance. Every other
    frame (pings, pongs, close, fragments, anything malformed) is handed to websockets
    whole, so it keeps the close handshake, pongs, fragment rules and protocol errors.
    The handshake response stays entirely with websockets: framing starts at the byte
    after it.

    On the way out, :meth:`send_now` writes a client text frame the same way, while
    nothing stands in its way (no back-pressure, nothing websockets has queued);
    otherwise the message goes through websockets' ``send()``.
    """

    def __init__(
        self,
        *args: Any,
        on_message: Callable[[str | bytes], None],
        on_protocol_error: Callable[[Exception], None],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self._on_message = on_message
        self._on_protocol_error = on_protocol_error
        self._fragments: list[bytes] = []
        self._text = False
        self._head: bytes | None = b""  # the handshake response so far; None: not ours
        self._framing = False  # True from the byte after a 101 response
        self._pending = b""  # an incomplete frame

    def data_received(self, data: bytes) -> None:
        if not self._framing:
            data = self._handshake(data)
            if not data:
                return
        if self._pending:
            data = self._pending + data
            self._pending = b""
        pos, size = 0, len(data)
        while size - pos >= 2:
            first, second = data[pos], data[pos + 1]
            length, start = second & 0x7F, pos + 2
            if length == 126:
                start += 2
                if start > size:
                    break
                length = int.from_bytes(data[pos + 2 : start], "big")
            elif length == 127:
                start += 8
                if start > size:
                    break
                length = int.from_bytes(data[pos + 2 : start], "big")
            if second & 0x80:
                start += 4  # masked: wrong from a server, websockets will say so
            end = start + length
            if end > size:
                break
            protocol = self.protocol
            if (
                first in _FIN_DATA
                and not second & 0x80
                and protocol.state is State.OPEN
                and protocol.cur_size is None
            ):
                self._deliver(first == _FIN_TEXT, data[start:end])
            else:
                super().data_received(data[pos:end])
                if protocol.parser_exc is not None:
                    # websockets failed the connection (a masked frame, a fragment out
                    # of order, ...) and would wait for the server to close the TCP
                    # connection: tell the utterances now; nothing more is read.
                    self._pending = b""
                    self._on_protocol_error(protocol.parser_exc)
                    return
            pos = end
        if pos < size:
            self._pending = data[pos:]

    def send_now(self, message: str) -> bool:
        """Write ``message`` as one masked text frame now, if nothing stands in the way.

        The send-side twin of the cut in :meth:`data_received`: websockets' ``send()``
        runs an async context manager, builds a ``Frame`` and awaits a drain for every
        message, more than the rest of a text frame's trip from ``push_text`` to the
        socket. This writes the same bytes (RFC 6455 §5.2: FIN, text, a fresh 4-byte
        mask). False, and nothing written, unless the connection is open with no
        fragmented message, nothing queued by websockets and no write back-pressure
        (and the message is under 64 KiB): then ``send()`` takes the message and waits
        for the drain as usual.
        """
        protocol = self.protocol
        if (
            self.paused
            or protocol.state is not State.OPEN
            or protocol.expect_continuation_frame
            or protocol.writes
            or self.fragmented_send_waiter is not None
            or self.transport.is_closing()
        ):
            return False
        payload = message.encode()
        size = len(payload)
        if size < 126:
            head = bytes((_FIN_TEXT, 0x80 | size))
        elif size < 1 << 16:  # every client frame: the API caps a request at 5000 chars
            head = bytes((_FIN_TEXT, 0x80 | 126)) + size.to_bytes(2, "big")
        else:
            return False
        mask = secrets.token_bytes(4)
        self.transport.write(head + mask + apply_mask(payload, mask))
        return True

    def _handshake(self, data: bytes) -> bytes:
        """Give websockets the handshake response; return what follows it, if framed here."""
        if self._head is None:  # the handshake failed: websockets reads what is left
            super().data_received(data)
            return b""
        head = self._head + data
        end = head.find(b"\r\n\r\n")
        if end < 0:
            self._head = head
            super().data_received(data)
            return b""
        cut = end + 4 - len(self._head)  # where the response ends in ``data``
        super().data_received(data[:cut])
        if self.protocol.state is not State.OPEN:  # refused or failed: websockets reads on
            self._head = None
            super().data_received(data[cut:])
            return b""
        self._head = b""
        self._framing = True
        return data[cut:]

    def process_event(self, event: Event_) -> None:
        if (
            self.response is None
            or not isinstance(event, Frame)
            or event.opcode not in DATA_OPCODES
        ):
            super().process_event(event)  # the handshake response, pings, pongs, close
            return
        # a fragment (or a frame after a close): websockets parsed it and checked the rules
        if event.opcode is not Opcode.CONT:
            self._fragments.clear()
            self._text = event.opcode is Opcode.TEXT
        self._fragments.append(bytes(event.data))
        if event.fin:
            data = b"".join(self._fragments)
            self._fragments.clear()
            self._deliver(self._text, data)

    def _deliver(self, text: bool, data: bytes) -> None:
        if not text:
            self._on_message(data)
            return
        try:
            message = data.decode()
        except UnicodeDecodeError:
            # invalid UTF-8 in a text frame: hand it over as bytes, the protocol refuses it
            self._on_message(data)
            return
        self._on_message(message)


_FIN_TEXT = 0x80 | Opcode.TEXT.value  # FIN set, RSV bits clear
_FIN_DATA = frozenset((_FIN_TEXT, 0x80 | Opcode.BINARY.value))


def _push_connection(
    on_message: Callable[[str | bytes], None], on_protocol_error: Callable[[Exception], None]
) -> Any:
    """A ``create_connection`` factory for ``websockets.connect`` bound to the callbacks."""

    def create(*args: Any, **kwargs: Any) -> _PushConnection:
        return _PushConnection(
            *args, on_message=on_message, on_protocol_error=on_protocol_error, **kwargs
        )

    return create
