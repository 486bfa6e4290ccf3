"""Smallest AI text-to-speech services for Pipecat, on the shared ``smallest_core`` client.

* :class:`SmallestTTSService` streams over the core's ``ConnectionPool``: each Pipecat
  audio context is one core ``Utterance``, and its audio, words and errors go to that
  context only. A barge-in cancels the utterance on the same socket; a context ends when
  its utterance's iteration ends — no silence timer, no reconnect.
* :class:`SmallestHttpTTSService` synthesizes each sentence over ``AsyncRestClient``.

Frames, ids, retries, decoding and socket upkeep are the core's; this module maps
Pipecat's TTS contract onto it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field, fields
from typing import Any, get_args

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.tracing.service_decorators import traced_tts
from pipecat.utils.types import NOT_GIVEN, NotGiven, is_given

from smallest_core import (
    AsyncRestClient,
    AudioChunk,
    ConnectionLostError,
    ConnectionPool,
    InvalidOptionError,
    InvalidState,
    ProtocolError,
    Rechunker,
    RequestTimeoutError,
    SmallestError,
    TTSOptions,
    Utterance,
    WordTimestamp,
    decode_to_pcm,
    default_voice,
    finish_timeout_within,
    follow_on_request_id,
    language_code,
    pcm_duration,
)
from smallest_core import Language as SmallestLanguage

from ._errors import error_category, error_frame
from .log import logger

__all__ = ["SmallestHttpTTSService", "SmallestTTSService", "SmallestTTSSettings"]

_LANGUAGES: frozenset[str] = frozenset(get_args(SmallestLanguage))
_DEFAULTS = TTSOptions()
#: Errors that say the socket (not the request) failed: reported as on_connection_error.
_CONNECTION_ERRORS = (ConnectionLostError, RequestTimeoutError, ProtocolError)


@dataclass
class SmallestTTSSettings(TTSSettings):
    """Runtime-updatable settings of the Smallest services (store or delta mode).

    Checked by the core's ``TTSOptions`` when the service is built and on every update;
    a change applies from the next utterance. Beyond Pipecat's ``model``, ``voice`` and
    ``language``: ``speed`` (0.5-2.0), ``math_notation``, ``number_pronunciation_language``,
    ``pronunciation_dicts``, ``max_buffer_delay_ms`` (token mode: longest hold of text
    waiting for a sentence end, 0-5000 ms) and ``content_filter`` (taken so Pipecat's own
    settings carry over; not sent — the core does not implement it — said at INFO).
    """

    speed: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    math_notation: bool | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    number_pronunciation_language: str | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    pronunciation_dicts: tuple[str, ...] | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    max_buffer_delay_ms: int | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    content_filter: str | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)


_SETTINGS_FIELDS = frozenset(f.name for f in fields(SmallestTTSSettings)) - {"extra"}
#: Settings passed to the core under the same name (model, voice, language map below).
_SAME_NAME = ("speed", "math_notation", "pronunciation_dicts", "max_buffer_delay_ms")


def _store_settings(settings: SmallestTTSSettings | None) -> SmallestTTSSettings:
    """Full (store-mode) settings: the core's defaults, then the caller's values; with a
    model and no voice, that model's default voice (as Pipecat's own service picks it)."""
    store = SmallestTTSSettings(
        model=_DEFAULTS.model,
        voice=_DEFAULTS.voice_id,
        language=_DEFAULTS.language,
        number_pronunciation_language=_DEFAULTS.number_pronunciation_language,
        content_filter=None,  # unsupported, and Pipecat wants every store field given
        **{name: getattr(_DEFAULTS, name) for name in _SAME_NAME},
    )
    if settings is None:
        return store
    store.apply_update(settings)
    if not is_given(settings.voice) and isinstance(settings.model, str):
        with contextlib.suppress(InvalidOptionError):  # TTSOptions names a bad model
            store.voice = default_voice(settings.model)
    if settings.content_filter not in (None, NOT_GIVEN):
        logger.info(
            "content_filter={!r} is accepted and not sent: this client does not implement "
            "Smallest's content filter",
            settings.content_filter,
        )
    return store


def _options(settings: SmallestTTSSettings, **more: Any) -> TTSOptions:
    """The core's options for these settings plus ``more`` (rate, format, words).

    Raises:
        InvalidOptionError: a value is not acceptable (names the field and what is).
    """
    values: dict[str, Any] = {name: getattr(settings, name) for name in _SAME_NAME}
    values.update(
        model=settings.model,
        voice_id=settings.voice,
        language=language_code(settings.language),
        number_pronunciation_language=language_code(settings.number_pronunciation_language),
        **more,
    )
    return TTSOptions(**values)


class _SmallestService(TTSService):
    """What both services share: settings → options, languages, error categories."""

    Settings = SmallestTTSSettings
    _settings: SmallestTTSSettings

    def __init__(
        self,
        *,
        settings: SmallestTTSSettings | None,
        sample_rate: int | None,
        word_timestamps: bool,
        output_format: str,
        **kwargs: Any,
    ) -> None:
        super().__init__(settings=_store_settings(settings), sample_rate=sample_rate, **kwargs)
        self._word_timestamps = word_timestamps
        self._output_format = output_format
        # Checked now, before any network: a bad voice, speed, rate... fails the build.
        self._options = self._build_options(sample_rate or _DEFAULTS.sample_rate)
        self._loop: asyncio.AbstractEventLoop | None = None

    def _build_options(self, sample_rate: int) -> TTSOptions:
        return _options(
            self._settings,
            sample_rate=sample_rate,
            word_timestamps=self._word_timestamps,
            output_format=self._output_format,
        )

    def can_generate_metrics(self) -> bool:
        """TTFB, TTFA and usage are measured (Pipecat reports them when metrics are on)."""
        return True

    def language_to_service_language(self, language: Language) -> str | None:
        """Pipecat's regional codes map to Smallest's base codes (``en-US`` → ``en``)."""
        code = language_code(language)
        return code if isinstance(code, str) and code in _LANGUAGES else None

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        return error_category(exception) if isinstance(exception, SmallestError) else None

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as Pipecat's own FrameProcessor
        """Take the pipeline's output rate (rejected if Smallest cannot produce it).

        Raises:
            InvalidState: the service ran on another event loop before. Pipecat's own
                frame queues stay bound to that loop (every Pipecat service would hang
                there), so this says so at once: build a service per event loop.
        """
        loop = asyncio.get_running_loop()
        if self._loop not in (None, loop):
            raise InvalidState(
                f"{self} ran on another event loop: Pipecat's frame queues belong to the "
                "loop that first ran a service, so build a new service for each event "
                "loop (e.g. each asyncio.run())"
            )
        self._loop = loop
        await super().setup(setup)
        self._options = self._options.replace(sample_rate=self.sample_rate)

    async def _update_settings(self, delta: TTSSettings) -> dict[str, Any]:  # type: ignore[override]  # as TTSService
        """Apply a ``TTSUpdateSettingsFrame`` from the next utterance on; an invalid
        update is refused as a whole (the previous settings stay) and reported as an
        ``ErrorFrame`` naming the field."""
        previous = {name: getattr(self._settings, name) for name in delta.given_fields()}
        changed = await super()._update_settings(delta)
        try:
            self._options = self._build_options(self._options.sample_rate)
        except InvalidOptionError as err:
            for name, value in previous.items():
                if hasattr(self._settings, name):
                    setattr(self._settings, name, value)
            await self.push_error_frame(error_frame(err))
            return {}
        self._warn_unhandled_updated_settings(set(changed) - _SETTINGS_FIELDS)
        return changed


@dataclass(eq=False)
class _Context:
    """One Pipecat audio context and the core utterance currently speaking it."""

    id: str
    utterance: Utterance | None = None
    ended: bool = False  # flush_audio() was called: no more text comes
    cancelled: bool = False  # interrupted: nothing more is appended for it
    opened: int = 0  # utterances opened for it so far (a failed one is replaced)
    audio_seconds: float = 0.0  # audio appended: where a replacement's times start
    appended: bool = False  # audio or words were appended: an error queues behind them


class SmallestTTSService(_SmallestService):
    """Smallest AI streaming TTS over a pooled WebSocket (``smallest_core``).

    Each Pipecat audio context (an LLM turn, or a ``TTSSpeakFrame``) is one core
    utterance: sentences (or, with ``TextAggregationMode.TOKEN``, tokens) are pushed to
    it as they come, ``flush_audio`` ends it, and its audio, word timestamps and errors
    go into that context's queue in order. A barge-in cancels the utterance on the same
    socket, so the next turn does not wait for a handshake. The pool prewarms at
    ``setup()``, keeps a warm spare, refreshes idle sockets and replays an utterance that
    failed before its first audio; what still fails reaches Pipecat as an ``ErrorFrame``.

    If Pipecat closes a context after ``stop_frame_timeout_s`` of silence (3 s by
    default) while the core is still retrying, the utterance is cancelled and a
    ``RequestTimeoutError`` ``ErrorFrame`` says so: audio never goes into a closed
    context, where it would be dropped unheard.

    Every argument of Pipecat's own ``SmallestTTSService`` is taken with the same
    meaning (``output_format`` other than ``pcm`` has none here: said at INFO).

    Args:
        api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
        base_url: ``wss://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``) or a
            compatible server; ``http(s)`` is accepted too.
        settings: model, voice, language, speed, ... (``SmallestTTSService.Settings``).
        sample_rate: output rate; default the pipeline's ``audio_out_sample_rate``.
        output_format: WebSocket audio is PCM, what Pipecat's frames carry.
        word_timestamps: emit per-word ``TTSTextFrame``\\ s timed by the server.
        max_buffer_delay_ms: as ``settings.max_buffer_delay_ms`` (which wins).
        pool: a shared ``ConnectionPool`` (the caller closes it); default: our own.
        **kwargs: passed to Pipecat's ``TTSService`` (e.g. ``text_aggregation_mode``).

    Raises:
        InvalidOptionError: a setting, ``sample_rate`` or ``base_url`` is not acceptable.
        AuthenticationError: no key given and ``$SMALLEST_API_KEY`` is unset.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: SmallestTTSSettings | None = None,
        sample_rate: int | None = None,
        output_format: str = "pcm",
        word_timestamps: bool = True,
        max_buffer_delay_ms: int | None = None,
        pool: ConnectionPool | None = None,
        **kwargs: Any,
    ) -> None:
        # The server joins a context's fragments verbatim: sentences need a separator.
        kwargs.setdefault("append_trailing_space", True)
        # A failed context was reported with its cause, and the pool recovers when the
        # server does: silence alone never writes the service off.
        kwargs.setdefault("max_consecutive_zero_audio_contexts", 0)
        if output_format != "pcm":
            logger.info(
                "output_format={!r} is accepted and not used: WebSocket audio is always "
                "PCM, which is what Pipecat's audio frames carry (SmallestHttpTTSService "
                "takes other formats on the wire)",
                output_format,
            )
        if max_buffer_delay_ms is not None:
            update = SmallestTTSSettings(max_buffer_delay_ms=max_buffer_delay_ms)
            if settings is not None:
                update.apply_update(settings)
            settings = update
        super().__init__(
            settings=settings,
            sample_rate=sample_rate,
            word_timestamps=word_timestamps,
            output_format="pcm",
            push_start_frame=True,
            push_stop_frames=False,  # a context stops when its utterance does
            push_text_frames=not word_timestamps,
            pause_frame_processing=False,  # audio is keyed by context: no need to hold
            **kwargs,
        )
        self._owns_pool = pool is None

        def new_pool() -> ConnectionPool:  # a closure: the key is in no attribute's repr
            return ConnectionPool(api_key=api_key, base_url=base_url, options=self._options)

        # The core reads $SMALLEST_API_KEY / $SMALLEST_BASE_URL; a bad value fails here.
        self._new_pool = new_pool
        self._pool = pool or new_pool()
        self._pool_closed = False
        self._contexts: dict[str, _Context] = {}
        self._readers: set[asyncio.Task[None]] = set()
        self._remove_listener: Callable[[], None] | None = None
        self._events: set[asyncio.Task[None]] = set()

    @property
    def pool(self) -> ConnectionPool:
        """The connection pool carrying this service's utterances."""
        return self._pool

    @property
    def supports_processing_metrics(self) -> bool:
        """No: ``run_tts`` only hands text over; TTFB and TTFA carry the latency."""
        return False

    # -- lifecycle --------------------------------------------------------------------
    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as Pipecat's own FrameProcessor
        """Prewarm the pool so the first sentence does not wait for a handshake (a
        service run in a second pipeline gets a new pool: the last run closed its own)."""
        await super().setup(setup)
        if self._pool_closed:
            self._pool = self._new_pool()
            self._pool_closed = False
        # Connection events come from the pool's real socket opens and closes.
        self._remove_listener = self._pool.add_socket_listener(
            on_open=lambda _conn: self._fire("on_connected"),
            on_close=lambda _conn, _err: self._fire("on_disconnected"),
        )
        try:
            await self._pool.prewarm()
        except SmallestError as err:
            # Not fatal here: the first utterance tries again (and reports what fails).
            logger.warning("{}: prewarm failed: {}", self, err)
            await self._call_event_handler("on_connection_error", str(err))

    async def stop(self, frame: EndFrame) -> None:
        """Let every context play out, then close the pool (if this service owns it)."""
        await super().stop(frame)
        await self._shutdown()

    async def cancel(self, frame: CancelFrame) -> None:
        """Stop at once: cancel every utterance, then close the pool (if owned)."""
        await super().cancel(frame)
        for ctx in list(self._contexts.values()):
            self._cancel_context(ctx)
        await self._shutdown()

    async def _shutdown(self) -> None:
        for task in list(self._readers):
            await self.cancel_task(task)
        if self._owns_pool:
            await self._pool.aclose()
            self._pool_closed = True
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._events:  # the last closes' on_disconnected reach the handlers
            await asyncio.gather(*self._events, return_exceptions=True)

    # -- Pipecat's TTS contract -------------------------------------------------------
    @traced_tts
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Send ``text`` into the utterance of ``context_id`` (opened on first use).

        Sentence mode flushes each sentence in the message that carries it, so the
        server speaks it at once; token mode leaves sentence ends to the server. Audio
        arrives on the utterance's reader: this yields ``None``, or an ``ErrorFrame`` if
        no socket could carry the text.
        """
        ctx = self._contexts.get(context_id)
        if ctx is None:
            ctx = self._contexts[context_id] = _Context(context_id)
        try:
            utterance = ctx.utterance
            opened = None
            if utterance is None or not utterance.open_for_text:
                try:
                    utterance = opened = await self._open_utterance(ctx)
                except SmallestError as err:  # no socket: refused, unreachable, ...
                    await self._call_event_handler("on_connection_error", str(err))
                    raise
            try:
                await utterance.push_text(text, flush=not self._is_streaming_tokens)
            finally:
                if opened is not None:  # its reader after the text: the request goes first
                    self._start_reader(ctx, opened)
            await self.start_tts_usage_metrics(text)  # after the text is on its way
        except SmallestError as err:
            yield error_frame(err)
            if ctx.utterance is None and ctx.ended:
                await self._finish_context(ctx)
        yield None

    async def flush_audio(self, context_id: str | None = None) -> None:
        """End the turn: the utterance finishes its audio, then its context stops."""
        ctx = self._contexts.get(context_id or "")
        if ctx is None:
            return
        ctx.ended = True
        utterance = ctx.utterance
        if utterance is None:
            await self._finish_context(ctx)  # nothing speaking (e.g. it failed mid-turn)
        elif utterance.open_for_text:
            await utterance.end()  # its reader finishes the context after its last audio

    async def on_turn_context_completed(self) -> None:
        """End the turn's utterance even if Pipecat timed its context out mid-turn (it
        flushes only a context it still holds; a slow LLM may have let it lapse)."""
        turn = self._turn_context_id
        await super().on_turn_context_completed()
        ctx = self._contexts.get(turn or "")
        if ctx is not None and not ctx.ended:
            await self.flush_audio(ctx.id)

    async def on_audio_context_completed(self, context_id: str) -> None:
        """A context we end is forgotten before Pipecat completes it, so one still known
        here was closed by ``stop_frame_timeout_s``: give it up (not the running turn's,
        which Pipecat reopens for the turn's next frame)."""
        ctx = self._contexts.get(context_id)
        if ctx is None or context_id == self._turn_context_id:
            return
        if ctx.utterance is None:  # nothing in progress: its failure was reported already
            await self._finish_context(ctx)
        else:
            await self._abandon(ctx)

    def _context_closed(self, ctx: _Context) -> bool:
        """Whether Pipecat closed ``ctx`` for good (anything appended would be dropped)."""
        return not self.audio_context_available(ctx.id) and ctx.id != self._turn_context_id

    async def _abandon(self, ctx: _Context) -> None:
        """Pipecat closed ``ctx`` before its utterance ended: cancel it, and say so."""
        request_id = ctx.utterance.request_id if ctx.utterance is not None else ctx.id
        self._cancel_context(ctx)  # no more synthesis for a context nobody plays
        error = RequestTimeoutError(
            f"no audio within Pipecat's stop_frame_timeout_s ({self._stop_frame_timeout_s} s)"
            f" while request {request_id} was in progress; Pipecat closed its context,"
            " so the request was cancelled",
            request_id=request_id,
        )
        logger.warning("{}: {}", self, error)
        await self.push_error_frame(error_frame(error))
        await self.push_frame(TTSStoppedFrame(context_id=ctx.id))

    async def on_audio_context_interrupted(self, context_id: str) -> None:
        """Barge-in: cancel that context's utterance on the same socket (returns at once)."""
        ctx = self._contexts.get(context_id)
        if ctx is not None:
            self._cancel_context(ctx)

    def _cancel_context(self, ctx: _Context) -> None:
        ctx.cancelled = True
        self._contexts.pop(ctx.id, None)
        if ctx.utterance is not None:
            logger.debug("{}: cancelling {}", self, ctx.utterance.request_id)
            ctx.utterance.cancel()  # nothing of it is yielded after this

    # -- utterances -------------------------------------------------------------------
    async def _open_utterance(self, ctx: _Context) -> Utterance:
        """Start a core utterance for ``ctx`` (its reader comes with its first text).

        Our context id is the request id, so server logs line up with Pipecat's. The
        core's silence deadline sits inside Pipecat's, so the core (which can retry
        elsewhere) acts first while Pipecat still holds the context for the error.

        Raises:
            SmallestError: the pool could not provide a socket (after its retries).
        """
        ctx.opened += 1
        ctx.utterance = await self._pool.utterance(
            follow_on_request_id(ctx.id, ctx.opened),
            options=self._options,
            finish_timeout=finish_timeout_within(self._stop_frame_timeout_s),
        )
        return ctx.utterance

    def _start_reader(self, ctx: _Context, utterance: Utterance) -> None:
        """The task that appends ``utterance``'s events to ``ctx`` (they wait for it)."""
        task = self.create_task(self._read(ctx, utterance), f"smallest-{utterance.request_id}")
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read(self, ctx: _Context, utterance: Utterance) -> None:
        """Append the utterance's audio and words to its own context, then end it."""
        error: SmallestError | None = None
        sample_rate = utterance.options.sample_rate
        # Word times are on the utterance's own timeline; a replacement utterance
        # continues after the audio its predecessor delivered.
        offset = ctx.audio_seconds
        try:
            async for event in utterance:
                if self._context_closed(ctx) and not ctx.cancelled:
                    # Pipecat gave up on this context before our audio came (its
                    # on_audio_context_completed normally tells us first).
                    await self._abandon(ctx)
                    break
                ctx.appended = True
                match event:
                    case AudioChunk(audio=pcm):
                        ctx.audio_seconds += pcm_duration(pcm, sample_rate)
                        frame = TTSAudioRawFrame(pcm, sample_rate, 1, context_id=ctx.id)
                        await self.append_to_audio_context(ctx.id, frame)
                    case WordTimestamp(word=word, start=start):
                        await self.add_word_timestamps([(word, offset + start)], ctx.id)
        except SmallestError as err:
            error = err
        # Bookkeeping first (no await): run_tts/flush_audio see the outcome at once.
        if ctx.cancelled or ctx.utterance is not utterance:
            return
        ctx.utterance = None
        finish = ctx.ended
        if error is not None:
            if ctx.appended and self.audio_context_available(ctx.id):
                await self.append_to_audio_context(ctx.id, error_frame(error))
            else:
                # Nothing of this context queued for the error to keep its place behind
                # (or Pipecat already ended the context): report it now.
                await self.push_error_frame(error_frame(error))
            # after the report, not on its way (Pipecat logs the ErrorFrame itself)
            logger.warning("{}: {} failed: {!r}", self, utterance.request_id, error)
            if isinstance(error, _CONNECTION_ERRORS):
                await self._call_event_handler("on_connection_error", str(error))
        if finish:
            await self._finish_context(ctx)

    async def _finish_context(self, ctx: _Context) -> None:
        """Stop a context: ``TTSStoppedFrame`` after its audio, then close its queue."""
        if self._contexts.get(ctx.id) is ctx:
            del self._contexts[ctx.id]
        if self.audio_context_available(ctx.id):
            await self.append_to_audio_context(ctx.id, TTSStoppedFrame(context_id=ctx.id))
            await self.remove_audio_context(ctx.id)
        elif not ctx.cancelled:
            # Played out and timed out by Pipecat before our end came (a long stall):
            # the turn still gets its stop frame.
            await self.push_frame(TTSStoppedFrame(context_id=ctx.id))

    def _fire(self, event: str) -> None:
        """Run a connection event's handlers from a pool callback (which cannot await)."""
        task = asyncio.get_running_loop().create_task(
            self._call_event_handler(event), name=f"smallest-{event}"
        )
        self._events.add(task)
        task.add_done_callback(self._events.discard)


class SmallestHttpTTSService(_SmallestService):
    """Smallest AI TTS over HTTP: one request per sentence (``smallest_core`` REST client).

    For pipelines that cannot keep a WebSocket, or want a format other than PCM on the
    wire; the core decodes every format (``mp3`` with ``soundfile``, a Pipecat
    dependency), so Pipecat always gets PCM frames. Retries of 408/429/5xx and dropped
    connections belong to the core's client.

    Args:
        api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
        base_url: ``https://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``) or a
            compatible server; ``ws(s)`` is accepted too.
        settings: model, voice, language, speed, ... (``SmallestHttpTTSService.Settings``).
        sample_rate: output rate; default the pipeline's ``audio_out_sample_rate``.
        output_format: the body format on the wire: pcm, wav, mp3, ulaw or alaw.
        client: a shared ``AsyncRestClient`` (the caller closes it).
        **kwargs: passed to Pipecat's ``TTSService``.

    Raises:
        InvalidOptionError: a setting, ``sample_rate``, ``output_format`` or ``base_url``
            is not acceptable.
        AuthenticationError: no key given and ``$SMALLEST_API_KEY`` is unset.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: SmallestTTSSettings | None = None,
        sample_rate: int | None = None,
        output_format: str = "pcm",
        client: AsyncRestClient | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(
            settings=settings,
            sample_rate=sample_rate,
            word_timestamps=False,
            output_format=output_format,
            push_start_frame=True,
            push_stop_frames=True,  # the base stops the context at the end of the turn
            **kwargs,
        )
        self._owns_client = client is None

        def new_client() -> AsyncRestClient:  # a closure: the key is in no attribute's repr
            return AsyncRestClient(api_key=api_key, base_url=base_url, options=self._options)

        self._new_client = new_client
        self._client = client or new_client()
        self._client_closed = False

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as Pipecat's own FrameProcessor
        """A service run in a second pipeline gets a new HTTP client (the last run
        closed its own)."""
        await super().setup(setup)
        if self._client_closed:
            self._client = self._new_client()
            self._client_closed = False

    async def stop(self, frame: EndFrame) -> None:
        """Close the HTTP client (if this service created it)."""
        await super().stop(frame)
        await self._close()

    async def cancel(self, frame: CancelFrame) -> None:
        """Close the HTTP client (if this service created it)."""
        await super().cancel(frame)
        await self._close()

    async def _close(self) -> None:
        if self._owns_client:
            await self._client.aclose()
            self._client_closed = True

    @traced_tts
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Synthesize ``text`` and yield its audio as PCM frames.

        PCM streams over SSE, so the first audio plays before the sentence is fully
        synthesized; other formats need the whole body to decode. Errors end the
        sentence with an ``ErrorFrame`` in its place (a stream that fails after audio
        was yielded is not replayed: audio is never duplicated).
        """
        options = self._options
        await self.start_tts_usage_metrics(text)
        try:
            if options.output_format == "pcm":
                async for frame in self._stream_pcm(text, options, context_id):
                    yield frame
                return
            body = await self._client.synthesize(text, options=options)
            pcm = await asyncio.to_thread(
                decode_to_pcm, body, options.output_format, options.sample_rate
            )
        except SmallestError as err:
            yield error_frame(err)
            return
        except ValueError as err:  # a body that does not decode as its format says
            yield ErrorFrame(error=f"Smallest TTS: undecodable {options.output_format} body")
            logger.warning("{}: {}", self, err)
            return
        step = self.chunk_size
        for start in range(0, len(pcm), step):
            chunk = pcm[start : start + step]
            yield TTSAudioRawFrame(chunk, options.sample_rate, 1, context_id=context_id)

    async def _stream_pcm(
        self, text: str, options: TTSOptions, context_id: str
    ) -> AsyncGenerator[Frame, None]:
        samples = Rechunker(2)  # a chunk may end mid-sample: frames hold whole samples
        async for chunk in self._client.stream(text, options=options):
            if pcm := samples.take(chunk.audio):
                yield TTSAudioRawFrame(pcm, options.sample_rate, 1, context_id=context_id)
