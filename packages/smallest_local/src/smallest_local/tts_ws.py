"""The WebSocket ``/waves/v1/tts/live`` (docs/protocol.md §5 and the continuations of §12).

One :class:`Session` per socket. Its receive loop validates each JSON frame and hands it
to one of two request models:

* **flush mode** (no ``context_id``, §5.2): text is buffered per ``request_id`` and
  released at sentence ends, on ``flush``, after ``max_buffer_flush_ms`` or on the final
  frame (``continue: false``). Released jobs are synthesized *in order* by one worker
  per socket; ``complete`` follows ``complete_backoff_ms`` of quiet after the last chunk,
  so a burst of back-to-back requests gets a single ``complete`` carrying the latest
  request's ids (§5.4, §9.2).
* **continuations** (``context_id``, §12): each context buffers and releases on its own
  task, concurrently with other contexts; ``cancel_request`` stops that context's frames
  (and drops its pending releases) at once. What a context's answer looks like depends on
  the server's :class:`~smallest_local.config.Dialect` (``ServerConfig.dialect``):
  ``context`` — one server request and one ``complete`` after the closing fragment and
  all of its audio; ``release-ids`` — every sentence release is its own server request
  (fresh ``request_id``, word ids and times from 0), still one ``complete``; ``release``
  — additionally one ``complete`` per release and nothing marking the last; ``-bare`` —
  ``context_id`` never echoed. Releases of one context are produced in order, separated
  by ``release_gap_ms``, even when later text (and the closing fragment) arrived while
  an earlier release was still being generated.

Every frame of a request carries ``session_id``, the server ``request_id`` and the
client's ids echoed as ``external_*`` / ``context_id``. Idle sockets get the documented
timeout error frame and are closed (§5.1). Scripted faults act between chunks.

Bounded under abuse: all fragments of a request or context together, and what remains
after pronunciation dictionaries, stay within ``max_text_chars``; at most
``max_open_requests`` requests are open per socket; a send blocked for
``write_timeout_s`` (a client that stopped reading) stops the socket's syntheses, frees
their concurrency units and closes it with 1008; the idle timeout fires even while a send
is blocked; a failure inside one synthesis is an ``INTERNAL_ERROR`` frame for that
request (logged once with its id) and the socket keeps serving.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

from .faults import CONNECTION_KINDS, SYNTHESIS_KINDS, Fault, FaultKind
from .state import STATE, ServerState
from .synth import Pacer, chunk_bytes, render_stream, spoken_text, too_long_after_dictionaries
from .tts_http import LIVE_PATH, check_references, reset_connection
from .wire import (
    RequestError,
    TTSRequest,
    audio_frames,
    complete_frame,
    error_frame,
    ids,
    loads_json,
    parse_request,
    short,
    word_frame,
)

__all__ = ["Session", "add_routes"]

logger = logging.getLogger("smallest_local")

# A sentence may be released once its end is followed by whitespace (so "3." + "14"
# arriving in two fragments is not cut).
#: Longest wait for a close handshake (or the idle-timeout frame) before the TCP
#: connection is aborted instead: a client that does not read never answers.
CLOSE_GRACE_S = 1.0
#: Close code for a client dropped because it stopped reading (policy violation).
CLOSE_NOT_READING = 1008
#: Largest ``?timeout=`` accepted, in seconds (one day).
MAX_IDLE_TIMEOUT_S = 86_400

_SENTENCE_END = re.compile(r"[.!?…。！？।]+[\"')\]]*\s+")


def _first_release_point(text: str) -> int:
    """Index just after the first complete sentence in ``text`` (0: none)."""
    match = _SENTENCE_END.search(text)
    return match.end() if match else 0


def _release_point(text: str) -> int:
    """Index just after the last complete sentence in ``text`` (0: none)."""
    end = 0
    for match in _SENTENCE_END.finditer(text):
        end = match.end()
    return end


class _SessionOver(Exception):
    """The socket closed, aborted or was closed by a fault: stop everything."""


class _RequestFailed(Exception):
    """A fault ended this request with an error frame."""


@dataclass(eq=False)
class _Request:
    """One client request (flush mode) or context (continuations) as it progresses."""

    req: TTSRequest
    server_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    buffer: str = ""
    first_buffered_at: float | None = None
    flush_requested: bool = False
    closed: bool = False
    had_audio: bool = False
    failed: bool = False
    words_sent: int = 0
    audio_seconds: float = 0.0
    chunks_sent: int = 0
    samples_sent: int = 0
    faults: list[Fault] | None = None
    faults_done: set[int] = field(default_factory=set)
    releases: int = 0
    release_done_at: float | None = None
    received_chars: int = 0
    spoken_chars: int = 0
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None

    def add_text(self, text: str, now: float) -> None:
        if text and self.first_buffered_at is None:
            self.first_buffered_at = now
        self.buffer += text
        self.received_chars += len(text)

    def take(self, upto: int | None = None) -> str:
        """Remove and return the first ``upto`` characters of the buffer (all if None)."""
        upto = len(self.buffer) if upto is None else upto
        out, self.buffer = self.buffer[:upto], self.buffer[upto:]
        self.first_buffered_at = None if not self.buffer else self.first_buffered_at
        return out


@dataclass(eq=False)
class _Job:
    """Flush mode: one released piece of text of a request, synthesized in order."""

    request: _Request
    text: str
    ends_request: bool


class Session:
    """One WebSocket connection: receive loop, request models, serialised sends."""

    def __init__(
        self,
        state: ServerState,
        ws: web.WebSocketResponse,
        request: web.Request,
        key: str,
        *,
        idle_timeout: float,
        close_after_complete: bool,
        idle_between_requests: bool = False,
    ) -> None:
        self.state = state
        self.ws = ws
        self.http_request = request
        self.key = key
        self.idle_timeout = idle_timeout
        self.idle_between_requests = idle_between_requests
        self.close_after_complete = close_after_complete
        self.session_id = f"ws_{uuid.uuid4()}"
        self._send_lock = asyncio.Lock()
        self._over = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self.dialect = state.config.dialect_spec
        self._release_gap = state.config.release_gap_ms / 1000
        self.write_timeout = state.config.write_timeout_s
        self.max_open = state.config.max_open_requests
        self.max_text = state.config.max_text_chars
        # flush mode
        self._buffers: dict[str | None, _Request] = {}
        self._jobs: asyncio.Queue[_Job] = asyncio.Queue()
        self._worker: asyncio.Task[None] | None = None
        self._draining = False  # the worker holds a job or a complete still to send
        self._timers: dict[str | None, asyncio.TimerHandle] = {}
        # continuations
        self._contexts: dict[str, _Request] = {}
        self._closer: asyncio.Task[Any] | None = None

    # -- sending ----------------------------------------------------------------------
    async def send(self, frame: str) -> None:
        """Send one text frame; raise :class:`_SessionOver` once the socket is gone.

        A send that cannot wait (see :meth:`_sends_at_once`) is written straight away;
        any other queues on the socket's lock under ``write_timeout`` (a client that
        stopped reading). The two give the same frames in the same order: the first
        only skips a timer and a lock that could not come into play (every audio chunk
        of every stream takes this path, so those were a fifth of the server's CPU).
        """
        if self._over.is_set() or self.ws.closed:
            raise _SessionOver
        try:
            if not self._send_lock.locked() and self._sends_at_once(len(frame)):
                await self.ws.send_str(frame)
            else:
                async with asyncio.timeout(self.write_timeout), self._send_lock:
                    await self.ws.send_str(frame)
        except TimeoutError:
            await self._drop_slow_client()
        except (ConnectionError, RuntimeError) as exc:
            self._over.set()
            raise _SessionOver from exc
        self.state.stats.frames_sent += 1

    def _sends_at_once(self, size: int) -> bool:
        """Whether sending ``size`` more characters cannot make the send wait.

        aiohttp's send waits only while the transport has paused writing (its buffer
        went over the high-water mark and has not drained to the low one yet), or to
        compress a large frame. So it cannot wait when nothing is compressed, the
        buffer is at most the low-water mark (not paused: a paused transport resumes as
        soon as it drains that far) and stays within the high one after this frame (no
        pause now). Only public asyncio transport calls.
        """
        transport = self.http_request.transport
        if transport is None or self.ws.compress:
            return False
        buffered = transport.get_write_buffer_size()
        low, high = transport.get_write_buffer_limits()
        # a text frame: UTF-8 is at most 4 bytes a character, the header at most 10
        return buffered <= low and buffered + 4 * size + 10 <= high

    async def _drop_slow_client(self) -> None:
        """A send waited ``write_timeout_s``: the client stopped reading. Close it (1008)."""
        if not self._over.is_set():
            self._over.set()
            self._closer = asyncio.current_task()
            self.state.stats.slow_clients_dropped += 1
            logger.info(
                "WS %s: client not reading for %ss; closing (%d)",
                self.session_id,
                self.write_timeout,
                CLOSE_NOT_READING,
            )
            # The close frame is queued behind what the client does not read, so the
            # connection is reset after it: nothing more is held for this client.
            await self._close_bounded(CLOSE_NOT_READING, b"client not reading", reset=True)
        raise _SessionOver

    async def _close_bounded(self, code: int, message: bytes, *, reset: bool = False) -> None:
        """Close with ``code``; reset the TCP connection if that cannot finish.

        A reset (RST) follows when ``reset`` is asked, when the close handshake takes over
        :data:`CLOSE_GRACE_S`, or when bytes are still waiting for the client afterwards.
        """
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await self.ws.close(code=code, message=message)
        except TimeoutError:
            reset = True
        except asyncio.CancelledError:
            task = asyncio.current_task()
            if task is not None and task.cancelling():  # a real cancellation
                reset_connection(self.http_request)
                raise
            # Not us being cancelled: aiohttp's drain waiter, cancelled along with an
            # earlier timed-out send, fails every later drain on this connection.
            reset = True
        transport = self.http_request.transport
        if reset or (transport is not None and transport.get_write_buffer_size() > 0):
            reset_connection(self.http_request)

    def _ids(self, server_request_id: str | None, req: TTSRequest | None) -> dict[str, Any]:
        return ids(
            self.session_id, server_request_id, req, echo_context_id=self.dialect.echo_context_id
        )

    async def _close(self, code: int, message: bytes) -> None:
        """Close the socket from a worker task; the receive loop then winds down."""
        self._over.set()
        self._closer = asyncio.current_task()
        await self.ws.close(code=code, message=message)
        raise _SessionOver

    async def _send_error(
        self, message: str, code: str, req: TTSRequest | None, server_request_id: str | None = None
    ) -> None:
        head = self._ids(server_request_id, req)
        with contextlib.suppress(_SessionOver):  # the client is gone: nobody to tell
            await self.send(error_frame(head, message, code))

    # -- receive loop -----------------------------------------------------------------
    async def run(self) -> None:
        """Serve the socket until the client leaves, a fault closes it or it idles out."""
        try:
            while not self._over.is_set():
                try:
                    msg = await self.ws.receive(timeout=self.idle_timeout)
                except TimeoutError:
                    if self.idle_between_requests and self._busy():
                        continue  # the fault's clock counts only a socket with nothing open
                    await self._idle_timeout()
                    break
                if msg.type is WSMsgType.TEXT:
                    self.state.stats.frames_received += 1
                    await self._on_text(msg.data)
                elif msg.type is WSMsgType.BINARY:
                    self.state.stats.frames_received += 1
                    await self._send_error(
                        "Binary frames are not supported; send JSON text frames.",
                        "INVALID_FRAME",
                        None,
                    )
                else:  # CLOSE / CLOSING / CLOSED / ERROR (e.g. a frame over the size limit)
                    break
        except _SessionOver:
            pass
        finally:
            await self._shutdown()

    async def _idle_timeout(self) -> None:
        seconds = self.idle_timeout
        shown = int(seconds) if float(seconds).is_integer() else seconds
        # §5.1: the documented text, with the configured number. Bounded: a send blocked
        # by a client that does not read must not hold the timeout back.
        message = f"Connection timed out after {shown} seconds of inactivity"
        try:
            async with asyncio.timeout(CLOSE_GRACE_S):
                await self._send_error(message, "IDLE_TIMEOUT", None)
        except TimeoutError:  # the client does not read: a close frame would not get out
            self._over.set()
            reset_connection(self.http_request)
            return
        self._over.set()
        await self._close_bounded(1000, b"idle timeout")

    async def _shutdown(self) -> None:
        self._over.set()
        tasks = [r.task for r in self._contexts.values() if r.task is not None]
        if self._worker is not None:
            tasks.append(self._worker)
        for task in tasks:
            if task is not self._closer:  # let a fault's close handshake finish
                task.cancel()
        for timer in self._timers.values():
            timer.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if not self.ws.closed:
            await self._close_bounded(1000, b"")

    async def _on_text(self, data: str) -> None:
        try:
            body: Any = loads_json(data)
        except RequestError as exc:
            await self._send_error(exc.message, exc.code, None)
            return
        try:
            req = parse_request(
                body, max_text_chars=self.state.config.max_text_chars, websocket=True
            )
            check_references(self.state, req)
        except RequestError as exc:
            await self._send_error(exc.message, exc.code, _echo_ids(body))
            return
        if req.context_id is not None:
            await self._on_context_frame(req)
        else:
            await self._on_flush_frame(req)

    # -- continuations (§12) ----------------------------------------------------------
    async def _on_context_frame(self, req: TTSRequest) -> None:
        assert req.context_id is not None
        ctx = self._contexts.get(req.context_id)
        if req.cancel_request:
            if ctx is not None:
                # Stop its frames at once: nothing of this context is sent after this.
                del self._contexts[req.context_id]
                if ctx.task is not None:
                    ctx.task.cancel()
                self.state.stats.syntheses_cancelled += 1
            return
        if ctx is not None and ctx.closed:
            await self._send_error(
                f"Context {req.context_id!r} is closed; use a new context_id.",
                "CONTEXT_CLOSED",
                req,
                ctx.server_request_id,
            )
            return
        if ctx is None:
            if self._open_requests() >= self.max_open:
                await self._send_error(*self._too_many(), req)
                return
            ctx = _Request(req)
            self._contexts[req.context_id] = ctx
            ctx.task = asyncio.create_task(self._run_context(ctx))
        if ctx.received_chars + len(req.text) > self.max_text:
            # Over the limit across fragments: the whole context is refused.
            del self._contexts[req.context_id]
            if ctx.task is not None:
                ctx.task.cancel()
            await self._send_error(
                self._too_long_message(ctx.received_chars + len(req.text)),
                "INVALID_REQUEST",
                req,
                ctx.server_request_id,
            )
            return
        ctx.req = req
        ctx.add_text(req.text, self._loop.time())
        if req.flush:
            ctx.flush_requested = True
        if not req.continue_:
            ctx.closed = True
        ctx.wake.set()

    async def _run_context(self, ctx: _Request) -> None:
        dialect = self.dialect
        try:
            while True:
                text = self._context_release(ctx)
                if text is None:
                    if ctx.closed and not ctx.buffer:
                        break
                    await self._wait_for_text(ctx)
                    continue
                if not text.strip():
                    continue
                if dialect.release_ids:
                    await self._start_release(ctx)
                chunks_before = ctx.chunks_sent
                await self._synthesize(ctx, text)
                if dialect.complete_per_release and ctx.chunks_sent > chunks_before:
                    await self._send_complete(ctx)
                ctx.release_done_at = self._loop.time()
            if ctx.had_audio and not dialect.complete_per_release:
                await self._complete_after_backoff(ctx)
        except (_SessionOver, _RequestFailed):
            pass
        finally:
            if self._contexts.get(ctx.req.context_id or "") is ctx:
                del self._contexts[ctx.req.context_id or ""]

    async def _start_release(self, ctx: _Request) -> None:
        """``release*`` dialects: the next release is a new server request (§12).

        A fresh server ``request_id``, word ids and times from 0 again; its first chunk
        comes no sooner than ``release_gap_ms`` after the previous release ended.
        """
        if ctx.releases:
            ctx.server_request_id = str(uuid.uuid4())
            ctx.words_sent = 0
            ctx.audio_seconds = 0.0
            if ctx.release_done_at is not None:
                delay = ctx.release_done_at + self._release_gap - self._loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
        ctx.releases += 1

    def _context_release(self, ctx: _Request) -> str | None:
        """What the context may synthesize now, or None to keep waiting.

        ``context`` dialect: everything up to the last sentence end (or all of it when
        closed, flushed or held ``max_buffer_delay_ms``). ``release*`` dialects: one
        sentence at a time, so each sentence is its own release.
        """
        if not ctx.buffer:
            ctx.flush_requested = False
            return None
        if self.dialect.release_ids:
            point = _first_release_point(ctx.buffer)
            if point and point < len(ctx.buffer):
                return ctx.take(point)
            if point or ctx.closed or ctx.flush_requested or self._delay_expired(ctx):
                ctx.flush_requested = False
                return ctx.take()
            return None
        if ctx.closed or ctx.flush_requested:
            ctx.flush_requested = False
            return ctx.take()
        if self._delay_expired(ctx):
            return ctx.take()
        point = _release_point(ctx.buffer)
        return ctx.take(point) if point else None

    def _delay_expired(self, ctx: _Request) -> bool:
        """The context's oldest buffered text has waited ``max_buffer_delay_ms``."""
        if ctx.first_buffered_at is None:
            return False
        waited_ms = (self._loop.time() - ctx.first_buffered_at) * 1000
        return waited_ms >= ctx.req.max_buffer_delay_ms

    async def _wait_for_text(self, ctx: _Request) -> None:
        ctx.wake.clear()
        timeout = None
        if ctx.buffer and ctx.first_buffered_at is not None:
            deadline = ctx.first_buffered_at + ctx.req.max_buffer_delay_ms / 1000
            timeout = max(0.0, deadline - self._loop.time())
        with contextlib.suppress(TimeoutError):  # the delay expired: release anyway
            await asyncio.wait_for(ctx.wake.wait(), timeout)

    def _open_requests(self) -> int:
        """Requests this socket holds: contexts, flush buffers and queued releases."""
        return len(self._contexts) + len(self._buffers) + self._jobs.qsize()

    def _busy(self) -> bool:
        """Whether the socket still owes a client audio or a ``complete``."""
        return self._draining or self._open_requests() > 0

    def _too_many(self) -> tuple[str, str]:
        return (
            f"Too many open requests on this socket: at most {self.max_open} "
            "(contexts, buffered and queued requests); finish or cancel some first.",
            "TOO_MANY_REQUESTS",
        )

    def _too_long_message(self, total: int) -> str:
        return (
            f"The 'text' field is too long: {total} characters across this request's "
            f"fragments (maximum {self.max_text})."
        )

    # -- flush mode (§5.2, §5.4) ------------------------------------------------------
    async def _on_flush_frame(self, req: TTSRequest) -> None:
        key = req.request_id
        request = self._buffers.get(key)
        if request is None:
            if self._open_requests() >= self.max_open:
                await self._send_error(*self._too_many(), req)
                return
            request = _Request(req)
            self._buffers[key] = request
        if request.received_chars + len(req.text) > self.max_text:
            del self._buffers[key]
            self._cancel_timer(key)
            request.failed = True  # releases already queued are skipped
            await self._send_error(
                self._too_long_message(request.received_chars + len(req.text)),
                "INVALID_REQUEST",
                req,
                request.server_request_id,
            )
            return
        request.req = req
        request.add_text(req.text, self._loop.time())
        if not req.continue_:
            del self._buffers[key]
            self._cancel_timer(key)
            self._enqueue(request, request.take(), ends_request=True)
        elif req.flush:
            self._cancel_timer(key)
            self._enqueue(request, request.take(), ends_request=False)
        else:
            point = _release_point(request.buffer)
            if point:
                self._enqueue(request, request.take(point), ends_request=False)
            if request.buffer and req.max_buffer_flush_ms > 0 and key not in self._timers:
                self._timers[key] = self._loop.call_later(
                    req.max_buffer_flush_ms / 1000, self._flush_timer, key
                )

    def _flush_timer(self, key: str | None) -> None:
        self._timers.pop(key, None)
        request = self._buffers.get(key)
        if request is not None and request.buffer:
            self._enqueue(request, request.take(), ends_request=False)

    def _cancel_timer(self, key: str | None) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _enqueue(self, request: _Request, text: str, *, ends_request: bool) -> None:
        self._jobs.put_nowait(_Job(request, text, ends_request))
        if self._worker is None or self._worker.done():
            self._worker = asyncio.create_task(self._run_jobs())

    async def _run_jobs(self) -> None:
        pending_complete: _Request | None = None
        try:
            while True:
                if pending_complete is not None and self._jobs.empty():
                    backoff = pending_complete.req.complete_backoff_ms / 1000
                    try:
                        job = await asyncio.wait_for(self._jobs.get(), backoff)
                    except TimeoutError:
                        await self._send_complete(pending_complete)
                        pending_complete = None
                        continue
                else:
                    self._draining = False
                    job = await self._jobs.get()
                self._draining = True
                request = job.request
                if request.failed:
                    continue
                if job.text.strip():
                    try:
                        await self._synthesize(request, job.text)
                    except _RequestFailed:
                        continue
                if job.ends_request and request.had_audio:
                    # §5.4: a later request inside the backoff window postpones this
                    # complete; the burst then ends with one complete (latest ids).
                    pending_complete = request
        except _SessionOver:
            pass

    # -- synthesis and completion -----------------------------------------------------
    async def _synthesize(self, request: _Request, text: str) -> None:
        """Render ``text`` and stream it as chunk (+ word) frames of ``request``.

        Any failure inside becomes an error frame for this request (``_RequestFailed``);
        only the socket ending (``_SessionOver``) or cancellation propagate otherwise.
        """
        try:
            await self._synthesize_unguarded(request, text)
        except (_SessionOver, _RequestFailed):
            raise
        except Exception as exc:
            request.failed = True
            self.state.stats.internal_errors += 1
            logger.error(
                "WS %s: synthesis failed for request %s: %r",
                self.session_id,
                request.req.client_id or request.server_request_id,
                exc,
            )
            await self._send_error(
                "Synthesis failed.", "INTERNAL_ERROR", request.req, request.server_request_id
            )
            raise _RequestFailed from None

    async def _synthesize_unguarded(self, request: _Request, text: str) -> None:
        state = self.state
        req = request.req
        spoken = await spoken_text(state, text, req)
        request.spoken_chars += len(spoken)
        if request.spoken_chars > self.max_text:
            request.failed = True
            exc = too_long_after_dictionaries(request.spoken_chars, self.max_text)
            await self._send_error(exc.message, exc.code, req, request.server_request_id)
            raise _RequestFailed
        if request.faults is None:  # first synthesis of this request
            request.faults = state.faults.take(
                SYNTHESIS_KINDS, route="ws", request_id=req.client_id, where="ws"
            )
            state.stats.syntheses_started += 1
            state.stats.request_ids.append(req.client_id or request.server_request_id)
        if not state.limiter.try_acquire(self.key):
            request.failed = True
            await self._send_error(
                f"Concurrency limit exceeded: at most {state.limiter.limit} concurrent "
                "syntheses for this API key.",
                "CONCURRENCY_LIMIT",
                req,
                request.server_request_id,
            )
            raise _RequestFailed
        try:
            pacer = Pacer(state.latency)
            tag = req.client_id or request.server_request_id
            synthesis = await render_stream(
                state, spoken, req, tag, samples_before=request.samples_sent
            )
            head = self._ids(request.server_request_id, req)
            audio_frame = audio_frames(head)
            chunks = synthesis.chunks(chunk_bytes(req.sample_rate, state.latency.chunk_ms))
            words = list(synthesis.words) if req.word_timestamps else []
            offset = request.audio_seconds
            chunk_end = offset
            for chunk in chunks:
                if request.faults:
                    await self._faults_at(request)
                seconds = len(chunk) / 2 / req.sample_rate
                await pacer.wait(seconds)
                frame = audio_frame(chunk)
                if state.stats.chunk_log is not None:
                    state.stats.chunk_log.append(
                        (tag, request.samples_sent, time.perf_counter_ns())
                    )
                await self.send(frame)
                request.chunks_sent += 1
                request.samples_sent += len(chunk) // 2
                request.had_audio = True
                chunk_end += seconds
                # §5.3: a word's event may follow the chunk that contains its start.
                while words and offset + words[0].start < chunk_end - 1e-9:
                    await self._send_word(request, head, words.pop(0), offset)
            for word in words:
                await self._send_word(request, head, word, offset)
            request.audio_seconds = offset + synthesis.duration
            await self._faults_at(request)
        finally:
            state.limiter.release(self.key)

    async def _send_word(
        self, request: _Request, head: dict[str, Any], word: Any, offset: float
    ) -> None:
        await self.send(
            word_frame(head, request.words_sent, word.word, offset + word.start, offset + word.end)
        )
        request.words_sent += 1

    async def _complete_after_backoff(self, request: _Request) -> None:
        await asyncio.sleep(request.req.complete_backoff_ms / 1000)
        await self._send_complete(request)

    async def _send_complete(self, request: _Request) -> None:
        await self.send(complete_frame(self._ids(request.server_request_id, request.req)))
        self.state.stats.syntheses_completed += 1
        if self.close_after_complete:
            await self._close(1000, b"complete")

    async def _freeze(self, seconds: float) -> None:
        """The ``FREEZE`` fault: like a stopped process, for this socket only — nothing
        is sent and nothing is read (so pings go unanswered) for ``seconds``; then the
        socket is dropped (whatever the client did meanwhile, it has given up on it).
        A server shutting down ends the freeze at once (it would hold the shutdown)."""
        transport = self.http_request.transport
        if transport is not None:
            transport.pause_reading()
        ends = [asyncio.ensure_future(e.wait()) for e in (self._over, self.state.closing)]
        try:
            await asyncio.wait(ends, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for waiter in ends:
                waiter.cancel()
        self._over.set()
        if transport is not None:
            transport.abort()
        raise _SessionOver

    def _log_close(self, request: _Request, what: str) -> None:
        """Benchmarks: when an injected close / abort is about to hit the wire."""
        log = self.state.stats.close_log
        if log is not None:
            log.append(
                (request.req.client_id or request.server_request_id, what, time.perf_counter_ns())
            )

    async def _faults_at(self, request: _Request) -> None:
        """Act on the request's faults due at its current chunk count."""
        for fault in request.faults or ():
            if fault.after_chunks != request.chunks_sent or id(fault) in request.faults_done:
                continue
            request.faults_done.add(id(fault))
            kind = fault.kind
            if kind is FaultKind.ERROR_FRAME:
                request.failed = True
                await self._send_error(
                    fault.message or "Synthesis failed",
                    str(fault.code or "INTERNAL_ERROR"),
                    request.req,
                    request.server_request_id,
                )
                raise _RequestFailed
            if kind is FaultKind.CLOSE_AFTER_CHUNKS:
                code = int(fault.code or 1011)
                self._log_close(request, f"close {code}")
                await self._close(code, b"injected close")
            if kind is FaultKind.ABORT_AFTER_CHUNKS:
                self._log_close(request, "abort")
                self._over.set()
                if self.http_request.transport is not None:
                    self.http_request.transport.abort()
                raise _SessionOver
            if kind is FaultKind.MALFORMED_FRAME:
                await self.send('{"status": "chunk", "data": {"audio": ')  # cut-off JSON
            elif kind is FaultKind.BINARY_FRAME:
                async with self._send_lock:
                    await self.ws.send_bytes(b"\x00\x01 undocumented binary frame")
            elif kind is FaultKind.STALL:
                if fault.seconds is None:
                    await self._over.wait()
                    raise _SessionOver
                await asyncio.sleep(fault.seconds)
            elif kind is FaultKind.FREEZE:
                await self._freeze(fault.seconds or 0.0)


def _echo_ids(body: Any) -> TTSRequest | None:
    """Best-effort ids of a rejected frame, so the client can route the error."""
    if not isinstance(body, dict):
        return None

    def safe(name: str) -> str | None:
        value = body.get(name)
        ok = isinstance(value, str) and re.fullmatch(r"[a-zA-Z0-9_\-.]{1,128}", value)
        return value if ok else None

    rid, sid, cid = safe("request_id"), safe("session_id"), safe("context_id")
    if rid is None and sid is None and cid is None:
        return None
    return TTSRequest(text="", voice_id="", request_id=rid, session_id=sid, context_id=cid)


async def tts_live(request: web.Request) -> web.StreamResponse:
    """Upgrade to the streaming WebSocket (POST on the same path is SSE, §4)."""
    from .app import API_KEY, fault_response, json_error

    state = request.app[STATE]
    key = request[API_KEY]
    conn_faults = state.faults.take(CONNECTION_KINDS, route="ws", where="ws-connect")
    for fault in conn_faults:
        if fault.kind is FaultKind.REFUSE_UPGRADE:
            state.stats.rejected_upgrades += 1
            return fault_response(fault.status or 503, fault.retry_after, fault.message)
    idle: float = state.config.idle_timeout_s
    raw_timeout = request.query.get("timeout")
    if raw_timeout is not None:
        digits = raw_timeout.isascii() and raw_timeout.isdecimal() and len(raw_timeout) <= 6
        if not digits or not 0 < int(raw_timeout) <= MAX_IDLE_TIMEOUT_S:
            return json_error(
                400,
                "InvalidRequest",
                f"Invalid 'timeout': {short(raw_timeout)}. Must be a whole number of "
                f"seconds from 1 to {MAX_IDLE_TIMEOUT_S}.",
            )
        idle = int(raw_timeout)
    idle_between_requests = False
    for fault in conn_faults:
        if fault.kind is FaultKind.IDLE_CLOSE and fault.seconds is not None:
            idle = fault.seconds
            idle_between_requests = fault.between_requests
    if state.latency.connect_ms > 0:
        await asyncio.sleep(state.latency.connect_ms / 1000)
    ws = web.WebSocketResponse(max_msg_size=state.config.max_frame_bytes, autoping=True)
    # Count before the 101 goes out, so a client that sees its handshake sees the count.
    state.stats.ws_connections_total += 1
    state.stats.ws_connections_active += 1
    try:
        await ws.prepare(request)
    except ConnectionResetError:
        # The client left mid-handshake (e.g. a pool closing a spare): not a server
        # error; end the request the way aiohttp ends one whose client disconnected.
        state.stats.ws_connections_active -= 1
        raise asyncio.CancelledError from None
    except BaseException:
        state.stats.ws_connections_active -= 1
        raise
    session = Session(
        state,
        ws,
        request,
        key,
        idle_timeout=idle,
        close_after_complete=any(f.kind is FaultKind.CLOSE_AFTER_COMPLETE for f in conn_faults),
        idle_between_requests=idle_between_requests,
    )
    try:
        await session.run()
    finally:
        state.stats.ws_connections_active -= 1
    return ws


def add_routes(app: web.Application) -> None:
    """Register the WebSocket route (GET upgrade on the SSE path)."""
    app.router.add_get(LIVE_PATH, tts_live)
