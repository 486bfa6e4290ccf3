"""Smallest AI text-to-speech services for Pipecat, on the shared ``smallest_core`` client.

* :class:`SmallestTTSService` streams over the core's :class:`~smallest_core.ConnectionPool`
  (continuations, PROTOCOL.md §12). Each Pipecat audio context is one core
  :class:`~smallest_core.Utterance`; every chunk, word and error is appended to the
  context it belongs to, never to "the active one". A barge-in cancels that utterance
  on the same socket; a context ends when its utterance's iteration ends (the server's
  ``complete``, as the core reads it) — no silence timer, no reconnect.
* :class:`SmallestHttpTTSService` synthesizes each sentence over the core's
  :class:`~smallest_core.AsyncRestClient`, in any output format, decoded to PCM here.

The wire protocol (frames, ids, retries, socket upkeep) lives in the core; this module
only maps Pipecat's TTS contract onto it.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
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
from pipecat.utils.types import NOT_GIVEN, NotGiven, is_given

from smallest_core import (
    AsyncRestClient,
    AudioChunk,
    ConnectionLostError,
    ConnectionPool,
    InvalidOptionError,
    ProtocolError,
    RequestTimeoutError,
    SmallestError,
    TTSOptions,
    Utterance,
    WordTimestamp,
    decode_to_pcm,
    default_voice,
)
from smallest_core import Language as SmallestLanguage

from ._errors import error_category, error_frame
from .log import logger

__all__ = ["SmallestHttpTTSService", "SmallestTTSService", "SmallestTTSSettings"]


_LANGUAGES: frozenset[str] = frozenset(get_args(SmallestLanguage))
_DEFAULTS = TTSOptions()
#: Errors that say the socket (not the request) failed: reported as on_connection_error.
_CONNECTION_ERRORS = (ConnectionLostError, RequestTimeoutError, ProtocolError)
#: The core's stall deadline (``finish_timeout``: a socket owing frames that sends none
#: is retired) sits at this share of Pipecat's ``stop_frame_timeout_s``, both counted
#: from the last audio: the core, which can retire the stuck socket and retry elsewhere,
#: decides first, while Pipecat still holds the context for the typed error. Capped at
#: the core's own default (5 s).
_STALL_SHARE = 0.8
_STALL_CAP_S = 5.0


@dataclass
class SmallestTTSSettings(TTSSettings):
    """Runtime-updatable settings of the Smallest services (store or delta mode).

    Values are checked by the core's :class:`~smallest_core.TTSOptions` when the service
    is built and on every update; a change applies from the next utterance on.

    Parameters:
        speed: speech rate, 0.5-2.0.
        math_notation: read digit-flanked operators as words; None: server default.
        number_pronunciation_language: language used to read numbers; None: the voice's.
        pronunciation_dicts: ids of pronunciation dictionaries to apply.
        max_buffer_delay_ms: streaming, token mode: longest hold of text waiting for a
            sentence end (0-5000); None: server default. Sentence mode flushes each
            sentence, so it does not wait.
        content_filter: taken so Pipecat's own settings carry over; not sent (the core
            does not implement Smallest's content filter), which is said once at INFO.
    """

    speed: float | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    math_notation: bool | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    number_pronunciation_language: str | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    pronunciation_dicts: tuple[str, ...] | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    max_buffer_delay_ms: int | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)
    content_filter: str | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)


_SETTINGS_FIELDS = frozenset(f.name for f in fields(SmallestTTSSettings)) - {"extra"}


def _store_settings(settings: SmallestTTSSettings | None) -> SmallestTTSSettings:
    """Full (store-mode) settings: the core's defaults, then the caller's values."""
    store = SmallestTTSSettings(
        model=_DEFAULTS.model,
        voice=_DEFAULTS.voice_id,
        language=_DEFAULTS.language,
        speed=_DEFAULTS.speed,
        math_notation=_DEFAULTS.math_notation,
        number_pronunciation_language=_DEFAULTS.number_pronunciation_language,
        pronunciation_dicts=_DEFAULTS.pronunciation_dicts,
        max_buffer_delay_ms=_DEFAULTS.max_buffer_delay_ms,
    )
    if settings is not None:
        store.apply_update(settings)
        if not is_given(settings.voice) and isinstance(settings.model, str):
            with contextlib.suppress(InvalidOptionError):  # TTSOptions names a bad model
                store.voice = default_voice(settings.model)
        if settings.content_filter not in (None, NOT_GIVEN):
            _explain(
                f"content_filter={settings.content_filter!r} is accepted and not sent: "
                "this client does not implement Smallest's content filter",
            )
    return store


def _explain(message: str) -> None:
    """Say at INFO, once when the service is built, why an official-service argument
    that was given changes nothing here."""
    logger.info(message)


def _language_code(language: Any) -> Any:
    """Pipecat's ``Language`` (``en-US``) → the §2 code (``en``); other values unchanged."""
    if isinstance(language, Language):
        language = language.value
    if isinstance(language, str):
        base = language.split("-")[0].lower()
        if base in _LANGUAGES:
            return base
    return language  # TTSOptions rejects it, naming the field and the allowed codes


