"""``SmallestSpeech``: a Runnable that speaks a text stream while it is still arriving.

``chat_model | SmallestSpeech()`` turns the model's token stream into a stream of PCM
audio: tokens go through the core's :class:`~smallest_core.SentenceSegmenter`, each
sentence is pushed into one streaming :class:`~smallest_core.Utterance` on a pooled
WebSocket (:class:`~smallest_core.ConnectionPool`) the moment it is complete, and audio
chunks are yielded as the server sends them — the first one usually before the model
has finished. One call is one utterance; it ends when the utterance's iteration ends
(the server's completion), never on a timer of ours.

Stopping early (closing the stream, breaking out of the loop, cancelling the task)
cancels the utterance on its socket, which stays open for the next call.

Where the work runs:

* ``atransform``/``astream``/``ainvoke`` run on the caller's event loop, with one
  connection pool per loop (``aclose()`` closes the current loop's pool);
* ``transform``/``stream``/``invoke``/``batch`` run the same coroutine on a private
  event-loop thread owned by this object (its pool lives there; ``close()`` ends both),
  and read the input in a helper thread, so audio flows while the caller's model is
  still producing text.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import queue
import threading
import weakref
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

from langchain_core.messages import BaseMessage
from langchain_core.prompt_values import PromptValue
from langchain_core.runnables import RunnableConfig, RunnableSerializable
from pydantic import PrivateAttr

from smallest_core import (
    AudioChunk,
    ConnectionPool,
    SentenceSegmenter,
    Utterance,
)

from .log import logger
from .settings import LIVE_CONFIG, ConnectionSettings, SpeechSettings

__all__ = ["SmallestSpeech", "SpeechInput"]

#: What :class:`SmallestSpeech` speaks: text, chat messages (their text) or prompts.
SpeechInput = str | BaseMessage | PromptValue

_END = object()  # end of a bridged stream


class SmallestSpeech(SpeechSettings, ConnectionSettings, RunnableSerializable[SpeechInput, bytes]):
    """Text (or a chat model's stream) in, Smallest speech out, as it is generated.

    Output chunks are PCM s16le mono at :attr:`sample_rate` (WebSocket audio is always
    PCM); ``invoke`` returns the whole utterance. Write a WAV with
    ``smallest_core.pcm_to_wav(pcm, speech.sample_rate)``.

    Example:
        .. code-block:: python

            from langchain_smallest import SmallestSpeech

            speech = SmallestSpeech(voice_id="meher")
            async for pcm in (chat_model | speech).astream("Tell me a story."):
                player.write(pcm)  # starts while the model is still writing

    Errors are the core's typed :class:`~smallest_core.SmallestError` subclasses,
    raised after the core's own retries (``max_retries``, before any audio); an error
    in the input stream is re-raised as is, after the utterance was cancelled.
    """

    model_config = LIVE_CONFIG

    max_connections: int = 4
    """Sockets the pool may open at once (``batch`` runs utterances side by side)."""

    _pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PoolKeeper] = PrivateAttr(
        default_factory=weakref.WeakKeyDictionary
    )
    _thread: _LoopThread | None = PrivateAttr(default=None)
    _thread_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        """Build the Runnable; bad settings raise here, before any connection.

        The speech fields (``model``, ``voice_id``, ``language``, ``speed``,
        ``sample_rate``) come from :class:`~langchain_smallest.settings.SpeechSettings`;
        a change to any field applies from the next call.

        Raises:
            ValueError: no API key (argument or ``SMALLEST_API_KEY``), or a bad
                ``max_retries``/``max_connections``.
            InvalidOptionError: a bad ``model``, ``voice_id``, ``language``, ``speed``
                or ``sample_rate``, naming the allowed values.
        """
        super().__init__(**kwargs)
        self.check_settings()
        # An object dropped while its loop runs on (``configurable_fields`` builds one
        # per call) closes its pools instead of leaving their sockets open.
        weakref.finalize(self, _close_soon, self._pools)

    def check_settings(self) -> None:
        """Raises: ValueError: also a ``max_connections`` below 1."""
        super().check_settings()
        if self.max_connections < 1:
            raise ValueError(
                f"max_connections={self.max_connections!r} is not allowed; allowed: an integer >= 1"
            )

    # -- the Runnable interface -------------------------------------------------------------
    def invoke(
        self, input: SpeechInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> bytes:
        """Speak ``input``; the whole utterance as PCM."""
        return b"".join(self.stream(input, config, **kwargs))

    async def ainvoke(
        self, input: SpeechInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> bytes:
        """Speak ``input`` on the running loop; the whole utterance as PCM."""
        return b"".join([pcm async for pcm in self.astream(input, config, **kwargs)])

    def stream(
        self, input: SpeechInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[bytes]:
        """Speak ``input``; PCM chunks as they arrive."""
        yield from self.transform(iter([input]), config, **kwargs)

    async def astream(
        self, input: SpeechInput, config: RunnableConfig | None = None, **kwargs: Any
    ) -> AsyncIterator[bytes]:
        """Speak ``input`` on the running loop; PCM chunks as they arrive."""

        async def once() -> AsyncIterator[SpeechInput]:
            yield input

        async for pcm in self.atransform(once(), config, **kwargs):
            yield pcm

    def transform(
        self, input: Iterator[SpeechInput], config: RunnableConfig | None = None, **kwargs: Any
    ) -> Iterator[bytes]:
        """Speak a stream of text pieces as one utterance; PCM chunks as they arrive."""
        _no_kwargs(kwargs)
        yield from self._transform_stream_with_config(input, self._speak, config)

    async def atransform(
        self,
        input: AsyncIterator[SpeechInput],
        config: RunnableConfig | None = None,
        **kwargs: Any,
    ) -> AsyncIterator[bytes]:
        """Speak an async stream of text pieces as one utterance, on the running loop."""
        _no_kwargs(kwargs)
        async for pcm in self._atransform_stream_with_config(input, self._aspeak, config):
            yield pcm

    # -- connections --------------------------------------------------------------------------
    def on_copy(self) -> None:
        """A copy gets pools and an event-loop thread of its own."""
        super().on_copy()
        self._pools = weakref.WeakKeyDictionary()
        self._thread = None
        self._thread_lock = threading.Lock()
        weakref.finalize(self, _close_soon, self._pools)

    def _pool(self) -> ConnectionPool:
        return self._keeper().pool

    def _keeper(self) -> _PoolKeeper:
        """The connection pool of the running loop for the current connection settings
        (created on first use there)."""
        loop = asyncio.get_running_loop()
        key = (*self.connection_key(), self.max_connections)
        keeper = self._pools.get(loop)
        if keeper is not None and keeper.key != key:
            keeper.retire()  # the settings changed: closes once its utterances are over
            keeper = None
        if keeper is None:
            pool = ConnectionPool(
                api_key=self.api_key.get_secret_value(),
                options=self.tts_options(),
                base_url=self.base_url,
                max_connections=self.max_connections,
                retry=self.retry_policy(),
            )
            keeper = _PoolKeeper(pool, key)
            self._pools[loop] = keeper
        return keeper

    def _loop_thread(self) -> _LoopThread:
        with self._thread_lock:
            if self._thread is None:
                thread = _LoopThread()
                # Close the socket cleanly when this object goes away or at exit.
                weakref.finalize(self, thread.close, self._pools)
                self._thread = thread
            return self._thread

    async def aprewarm(self) -> None:
        """Open a socket on the running loop now, so the first answer skips the handshake.

        Raises:
            SmallestError: the socket could not be opened (bad key, unreachable...).
        """
        await self._pool().prewarm()

    def prewarm(self) -> None:
        """Open a socket for the sync methods now (see :meth:`aprewarm`)."""

        async def warm() -> None:
            await self._pool().prewarm()

        self._loop_thread().run(warm())

    async def aclose(self) -> None:
        """Close the running loop's connection pool (its sockets and background tasks).

        Optional when the loop is run by ``asyncio.run`` (or a test runner): the pool
        also closes when the loop cancels its remaining tasks at shutdown.
        """
        keeper = self._pools.pop(asyncio.get_running_loop(), None)
        if keeper is not None:
            await keeper.aclose()

    def close(self) -> None:
        """Close the sync methods' pool and their event-loop thread."""
        with self._thread_lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            thread.close(self._pools)

    # -- speaking -----------------------------------------------------------------------------
    async def _aspeak(self, chunks: AsyncIterator[SpeechInput]) -> AsyncIterator[bytes]:
        """The async path: audio from a pump task, coalesced (see :func:`_take_ready`)."""

        async def texts() -> AsyncIterator[str]:
            async for chunk in chunks:
                yield _text_of(chunk)

        ready: asyncio.Queue[Any] = asyncio.Queue()

        async def pump() -> None:
            try:
                async for pcm in self._utterance_audio(self._keeper(), texts()):
                    ready.put_nowait(pcm)
                ready.put_nowait(_END)
            except BaseException as exc:
                ready.put_nowait(exc)
                if not isinstance(exc, Exception):
                    raise

        pumping = asyncio.create_task(pump(), name="langchain-smallest-audio")
        try:
            while True:
                pcm, end = _take_ready(await ready.get(), ready.get_nowait, ready.empty)
                if pcm:
                    yield pcm
                if isinstance(end, BaseException):
                    raise end
                if end is _END:
                    break
        finally:
            if not pumping.done():
                pumping.cancel()  # cancels the utterance on its socket (_utterance_audio)
            await asyncio.gather(pumping, return_exceptions=True)

    async def _utterance_audio(
        self, keeper: _PoolKeeper, texts: AsyncIterator[str]
    ) -> AsyncIterator[bytes]:
        """One utterance: ``texts`` pushed in by a feeder task, audio yielded as it comes."""
        with keeper.in_use():
            async for pcm in self._utterance_audio_on(keeper.pool, texts):
                yield pcm

    async def _utterance_audio_on(
        self, pool: ConnectionPool, texts: AsyncIterator[str]
    ) -> AsyncIterator[bytes]:
        utterance = await pool.utterance(options=self.tts_options())
        feeder = asyncio.create_task(_feed(utterance, texts), name="langchain-smallest-feed")
        finished = False
        try:
            async for event in utterance:
                if isinstance(event, AudioChunk) and event.audio:
                    yield event.audio
            finished = True
            await feeder  # re-raises a failure of the input stream
        finally:
            if not finished:
                utterance.cancel()  # same socket; nothing more of it is yielded
            if not feeder.done():
                feeder.cancel()  # stops the upstream stream too (asyncio cancellation)
            await asyncio.gather(feeder, return_exceptions=True)
            metrics = utterance.metrics
            logger.debug(
                "utterance %s %s: %d chars, ttfa=%s, %.2f s of audio",
                utterance.request_id,
                "finished" if finished else "cancelled",
                metrics.characters,
                metrics.ttfa,
                metrics.audio_duration,
            )

    def _speak(self, chunks: Iterator[SpeechInput]) -> Iterator[bytes]:
        """The sync path: the same coroutine on the private loop, bridged by queues."""
        runner = self._loop_thread()
        loop = runner.loop
        texts_q: asyncio.Queue[Any] = asyncio.Queue()
        audio_q: queue.Queue[Any] = queue.Queue()
        stop = threading.Event()
        pump_done = threading.Event()

        def read_input() -> None:
            # Runs in a helper thread so audio can be yielded while the input (e.g. a
            # chat model's stream) is still blocking for its next token.
            item: Any = _END
            try:
                for chunk in chunks:
                    if stop.is_set():
                        return
                    loop.call_soon_threadsafe(texts_q.put_nowait, _text_of(chunk))
            except BaseException as exc:  # handed to the utterance's consumer
                item = exc
            if not stop.is_set():
                loop.call_soon_threadsafe(texts_q.put_nowait, item)

        async def texts() -> AsyncIterator[str]:
            while (item := await texts_q.get()) is not _END:
                if isinstance(item, BaseException):
                    raise item
                yield item

        async def pump() -> None:
            try:
                async for pcm in self._utterance_audio(self._keeper(), texts()):
                    audio_q.put(pcm)
                audio_q.put(_END)
            except BaseException as exc:
                audio_q.put(exc)
                if not isinstance(exc, Exception):
                    raise
            finally:
                pump_done.set()

        # The caller's context (LangChain's run tree, tracing) follows the input reads.
        reader = threading.Thread(
            target=contextvars.copy_context().run,
            args=(read_input,),
            name="langchain-smallest-input",
            daemon=True,
        )
        reader.start()
        future = asyncio.run_coroutine_threadsafe(pump(), loop)
        try:
            while True:
                pcm, end = _take_ready(audio_q.get(), audio_q.get_nowait, audio_q.empty)
                if pcm:
                    yield pcm
                if isinstance(end, BaseException):
                    raise end
                if end is _END:
                    break
        finally:
            stop.set()
            if not pump_done.is_set():
                future.cancel()  # cancels the utterance on its socket (see above)
                pump_done.wait()
            # LangChain reads the rest of the input for tracing once we return; the
            # reader must have let go of the iterator first.
            reader.join()


async def _feed(utterance: Utterance, texts: AsyncIterator[str]) -> None:
    """Push sentences into ``utterance`` as they complete, then end it.

    The core's segmenter decides where sentences end (never inside ``3.14`` or after
    ``Dr.``), so the server only ever sees whole sentences and speaks each at once.
    """
    segmenter = SentenceSegmenter()
    try:
        async for text in texts:
            for sentence in segmenter.push(text):
                await utterance.push_text(sentence)
        await utterance.end("".join(segmenter.flush()))
    except BaseException:
        utterance.cancel()  # ends the consumer's iteration; it then re-raises this
        raise


def _take_ready(
    first: Any, get_nowait: Callable[[], Any], empty: Callable[[], bool]
) -> tuple[bytes, Any]:
    """``first`` plus every audio chunk already waiting, joined: ``(pcm, end)``.

    ``end`` is None while the stream goes on, else the end marker or the failure that
    was queued in place of more audio (yield ``pcm`` first, then stop or raise).

    Why: LangChain's streaming wrapper keeps the run's output as ``output + chunk`` for
    every chunk, which is quadratic in the number of chunks (a minute of 20 ms chunks
    costs ~0.4 s of copying). Chunks that arrived while the consumer was busy are
    yielded as one, so a slow consumer gets fewer, larger chunks; nothing waits for
    audio that has not arrived.
    """
    parts: list[bytes] = []
    item = first
    while item is not _END and not isinstance(item, BaseException):
        parts.append(item)
        if empty():
            return b"".join(parts), None
        item = get_nowait()
    return b"".join(parts), item


def _text_of(chunk: object) -> str:
    """The text to speak from one input piece."""
    if isinstance(chunk, str):
        return chunk
    if isinstance(chunk, BaseMessage):
        return str(chunk.text)
    if isinstance(chunk, PromptValue):
        return chunk.to_string()
    raise TypeError(
        "SmallestSpeech speaks str, chat messages (their text) or prompt values; got "
        f"{type(chunk).__name__}"
    )


def _no_kwargs(kwargs: dict[str, Any]) -> None:
    if kwargs:
        raise TypeError(
            f"SmallestSpeech takes no call options, got {sorted(kwargs)}; set them on "
            "the object (e.g. SmallestSpeech(voice_id=...))"
        )


class _PoolKeeper:
    """A loop's pool, plus a task that closes it when the loop shuts down.

    ``asyncio.run`` (and test runners) cancel the tasks still pending when the main
    coroutine returns and let them finish; the keeper task then closes the pool, so a
    program that never calls ``aclose()`` still closes its sockets cleanly.
    """

    def __init__(self, pool: ConnectionPool, key: tuple[Any, ...]) -> None:
        self.pool = pool
        self.key = key
        self.loop = asyncio.get_running_loop()
        self._users = 0
        self._retired = False
        self._task = asyncio.get_running_loop().create_task(
            self._hold(), name="langchain-smallest-pool"
        )

    async def _hold(self) -> None:
        try:
            await asyncio.get_running_loop().create_future()  # until cancelled
        finally:
            await self.pool.aclose()

    async def aclose(self) -> None:
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    @contextlib.contextmanager
    def in_use(self) -> Iterator[None]:
        """Mark one utterance on this pool, so :meth:`retire` waits for it."""
        self._users += 1
        try:
            yield
        finally:
            self._users -= 1
            if self._retired and not self._users:
                self._task.cancel()

    def retire(self) -> None:
        """Close the pool once no utterance of ours is on it (now if none is)."""
        self._retired = True
        if not self._users:
            self._task.cancel()

    def close_soon(self) -> None:
        """Close the pool from any thread, without waiting (see :meth:`aclose`)."""
        # A loop that has closed took its sockets with it; one closing meanwhile raises.
        with contextlib.suppress(RuntimeError):
            self.loop.call_soon_threadsafe(self._task.cancel)


def _close_soon(pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PoolKeeper]) -> None:
    """Close every pool of a :class:`SmallestSpeech` that was dropped."""
    for keeper in list(pools.values()):
        keeper.close_soon()


class _LoopThread:
    """A private event loop in a daemon thread, for the sync methods."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._serve, name="langchain-smallest-loop", daemon=True
        )
        self._thread.start()

    def _serve(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Any) -> Any:
        """Run ``coro`` on the loop and wait for its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result()

    def close(
        self, pools: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, _PoolKeeper]
    ) -> None:
        """Close this loop's pool, then stop the loop and its thread. Idempotent."""
        if self.loop.is_closed():
            return
        keeper = pools.pop(self.loop, None)
        if keeper is not None:
            with contextlib.suppress(Exception):
                self.run(keeper.aclose())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()
