"""ConnectionPool: warm WebSockets, shared by utterances, replaced before they go stale.

What the pool does, and why:

* **prewarm / warm spare** — the handshake costs a round trip (plus TLS on the real
  service); the pool opens a socket before the first utterance and keeps one idle spare,
  so neither the next utterance nor a retry after a dropped socket waits for a
  handshake. When an utterance takes the last idle socket, the new spare is opened once
  that utterance's first audio is out: its handshake never runs beside a request's
  first frames, when their latency counts.
* **refresh before the idle timeout** — the server closes a socket after ``timeout``
  seconds without a client message (docs/protocol.md §5.1). The pool asks for a known
  ``?timeout=`` and replaces idle sockets shortly before it expires, and sockets older
  than ``max_age``; it never synthesizes junk text to keep a socket alive.
* **replacement** — a socket the server closed (including a server that closes after
  every ``complete``, §9.1) is dropped and a new one opened on demand.
* **bounded concurrency** — at most ``max_connections`` sockets; in continuations mode
  at most ``max_utterances_per_connection`` utterances share one socket; callers wait
  for room instead of overrunning the account's limits.
* **retries** — utterances from the pool are retried on a fresh socket while they
  have produced no audio (see :class:`~smallest_core.utterance.Utterance`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import sys
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any

from .codec import resolve_base_url, ws_url
from .connection import StreamConnection
from .errors import (
    AuthenticationError,
    InvalidOptionError,
    InvalidState,
    RequestTimeoutError,
    SmallestError,
)
from .options import TTSOptions
from .protocol import MODES, EndRule, Mode
from .redact import mask_key, register_secret
from .retry import Attempts, RetryPolicy
from .transport import ConnectFn
from .utterance import Utterance
from .wire import API_KEY_ENV

__all__ = ["ConnectionPool"]

#: Seconds between a socket event (an utterance ended, a socket closed) and the
#: refresher's re-plan: see ``ConnectionPool._replan_soon``.
REPLAN_DELAY = 0.005

logger = logging.getLogger("smallest_core")


class ConnectionPool:
    """A pool of :class:`StreamConnection` sockets for one key and base URL.

    Args:
        api_key: the Bearer key; default ``$SMALLEST_API_KEY``.
        options: default :class:`TTSOptions` for utterances.
        base_url: the service or a local server (``ws://host:port``); http(s) URLs are
            taken too. Default ``$SMALLEST_BASE_URL``, else the real service.
        mode: ``"continuations"`` (default, multiplexed) or ``"flush"``.
        max_connections: the most sockets open at once.
        max_utterances_per_connection: continuations mode: utterances sharing a socket.
        idle_timeout: seconds requested with ``?timeout=`` (server default is 60).
        refresh_margin: replace an idle socket this many seconds before it would expire.
        max_age: replace sockets older than this (seconds) when they are idle.
        warm_spare: keep one idle socket ready beyond those in use (opened at rest, or
            after the first audio of the utterance that took the last idle one).
        retry: the retry policy for utterances that have not produced audio yet.
        connect: the socket factory (transport seam).
        headers: extra upgrade headers.
        end_rule: when a continuations utterance has ended; one :class:`EndRule` is
            shared by all the pool's sockets so they learn the server's reading together.
        ping_interval: seconds between WebSocket pings on each socket (liveness: a peer
            that answers none within ``ping_timeout`` fails the socket). None: no pings.
        ping_timeout: seconds to wait for a pong.
        open_timeout: seconds for opening one socket: TCP, TLS and the upgrade (an
            utterance's ``connect_timeout`` bounds its own wait instead).

    Raises:
        AuthenticationError: no key given and ``SMALLEST_API_KEY`` is unset.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        options: TTSOptions | None = None,
        base_url: str | None = None,
        mode: Mode = "continuations",
        max_connections: int = 8,
        max_utterances_per_connection: int = 16,
        idle_timeout: int = 60,
        refresh_margin: float = 5.0,
        max_age: float = 1800.0,
        warm_spare: bool = True,
        retry: RetryPolicy | None = None,
        connect: ConnectFn | None = None,
        headers: Mapping[str, str] | None = None,
        end_rule: EndRule | None = None,
        ping_interval: float | None = 5.0,
        ping_timeout: float = 5.0,
        open_timeout: float = 10.0,
    ) -> None:
        key = api_key or os.environ.get(API_KEY_ENV)
        if not key:
            raise AuthenticationError(
                f"no API key: pass api_key= or set {API_KEY_ENV}", status_code=None
            )
        if max_connections < 1:
            raise InvalidOptionError("max_connections", max_connections, "an integer >= 1")
        self._api_key = key
        self._secret = register_secret(key)  # redacted while this pool lives
        self.options = options or TTSOptions()
        self.base_url = resolve_base_url(base_url)
        ws_url(self.base_url, idle_timeout)  # a bad URL or timeout fails here, not at connect
        if mode not in MODES:
            raise InvalidOptionError("mode", mode, " or ".join(MODES))
        self.mode: Mode = mode
        self.max_connections = max_connections
        self.max_per_connection = max_utterances_per_connection
        self.idle_timeout = idle_timeout
        # A margin larger than the timeout itself would refresh continuously.
        self.refresh_margin = min(refresh_margin, idle_timeout / 2)
        self.max_age = max_age
        self.warm_spare = warm_spare
        self.retry = retry if retry is not None else RetryPolicy()
        self._connect = connect
        self._headers = dict(headers or {})
        self.end_rule = end_rule if end_rule is not None else EndRule()
        self._pings = (ping_interval, ping_timeout)
        self.open_timeout = open_timeout
        self._conns: list[StreamConnection] = []
        self._opening = 0
        self._changed = asyncio.Condition()
        self._waiting = 0  # callers waiting on _changed for room (see _notify_soon)
        self._notifying = False  # a notify task is pending
        self._freed = 0  # socket events since, each worth one wake-up (see _notify_soon)
        self._background: set[asyncio.Task[None]] = set()
        self._closing: set[asyncio.Task[None]] = set()  # sockets being closed: awaited
        self._refresher: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()
        self._replan: asyncio.TimerHandle | None = None  # see _replan_soon
        self._closed = False
        self._listeners: list[
            tuple[
                Callable[[StreamConnection], None] | None,
                Callable[[StreamConnection, SmallestError], None] | None,
            ]
        ] = []
        self.connections_opened = 0

    # -- public API -------------------------------------------------------------------
    async def prewarm(self) -> None:
        """Open a socket now, and the warm spare, so the first utterance does not wait.

        Raises:
            SmallestError: the socket could not be opened (bad key, server down...).
        """
        self._check_open()
        async with self._changed:
            if not self._usable():
                await self._open_locked()
            # The first utterance takes a socket: open its spare now as well (it has no
            # earlier utterance whose first audio would open it), so a retry of that
            # utterance finds a socket open.
            if self.warm_spare and len(self._idle()) < 2 and self._has_room():
                with contextlib.suppress(SmallestError):  # a spare is best effort
                    await self._open_locked()
        self._ensure_refresher()

    async def utterance(
        self,
        request_id: str | None = None,
        *,
        options: TTSOptions | None = None,
        finish_timeout: float = 5.0,
        retry: RetryPolicy | None = None,
        connect_timeout: float | None = None,
    ) -> Utterance:
        """Start an utterance on a pooled socket, waiting for room if the pool is full.

        ``retry`` overrides the pool's policy for this utterance (a framework's per-call
        retry settings); ``options`` and ``finish_timeout`` are this utterance's own too.
        ``connect_timeout`` is a framework's budget for reaching the API: it bounds each
        attempt to get a socket — waiting for room, TCP, TLS and the upgrade — and a
        timed-out attempt is retried under the policy like any other failure.

        Raises:
            SmallestError: no socket could be opened (after retries for retryable errors).
            RequestTimeoutError: no socket within ``connect_timeout`` (on the last attempt).
            InvalidState: the pool is closed.
        """
        self._check_open()
        # One bookkeeping for the whole utterance: a refused or failed connect before it
        # starts and a failure before its first audio draw on the same attempts.
        attempts = Attempts(
            retry if retry is not None else self.retry,
            time.monotonic(),
            what=f"utterance {request_id or '(new)'}",
        )
        while True:
            err: SmallestError
            try:
                async with asyncio.timeout(connect_timeout):
                    conn = await self._acquire()
                break
            except SmallestError as exc:  # refused, unreachable, the open's own timeout
                err = exc
            except TimeoutError:  # the caller's connect budget ran out
                err = RequestTimeoutError(
                    f"no socket within the {connect_timeout:g} s connect timeout",
                    request_id=request_id,
                )
            delay = attempts.next_delay(err, time.monotonic())  # raises when final
            logger.info("opening a socket again in %.3f s after %s", delay, str(err))
            if delay > 0:
                await asyncio.sleep(delay)  # backoff, not synchronisation
        # Whoever takes the last idle socket opens the spare, once its first audio is
        # out: not now, beside this request's first frames (on both ends), when latency
        # counts. With an idle socket left there is no hook at all: nothing runs between
        # the first chunk and the caller but the chunk's own path.
        last_idle = self.warm_spare and not self._idle_besides(conn)
        utt = conn.utterance(
            request_id,
            options=options or self.options,
            attempts=attempts,
            reacquire=self._replace,
            finish_timeout=finish_timeout,
            on_first_audio=self._spare_soon if last_idle else None,
        )
        self._ensure_refresher()
        return utt

    def add_socket_listener(
        self,
        *,
        on_open: Callable[[StreamConnection], None] | None = None,
        on_close: Callable[[StreamConnection, SmallestError], None] | None = None,
    ) -> Callable[[], None]:
        """Be told when the pool opens a socket and when one closes (for any reason).

        For a framework's connection events (Pipecat's ``on_connected`` /
        ``on_disconnected``). ``on_close`` gets the error the socket's utterances got
        (``ConnectionLostError`` for a normal close). Callbacks run on the event loop and
        must not block. Returns a function that removes the listener.
        """
        entry = (on_open, on_close)
        self._listeners.append(entry)

        def remove() -> None:
            if entry in self._listeners:
                self._listeners.remove(entry)

        return remove

    @property
    def connections(self) -> list[StreamConnection]:
        """The sockets currently in the pool (open or about to be dropped)."""
        return list(self._conns)

    async def aclose(self) -> None:
        """Close every socket and stop background work; running utterances end with an error."""
        self._closed = True
        if self._replan is not None:
            self._replan.cancel()
            self._replan = None
        tasks = list(self._background)
        if self._refresher is not None:
            tasks.append(self._refresher)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        conns, self._conns = self._conns, []
        await asyncio.gather(*(c.aclose() for c in conns), *self._closing, return_exceptions=True)
        async with self._changed:
            self._changed.notify_all()

    async def __aenter__(self) -> ConnectionPool:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    # -- acquiring --------------------------------------------------------------------
    def _check_open(self) -> None:
        if self._closed:
            raise InvalidState("the pool is closed")

    def _stale(self, conn: StreamConnection) -> bool:
        if conn.closed:
            return True
        if conn.active:
            return False
        expires_in = self.idle_timeout - conn.idle_for()
        return expires_in <= self.refresh_margin or conn.age() >= self.max_age

    def _prune(self) -> None:
        for conn in [c for c in self._conns if self._stale(c)]:
            self._conns.remove(conn)
            self._retire(conn)

    def _usable(self, request_id: str | None = None) -> StreamConnection | None:
        """The open socket with the fewest utterances that can take one more (and, for a
        retry, has not used ``request_id``: an id is opened at most once per socket, so
        this also keeps the retry off the socket that just failed it); the first such
        socket on a tie. Stale sockets are pruned on the way (as :meth:`_prune`).

        One pass over the sockets: every utterance a pool starts comes through here,
        hundreds at once when a burst of streams starts together.
        """
        stale: list[StreamConnection] = []
        best: StreamConnection | None = None
        # continuations: room below the per-socket limit; flush mode has no such limit
        fewest = self.max_per_connection if self.mode == "continuations" else sys.maxsize
        for conn in self._conns:
            if self._stale(conn):
                stale.append(conn)
                continue
            active = conn.active
            if active >= fewest:
                continue  # full, or no better than the best so far
            if request_id and conn.knows(request_id):
                continue
            if conn.can_open():
                best, fewest = conn, active
        for conn in stale:
            self._conns.remove(conn)
            self._retire(conn)
        return best

    async def _acquire(self, request_id: str | None = None) -> StreamConnection:
        async with self._changed:
            while True:
                self._check_open()
                conn = self._usable(request_id)
                if conn is not None:
                    return conn
                if self._has_room():
                    return await self._open_locked()
                self._waiting += 1
                try:
                    await self._changed.wait()  # an utterance finished or a socket closed
                except BaseException:
                    # Leaving (cancelled, timed out): a wake-up meant for room this
                    # caller will not take must not be lost; pass one on (a waiter woken
                    # for nothing only looks again). The condition is held again here.
                    self._changed.notify(1)
                    raise
                finally:
                    self._waiting -= 1

    async def _open_locked(self) -> StreamConnection:
        """Open a socket; called with the condition held (released while connecting)."""
        self._opening += 1
        self._changed.release()
        try:
            conn = StreamConnection(
                api_key=self._api_key,
                options=self.options,
                base_url=self.base_url,
                mode=self.mode,
                idle_timeout=self.idle_timeout,
                connect=self._connect,
                headers=self._headers,
                end_rule=self.end_rule,
                ping_interval=self._pings[0],
                ping_timeout=self._pings[1],
                open_timeout=self.open_timeout,
                on_idle=self._notify_soon,
                on_closed=self._socket_closed,
            )
            await conn.connect()
        finally:
            await self._changed.acquire()
            self._opening -= 1
        self._conns.append(conn)
        self.connections_opened += 1
        # As many waiters as the new socket has room for, not all of them: hundreds of
        # callers starting at once wait here while the pool opens its sockets, and each
        # wake-up re-checks every socket.
        self._changed.notify(self.max_per_connection if self.mode == "continuations" else 1)
        for on_open, _ in list(self._listeners):
            if on_open is not None:
                on_open(conn)
        return conn

    def _socket_closed(self, conn: StreamConnection, error: SmallestError) -> None:
        for _, on_close in list(self._listeners):
            if on_close is not None:
                on_close(conn, error)

    async def _replace(self, previous: StreamConnection, request_id: str) -> StreamConnection:
        """A retry of ``request_id`` wants a fresh socket: one that has not used the id
        (not ``previous``, nor any earlier attempt's). ``previous`` is dropped only if it
        failed — an error that concerned one utterance (an error frame with its id) leaves
        it healthy for the utterances still streaming on it.
        """
        async with self._changed:
            if previous.closed and previous in self._conns:
                self._conns.remove(previous)
                self._retire(previous)
        return await self._acquire(request_id)

    def _notify_soon(self) -> None:
        """Wake waiters (an utterance finished on some socket, or a socket closed).

        A task takes the condition and wakes one waiter per event, only when a caller is
        waiting for room, one task for all events until it runs: every utterance that
        ends comes here, and most of the time nobody waits (a task is then work on the
        loop for nothing, right when the utterance's caller is being handed its end or
        error).
        """

        async def notify() -> None:
            async with self._changed:
                freed, self._freed = self._freed, 0
                self._notifying = False
                self._changed.notify(freed)

        if not self._closed:
            self._replan_soon()  # the refresher re-plans: a socket became idle or closed
            if self._waiting:
                # One waiter per event: an utterance that left frees one place; a socket
                # that closed makes room for one more socket (whoever opens it wakes as
                # many as it holds).
                self._freed += 1
                if not self._notifying:
                    self._notifying = True
                    self._spawn(notify())

    # -- background upkeep ------------------------------------------------------------
    def _replan_soon(self) -> None:
        """Have the refresher re-plan :data:`REPLAN_DELAY` from now, once for every
        socket event until then.

        A re-plan prunes closed sockets (closing them in the background) and, at rest,
        opens the warm spare: upkeep that need not run within the very loop steps in
        which a socket's end or an utterance's completion is being handed to callers
        (a framework's own task hops follow it there). Coalescing also makes a burst of
        utterances ending together one re-plan, not one each. Nothing waits on it:
        acquiring prunes stale sockets itself, and waiters for room are woken at once.
        """
        if self._replan is None:
            self._replan = asyncio.get_running_loop().call_later(REPLAN_DELAY, self._do_replan)

    def _do_replan(self) -> None:
        self._replan = None
        self._poke.set()

    def _retire(self, conn: StreamConnection) -> None:
        """Close a dropped socket in the background; ``aclose()`` waits for it."""
        task = asyncio.get_running_loop().create_task(conn.aclose())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    def _idle(self) -> list[StreamConnection]:
        """Open sockets with no utterance on them."""
        return [c for c in self._conns if not c.closed and c.active == 0]

    def _idle_besides(self, conn: StreamConnection | None = None) -> bool:
        """Whether an open socket other than ``conn`` has no utterance on it (stops at
        the first; busy sockets cost one length check)."""
        return any(c is not conn and not c.active and not c.closed for c in self._conns)

    def _has_room(self) -> bool:
        """Whether one more socket may be opened (counting those being opened)."""
        return len(self._conns) + self._opening < self.max_connections

    def _spare_soon(self) -> None:
        """An utterance's first audio went out: open the spare in the next loop step,
        after the caller has handled that audio."""
        if not self._closed:
            asyncio.get_running_loop().call_soon(self._ensure_spare)

    def _ensure_spare(self) -> None:
        """Open a socket in the background if no idle one is left."""
        if not self.warm_spare or self._closed:
            return
        if self._opening or not self._has_room() or self._idle_besides():
            return

        async def open_spare() -> None:
            with contextlib.suppress(Exception):  # a spare is best effort
                async with self._changed:
                    if self._has_room() and not self._idle_besides():
                        await self._open_locked()

        self._spawn(open_spare())

    def _ensure_refresher(self) -> None:
        if self._refresher is None or self._refresher.done():
            self._refresher = asyncio.get_running_loop().create_task(self._refresh_loop())

    async def _refresh_loop(self) -> None:
        """Replace idle sockets shortly before the server's idle timeout would close them."""
        while not self._closed:
            async with self._changed:
                before = len(self._conns)
                self._prune()
                if len(self._conns) < before:
                    self._changed.notify_all()
                next_check = self._next_refresh_in()
            # At rest, replace what was pruned. While utterances run, the spare is opened
            # by the first audio of the one that took the last idle socket (_spare_soon):
            # a handshake here could land beside that utterance's first frames.
            if not any(c.active for c in self._conns):
                self._ensure_spare()
            # Wake when the earliest idle socket is due, or when a socket's state changes.
            self._poke.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._poke.wait(), next_check)

    def _next_refresh_in(self) -> float:
        horizon = self.idle_timeout - self.refresh_margin
        waits = [max(0.05, horizon - c.idle_for()) for c in self._conns if not c.active]
        return min(waits, default=max(0.05, horizon))

    def __repr__(self) -> str:
        return (
            f"ConnectionPool({self.base_url!r}, mode={self.mode!r}, "
            f"connections={len(self._conns)}, key={mask_key(self._api_key)})"
        )