def _options(
    settings: SmallestTTSSettings,
    *,
    sample_rate: int,
    word_timestamps: bool = False,
    output_format: str = "pcm",
) -> TTSOptions:
    """The core's options for these settings.

    ``complete_backoff_ms`` is 0: every utterance ends with a closing fragment, so the
    server has nothing to wait for before its ``complete`` (§12) — the turn's
    ``TTSStoppedFrame``, and the next turn's audio, follow the last chunk at once.

    Raises:
        InvalidOptionError: a value is not acceptable (names the field and what is).
    """
    return TTSOptions(
        model=settings.model,  # type: ignore[arg-type]
        voice_id=settings.voice,  # type: ignore[arg-type]
        language=_language_code(settings.language),
        speed=settings.speed,  # type: ignore[arg-type]
        math_notation=settings.math_notation,  # type: ignore[arg-type]
        number_pronunciation_language=_language_code(settings.number_pronunciation_language),
        pronunciation_dicts=settings.pronunciation_dicts,  # type: ignore[arg-type]
        max_buffer_delay_ms=settings.max_buffer_delay_ms,  # type: ignore[arg-type]
        sample_rate=sample_rate,  # type: ignore[arg-type]
        word_timestamps=word_timestamps,
        output_format=output_format,  # type: ignore[arg-type]
        complete_backoff_ms=0,
    )


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
        code = _language_code(language)
        return code if code in _LANGUAGES else None

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        if isinstance(exception, SmallestError):
            return error_category(exception)
        return None

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as Pipecat's own FrameProcessor
        """Take the pipeline's output rate (rejected if Smallest cannot produce it)."""
        await super().setup(setup)
        self._options = self._options.replace(sample_rate=self.sample_rate)

    async def _update_settings(self, delta: TTSSettings) -> dict[str, Any]:  # type: ignore[override]  # as TTSService
        """Apply a ``TTSUpdateSettingsFrame``: valid values take effect at the next utterance.

        An invalid update is refused as a whole (the previous settings stay) and reported
        as an ``ErrorFrame`` naming the field.
        """
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
    #: flush_audio() was called: no more text comes for this context.
    ended: bool = False
    #: interrupted: nothing more is appended for it.
    cancelled: bool = False
    #: utterances opened for this context so far (a failed one is replaced).
    opened: int = 0
    #: seconds of audio appended so far: where a replacement utterance's times start.
    audio_seconds: float = 0.0
    #: audio or words were appended: an error must queue behind them.
    appended: bool = False


