"""The :class:`Utterance` handle: push text in, iterate audio out, retried before audio.

What the caller holds for one utterance, whatever socket carries it. It owns the
caller's side — ``push_text``/``flush``/``end``/``cancel`` and ``async for`` — the retry
of an utterance whose socket failed before any audio reached the caller (replayed on a
fresh socket from its pool: :class:`~smallest_core.retry.Attempts`), and the stall
watchdog (a socket that owes frames after ``end()`` and sends none past
``finish_timeout`` is retired). It meets its :class:`~smallest_core.connection.StreamConnection`
only through a small API: ``attach``/``reattach``/``detach``/``send``/``cancel``/``retire``
one way, ``deliver``/``sent_texts``/``flush_points``/``state`` the other.

One utterance, end to end: ``Utterance.push_text`` → ``StreamConnection.send`` →
``Protocol.send_text`` builds the frame → ``WebSocket.send_text`` (transport.py) → the
server → ``WebSocket.data_received`` → ``StreamConnection._on_message`` →
``Protocol.receive_text`` → ``StreamConnection._dispatch`` → :meth:`Utterance.deliver` →
``async for`` yields it.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from .errors import RequestTimeoutError, SmallestError
from .events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from .metrics import UtteranceMetrics
from .options import TTSOptions, check_text
from .retry import Attempts, RetryPolicy
from .state import TERMINAL, Action, UtteranceState, transition

if TYPE_CHECKING:
    from .connection import StreamConnection

__all__ = ["Utterance"]

logger = logging.getLogger("smallest_core")


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
        # Every audio chunk passes here: identity tests, not a set lookup (an enum
        # member's hash is a Python call), and no coroutine for an event already queued.
        while True:
            state = self.state
            if state is _DONE or state is _CANCELLED or state is _FAILED:  # TERMINAL
                raise StopAsyncIteration
            inbox = self._inbox
            event = inbox.popleft() if inbox else await self._next_event()
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

_DONE, _CANCELLED, _FAILED = UtteranceState.DONE, UtteranceState.CANCELLED, UtteranceState.FAILED
assert frozenset({_DONE, _CANCELLED, _FAILED}) == TERMINAL