class SmallestTTSService(_SmallestService):
    """Smallest AI streaming TTS over a pooled WebSocket (``smallest_core``).

    Each Pipecat audio context (an LLM turn, or a ``TTSSpeakFrame``) is one core
    utterance: sentences (or, with ``TextAggregationMode.TOKEN``, tokens) are pushed to
    it as they come, ``flush_audio`` ends it, and its audio, word timestamps and errors
    go into that context's queue in order (an error with nothing of its context queued
    ahead of it is pushed at once). A barge-in cancels the utterance on the same
    socket, so the ``InterruptionFrame`` is not held and the next turn does not wait
    for a handshake. The pool owns the sockets: it prewarms at ``setup()``, keeps a warm
    spare, refreshes idle sockets (never with junk synthesis) and replays an utterance
    that failed before its first audio; what still fails reaches Pipecat as an
    ``ErrorFrame``, and the next turn speaks.

    Pipecat closes an audio context that gets nothing for ``stop_frame_timeout_s``
    (its own setting, 3 s by default). If that happens while the core is still
    retrying the utterance, the utterance is cancelled on its socket at once and a
    :class:`~smallest_core.RequestTimeoutError` ``ErrorFrame`` says so: audio never
    goes into a context Pipecat has closed (where it would be dropped unheard). Pass a
    larger ``stop_frame_timeout_s`` to give slow retries more time.

    Example::

        tts = SmallestTTSService(
            settings=SmallestTTSService.Settings(voice="meher", speed=1.1),
        )
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
        """Build the service; nothing touches the network before ``setup()``.

        Every argument of Pipecat's own ``SmallestTTSService`` is taken with the same
        meaning, so switching is one import line (``output_format`` other than ``pcm``
        has none here and is explained once in the log, at INFO).

        Args:
            api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
            base_url: ``wss://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``) or a
                compatible server; ``http(s)`` is accepted too.
            settings: model, voice, language, speed, ... (``SmallestTTSService.Settings``).
            sample_rate: output rate; default the pipeline's ``audio_out_sample_rate``.
            output_format: the official service's wire format; WebSocket audio is PCM,
                which is what Pipecat's frames carry, so only ``pcm`` has a meaning.
            word_timestamps: emit per-word ``TTSTextFrame``\\ s timed by the server.
            max_buffer_delay_ms: longest hold of text waiting for a sentence end
                (0-5000 ms), as ``settings.max_buffer_delay_ms`` (which wins if both are
                given); None: the server's default.
            pool: a shared :class:`~smallest_core.ConnectionPool` (the caller closes it);
                by default the service owns one.
            **kwargs: passed to Pipecat's ``TTSService`` (e.g. ``text_aggregation_mode``).

        Raises:
            InvalidOptionError: a setting, ``sample_rate`` or ``base_url`` is not
                acceptable (the message names it and the allowed values).
            AuthenticationError: no key given and ``$SMALLEST_API_KEY`` is unset.
        """
        # The server joins a context's fragments verbatim: sentences need a separator.
        kwargs.setdefault("append_trailing_space", True)
        # A context that failed was already reported with its cause; the pool recovers
        # when the server does, so silence alone never writes the service off.
        kwargs.setdefault("max_consecutive_zero_audio_contexts", 0)
        if output_format != "pcm":
            _explain(
                f"output_format={output_format!r} is accepted and not used: WebSocket "
                "audio is always PCM, which is what Pipecat's audio frames carry "
                "(SmallestHttpTTSService takes other formats on the wire)",
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
            output_format="pcm",  # §9.7: WebSocket audio is always PCM
            push_start_frame=True,
            push_stop_frames=False,  # a context stops when its utterance does
            push_text_frames=not word_timestamps,
            pause_frame_processing=False,  # audio is keyed by context: no need to hold
            **kwargs,
        )
        self._owns_pool = pool is None
        if pool is None:
            # The core reads $SMALLEST_API_KEY / $SMALLEST_BASE_URL and takes http(s) or
            # ws(s) alike; a bad value fails here, naming the field.
            pool = ConnectionPool(api_key=api_key, base_url=base_url, options=self._options)
        self._pool = pool
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
        """Prewarm the pool so the first sentence does not wait for a handshake."""
        await super().setup(setup)
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
        if self._remove_listener is not None:
            self._remove_listener()
            self._remove_listener = None
        if self._events:  # the last closes' on_disconnected reach the handlers
            await asyncio.gather(*self._events, return_exceptions=True)

    # -- Pipecat's TTS contract -------------------------------------------------------
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Send ``text`` into the utterance of ``context_id`` (opened on first use).

        Sentence mode flushes each sentence (in the same message as its text), so the
        server speaks it at once rather than waiting for more text; token mode leaves the
        sentence boundaries to the server.
        Audio arrives on the utterance's reader, so this yields ``None`` — or an
        ``ErrorFrame`` if no socket could carry the text.
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
                # sentence mode: the sentence and its flush in one message
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
            await utterance.end()  # its reader finishes the context after `complete`

    async def on_turn_context_completed(self) -> None:
        """End the turn's utterance even if Pipecat timed its context out mid-turn.

        Pipecat flushes only a context it still holds; one it closed after
        ``stop_frame_timeout_s`` of silence (a slow LLM) would leave the utterance
        waiting for text that never comes.
        """
        turn = self._turn_context_id
        await super().on_turn_context_completed()
        ctx = self._contexts.get(turn or "")
        if ctx is not None and not ctx.ended:
            await self.flush_audio(ctx.id)

    async def on_audio_context_completed(self, context_id: str) -> None:
        """Pipecat finished a context: if its utterance is still running, Pipecat gave up.

        A context we end is forgotten before Pipecat completes it, so a context still
        known here was closed by Pipecat's ``stop_frame_timeout_s`` (e.g. the core was
        retrying before the first audio). The running turn's context is left alone:
        Pipecat reopens it for the turn's next frame.
        """
        ctx = self._contexts.get(context_id)
        if ctx is not None and context_id != self._turn_context_id:
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

        Raises:
            SmallestError: the pool could not provide a socket (after its retries).
        """
        ctx.opened += 1
        # Our context id doubles as the request id, so server logs and stats line up
        # with Pipecat's; a replacement after a fault needs a fresh one (§12).
        request_id = ctx.id if ctx.opened == 1 else f"{ctx.id}.{ctx.opened}"
        utterance = await self._pool.utterance(
            request_id,
            options=self._options,
            finish_timeout=min(_STALL_CAP_S, _STALL_SHARE * self._stop_frame_timeout_s),
        )
        ctx.utterance = utterance
        return utterance

    def _start_reader(self, ctx: _Context, utterance: Utterance) -> None:
        """The task that appends ``utterance``'s events to ``ctx`` (they wait for it)."""
        task = self.create_task(self._read(ctx, utterance), f"smallest-{utterance.request_id}")
        self._readers.add(task)
        task.add_done_callback(self._readers.discard)

    async def _read(self, ctx: _Context, utterance: Utterance) -> None:
        """Append the utterance's audio and words to its own context, then end it."""
        error: SmallestError | None = None
        sample_rate = utterance.options.sample_rate
        # The core puts word times on the utterance's own timeline (across the server's
        # releases); a context that needed a replacement utterance continues after the
        # audio its predecessor delivered. A new context starts from zero (per turn).
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
                        ctx.audio_seconds += len(pcm) / 2 / sample_rate
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
                # (or Pipecat already ended the context, after going quiet for longer
                # than its stop timeout): report it now, not after a queue hop.
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
    wire. ``wav``, ``ulaw`` and ``alaw`` bodies are decoded with the core's helpers,
    ``mp3`` with ``soundfile`` (a Pipecat dependency); Pipecat always gets PCM frames.
    Retries of 408/429/5xx and dropped connections belong to the core's client.

    Example::

        tts = SmallestHttpTTSService(output_format="ulaw")
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
        """Build the service; nothing touches the network before the first sentence.

        Args:
            api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
            base_url: ``https://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``) or a
                compatible server; ``ws(s)`` is accepted too.
            settings: model, voice, language, speed, ... (``SmallestHttpTTSService.Settings``).
            sample_rate: output rate; default the pipeline's ``audio_out_sample_rate``.
            output_format: the body format on the wire: pcm, wav, mp3, ulaw or alaw.
            client: a shared :class:`~smallest_core.AsyncRestClient` (the caller closes it).
            **kwargs: passed to Pipecat's ``TTSService``.

        Raises:
            InvalidOptionError: a setting, ``sample_rate``, ``output_format`` or
                ``base_url`` is not acceptable.
            AuthenticationError: no key given and ``$SMALLEST_API_KEY`` is unset.
        """
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
        self._client = client or AsyncRestClient(
            api_key=api_key, base_url=base_url, options=self._options
        )

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

    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Synthesize ``text`` and yield its audio as PCM frames.

        PCM streams over SSE (§4), so the first audio plays before the sentence is fully
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
            pcm = await asyncio.to_thread(_decode, body, options)
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
        carry = b""  # an odd byte waits for its pair: frames hold whole samples
        async for chunk in self._client.stream(text, options=options):
            pcm, carry = carry + chunk.audio, b""
            if len(pcm) % 2:
                pcm, carry = pcm[:-1], pcm[-1:]
            if pcm:
                yield TTSAudioRawFrame(pcm, options.sample_rate, 1, context_id=context_id)


def _decode(body: bytes, options: TTSOptions) -> bytes:
    """PCM s16le mono from a synthesis body in ``options.output_format``.

    Raises:
        ValueError: the body is malformed, or not at the requested rate.
    """
    if options.output_format != "mp3":
        return decode_to_pcm(body, options.output_format, options.sample_rate)
    import soundfile  # type: ignore[import-untyped]  # Pipecat's dependency; mp3 only

    try:
        samples, rate = soundfile.read(io.BytesIO(body), dtype="int16")
    except RuntimeError as err:  # soundfile.LibsndfileError
        raise ValueError(f"mp3 body does not decode: {err}") from None
    if rate != options.sample_rate:
        raise ValueError(f"mp3 sample rate is {rate} Hz, expected {options.sample_rate} Hz")
    if samples.ndim > 1:
        samples = samples[:, 0]
    return bytes(samples.astype("<i2").tobytes())
