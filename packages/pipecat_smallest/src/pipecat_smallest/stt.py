"""Smallest AI speech-to-text (Pulse) services for Pipecat, on the shared ``smallest_core``.

* :class:`SmallestSTTService` streams the pipeline's audio into one core
  :class:`~smallest_core.Transcriber` session: interim results become
  ``InterimTranscriptionFrame``\\ s, finals ``TranscriptionFrame``\\ s (user id, language,
  timestamp, the core's event as ``result``). When Pipecat's VAD says the user stopped,
  the session is finalized, and the final that answers it is marked ``finalized`` so
  Pipecat reports TTFB (end of speech → final transcript) at once. The core owns the
  socket: keepalive, retries while nothing was lost, ``end()`` at the pipeline's end.
* :class:`SmallestHttpSTTService` is Pipecat's ``SegmentedSTTService``: one batch
  ``transcribe`` call (core :class:`~smallest_core.AsyncRestClient`) per VAD segment.

Both take ``settings=SmallestSTTService.Settings(...)`` (checked by the core's
:class:`~smallest_core.STTOptions`) and report failures as ``ErrorFrame``\\ s with
Pipecat's error categories. No frame, query string or retry loop lives here.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field, fields
from typing import Any, get_args

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    Frame,
    InterimTranscriptionFrame,
    StartFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.processors.frame_processor import FrameDirection, FrameProcessorSetup
from pipecat.services.settings import STTSettings
from pipecat.services.stt_latency import SMALLEST_TTFS_P99
from pipecat.services.stt_service import SegmentedSTTService, STTService
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.time import time_now_iso8601
from pipecat.utils.tracing.service_decorators import traced_stt
from pipecat.utils.types import NOT_GIVEN, NotGiven

from smallest_core import (
    AsyncRestClient,
    ConnectionLostError,
    FinalTranscript,
    InterimTranscript,
    InvalidOptionError,
    RequestTimeoutError,
    RetryPolicy,
    SmallestError,
    SpeechEnded,
    SpeechStarted,
    STTLanguage,
    STTOptions,
    Transcriber,
)

from ._errors import error_category, error_frame
from .log import logger

__all__ = ["SmallestHttpSTTService", "SmallestSTTService", "SmallestSTTSettings"]

#: Every Pulse language code (``STTLanguage`` is a union of the streaming and batch sets).
_LANGUAGES: frozenset[str] = frozenset(
    code for literal in get_args(STTLanguage) for code in get_args(literal)
)
_DEFAULTS = STTOptions()
#: Errors that say the socket (not the request) failed: reported as on_connection_error.
_CONNECTION_ERRORS = (ConnectionLostError, RequestTimeoutError)


@dataclass
class SmallestSTTSettings(STTSettings):
    """Runtime-updatable settings of the Smallest STT services (store or delta mode).

    Checked by the core's :class:`~smallest_core.STTOptions` when the service is built and
    on every update; a change applies from the next session (streaming) or segment (HTTP).

    Parameters:
        word_timestamps: words with times on finals (in the frame's ``result``).
        diarize: a speaker label per word.
        format: punctuation and capitalisation (false forces them off).
        itn_normalize: spoken numbers and dates written out, on finals.
        keywords: terms to boost, ``("Pulse", ("Smallest", 2.0))``.
        redact_pii, redact_pci: placeholders instead of personal or card data.
        endpointing: the server cuts a final on trailing silence (streaming).
        eou_timeout_ms: the server's end-of-utterance silence timer (streaming); None:
            server default.
    """

    word_timestamps: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    diarize: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    format: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    itn_normalize: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    keywords: tuple[Any, ...] | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    redact_pii: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    redact_pci: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    endpointing: bool | NotGiven = field(default_factory=lambda: NOT_GIVEN)
    eou_timeout_ms: int | NotGiven | None = field(default_factory=lambda: NOT_GIVEN)


_SETTINGS_FIELDS = frozenset(f.name for f in fields(SmallestSTTSettings)) - {"extra"}
#: Settings fields that map one to one onto STTOptions fields.
_OPTION_FIELDS = _SETTINGS_FIELDS - {"model", "language"}


def _store_settings(settings: SmallestSTTSettings | None) -> SmallestSTTSettings:
    """Full (store-mode) settings: the core's defaults, then the caller's values."""
    store = SmallestSTTSettings(
        model=_DEFAULTS.model,
        language=_DEFAULTS.language,
        **{name: getattr(_DEFAULTS, name) for name in _OPTION_FIELDS},
    )
    if settings is not None:
        store.apply_update(settings)
    return store


def _language_code(language: Any) -> Any:
    """Pipecat's ``Language`` (``en-US``) → the Pulse code (``en``); other values unchanged."""
    if isinstance(language, Language):
        language = language.value
    if isinstance(language, str) and language not in _LANGUAGES:
        base = language.split("-")[0].lower()
        if base in _LANGUAGES:
            return base
    return language  # STTOptions rejects it, naming the field and the allowed codes


def _pipecat_language(code: str | None) -> Language | None:
    """A detected language code as Pipecat's ``Language`` (None when it has none)."""
    if not code:
        return None
    try:
        return Language(code)
    except ValueError:
        return None


def _options(settings: SmallestSTTSettings, *, sample_rate: int) -> STTOptions:
    """The core's options for these settings (PCM s16le, Pipecat's input audio).

    Raises:
        InvalidOptionError: a value is not acceptable (names the field and what is).
    """
    return STTOptions(
        model=settings.model,  # type: ignore[arg-type]
        language=_language_code(settings.language),
        sample_rate=sample_rate,  # type: ignore[arg-type]
        encoding="linear16",
        **{name: getattr(settings, name) for name in _OPTION_FIELDS},
    )


class _SmallestSTT(STTService):
    """What both services share: settings → options, languages, errors, tracing."""

    Settings = SmallestSTTSettings
    _settings: SmallestSTTSettings

    def _init_options(self, sample_rate: int | None) -> None:
        # Checked now, before any network: a bad language, model, rate... fails the build.
        self._options = self._build_options(sample_rate or _DEFAULTS.sample_rate)

    def _build_options(self, sample_rate: int) -> STTOptions:
        raise NotImplementedError

    def can_generate_metrics(self) -> bool:
        """TTFB and usage (audio seconds) are measured."""
        return True

    def language_to_service_language(self, language: Language) -> str | None:
        """Pipecat's regional codes map to Pulse's base codes (``en-US`` → ``en``)."""
        code = _language_code(language)
        return code if code in _LANGUAGES else None

    def _classify_error(self, exception: Exception) -> ErrorCategory | None:
        if isinstance(exception, SmallestError):
            return error_category(exception)
        return None

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as Pipecat's own FrameProcessor
        """Take the pipeline's input rate (rejected if Pulse cannot take it)."""
        await super().setup(setup)
        self._options = self._build_options(self.sample_rate)

    async def _update_settings(self, delta: STTSettings) -> dict[str, Any]:  # type: ignore[override]  # as STTService
        """Apply an ``STTUpdateSettingsFrame``: valid values take effect from the next
        session (or segment). An invalid update is refused as a whole (the previous
        settings stay) and reported as an ``ErrorFrame`` naming the field."""
        previous = {name: getattr(self._settings, name) for name in delta.given_fields()}
        changed = await super()._update_settings(delta)
        try:
            self._options = self._build_options(self._options.sample_rate)
        except InvalidOptionError as err:
            for name, value in previous.items():
                if hasattr(self._settings, name):
                    setattr(self._settings, name, value)
            await self.push_error_frame(error_frame(err, service="STT"))
            return {}
        self._warn_unhandled_updated_settings(set(changed) - _SETTINGS_FIELDS)
        return changed

    def _transcription(self, final: FinalTranscript | None, text: str) -> TranscriptionFrame:
        language = final.language if final is not None else None
        return TranscriptionFrame(
            text,
            self._user_id,
            time_now_iso8601(),
            _pipecat_language(language or self._options.language),
            result=final,
        )


#: Pipecat's transports deliver audio in 20 ms frames.
PIPECAT_FRAME_MS = 20


class SmallestSTTService(_SmallestSTT):
    """Smallest AI streaming speech-to-text (Pulse) over the core's :class:`Transcriber`.

    One session carries the pipeline's audio from the first frame; when Pipecat's VAD
    reports the user stopped speaking, the session is finalized and the final that
    answers it (``from_finalize``) is pushed as a finalized ``TranscriptionFrame``:
    Pipecat measures TTFB from the end of speech to it. Finals the server cuts on its
    own (endpointing, word rollover) are pushed as they come.

    A session that fails is reported once as an ``ErrorFrame`` (the core already retried
    what it safely could: refused upgrades and drops before any audio); the next audio
    opens a fresh session. If opening it fails too, no further attempt is made until
    the user starts speaking again, so an outage costs one handshake per turn, not one
    per audio frame. Permanent errors (a rejected key) make Pipecat stop sending audio.

    Example::

        stt = SmallestSTTService(
            settings=SmallestSTTService.Settings(language=Language.EN_US, keywords=("Pulse",)),
        )
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: SmallestSTTSettings | None = None,
        sample_rate: int | None = None,
        retry: RetryPolicy | None = None,
        ttfs_p99_latency: float | None = SMALLEST_TTFS_P99,
        frame_ms: int = PIPECAT_FRAME_MS,
        **kwargs: Any,
    ) -> None:
        """Build the service; nothing touches the network before the pipeline starts.

        Args:
            api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
            base_url: ``wss://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``) or a
                compatible server; ``http(s)`` is accepted too.
            settings: model, language, keywords, ... (``SmallestSTTService.Settings``).
            sample_rate: input rate; default the pipeline's ``audio_in_sample_rate``.
            retry: the core's retry policy for refused upgrades and drops before any
                audio (the only retry owner); None: the core's default.
            ttfs_p99_latency: P99 end of speech → final transcript, in seconds, for
                Pipecat's turn strategies (default: Pipecat's figure for Smallest).
            frame_ms: audio per binary frame sent (10–1000). Default 20 ms, the cadence
                Pipecat's transports deliver: the server answers each frame, so smaller
                frames bring the first interim and the endpointing final sooner (about
                40 ms at 20 vs 50 ms), for a few more ms of CPU per audio second.
            **kwargs: passed to Pipecat's ``STTService``.

        Raises:
            InvalidOptionError: a setting or ``sample_rate`` is not acceptable.
        """
        super().__init__(
            settings=_store_settings(settings),
            sample_rate=sample_rate,
            ttfs_p99_latency=ttfs_p99_latency,
            **kwargs,
        )
        self._api_key = api_key
        self._base_url = base_url
        self._retry = retry
        self._frame_ms = frame_ms
        self._init_options(sample_rate)
        self._session: Transcriber | None = None
        self._reader: asyncio.Task[None] | None = None
        #: opening a session failed: wait for the next turn before trying again.
        self._open_failed = False

    def _build_options(self, sample_rate: int) -> STTOptions:
        return _options(self._settings, sample_rate=sample_rate).check_streaming()

    @traced_stt
    async def _handle_transcription(
        self, transcript: str, is_final: bool, language: Language | None = None
    ) -> None:
        """A final transcript, for Pipecat's STT tracing span (no work of its own).

        Declared on each concrete class: the decorator wraps the ``push_frame`` its
        owner resolves, so it must see this class's own (Segmented vs plain)."""

    @property
    def session(self) -> Transcriber | None:
        """The core session carrying the audio now (None between sessions)."""
        return self._session

    # -- lifecycle --------------------------------------------------------------------
    async def start(self, frame: StartFrame) -> None:
        """Open the session so the first words do not wait for a handshake."""
        await super().start(frame)
        await self._open()

    async def stop(self, frame: EndFrame) -> None:
        """End the session: its last finals are pushed before the pipeline ends."""
        await self._close(graceful=True)
        await super().stop(frame)

    async def cancel(self, frame: CancelFrame) -> None:
        """Stop at once: the session is cancelled, nothing more is pushed."""
        await self._close(graceful=False)
        await super().cancel(frame)

    async def _open(self) -> Transcriber | None:
        """A connected session, or None (the failure is reported once)."""
        if self._session is not None:
            return self._session
        if self._open_failed:
            return None
        try:
            session = Transcriber(
                api_key=self._api_key,
                base_url=self._base_url,
                options=self._options,
                retry=self._retry,
                frame_ms=self._frame_ms,
            )
            await session.connect()
        except SmallestError as err:
            self._open_failed = True
            await self._call_event_handler("on_connection_error", str(err))
            await self.push_error_frame(error_frame(err, service="STT"))
            return None
        self._session = session
        self._reader = self.create_task(self._read(session), name="smallest-stt-reader")
        await self._call_event_handler("on_connected")
        return session

    async def _close(self, *, graceful: bool) -> None:
        session, self._session = self._session, None
        reader, self._reader = self._reader, None
        if session is not None:
            if graceful:
                with contextlib.suppress(SmallestError):  # the reader reports it
                    await session.end()
            else:
                session.cancel()
        if reader is not None:
            if graceful:
                await reader
            else:
                await self.cancel_task(reader)
        if session is not None:
            await session.aclose()
            await self._call_event_handler("on_disconnected")

    # -- Pipecat's STT contract -------------------------------------------------------
    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        """Send ``audio`` into the session (opened on demand); transcripts arrive on the
        session's reader, so this yields ``None``."""
        session = self._session or await self._open()
        if session is not None:
            try:
                await session.push_audio(audio)
            except SmallestError as err:  # the session ended under us: the reader reports
                logger.debug("{}: audio dropped: {}", self, err)
        yield None

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        """Finalize the session when Pipecat's VAD reports the end of speech."""
        await super().process_frame(frame, direction)
        if isinstance(frame, VADUserStartedSpeakingFrame):
            self._open_failed = False  # a new turn: one more attempt if the last failed
        elif isinstance(frame, VADUserStoppedSpeakingFrame) and self._session is not None:
            try:
                await self._session.finalize()
            except SmallestError as err:
                logger.debug("{}: finalize skipped: {}", self, err)
            else:
                self.request_finalize()

    async def _update_settings(self, delta: STTSettings) -> dict[str, Any]:  # type: ignore[override]  # as STTService
        """Apply settings; a change ends the current session (its finals still come) and
        the next audio opens one with the new options."""
        changed = await super()._update_settings(delta)
        if changed and self._session is not None:
            await self._close(graceful=True)
        return changed

    async def _read(self, session: Transcriber) -> None:
        """The session's events as Pipecat frames, in order, until it ends."""
        try:
            async for event in session:
                if isinstance(event, InterimTranscript):
                    if event.text.strip():
                        await self.push_frame(
                            InterimTranscriptionFrame(
                                event.text,
                                self._user_id,
                                time_now_iso8601(),
                                _pipecat_language(self._options.language),
                                result=event,
                            )
                        )
                elif isinstance(event, FinalTranscript):
                    await self._final(event)
                elif isinstance(event, SpeechStarted | SpeechEnded):
                    logger.trace("{}: server VAD {}", self, event)
        except SmallestError as err:
            if isinstance(err, _CONNECTION_ERRORS):
                await self._call_event_handler("on_connection_error", str(err))
            await self.push_error_frame(error_frame(err, service="STT"))
            if self._session is session:  # the next audio opens a fresh one
                self._session = None
                self._reader = None
                await session.aclose()

    async def _final(self, final: FinalTranscript) -> None:
        text = final.text.strip()
        if not text:
            return  # a finalize with nothing pending: no transcript to mark
        if final.from_finalize:
            self.confirm_finalize()
        frame = self._transcription(final, text)
        await self._handle_transcription(text, True, frame.language)
        # Usage before the transcript, so tracing attaches it to the span the frame closes.
        await self.emit_stt_usage_metrics()
        await self.push_frame(frame)


class SmallestHttpSTTService(_SmallestSTT, SegmentedSTTService):
    """Smallest AI speech-to-text over HTTP: one batch call per VAD segment.

    Pipecat's ``SegmentedSTTService`` buffers the user's speech between its VAD's
    started/stopped frames and hands the segment over as WAV; it is transcribed with the
    core's :class:`~smallest_core.AsyncRestClient` (which retries 429/5xx and dropped
    connections under its policy) and pushed as one finalized ``TranscriptionFrame``.
    Needs a VAD in the pipeline. Works with ``pulse-pro`` and batch-only languages.

    Example::

        stt = SmallestHttpSTTService(settings=SmallestHttpSTTService.Settings(language="de"))
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        settings: SmallestSTTSettings | None = None,
        sample_rate: int | None = None,
        client: AsyncRestClient | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        **kwargs: Any,
    ) -> None:
        """Build the service.

        Args:
            api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
            base_url: ``https://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``).
            settings: model, language, ... (``SmallestHttpSTTService.Settings``).
            sample_rate: input rate; default the pipeline's ``audio_in_sample_rate``.
            client: a shared :class:`~smallest_core.AsyncRestClient` (the caller closes it).
            timeout: seconds per request (when the service makes its own client).
            retry: the core's retry policy (when the service makes its own client).
            **kwargs: passed to Pipecat's ``SegmentedSTTService``.

        Raises:
            InvalidOptionError: a setting or ``sample_rate`` is not acceptable.
        """
        kwargs.setdefault("ttfs_p99_latency", SMALLEST_TTFS_P99)
        super().__init__(settings=_store_settings(settings), sample_rate=sample_rate, **kwargs)
        self._init_options(sample_rate)
        self._owns_client = client is None
        self._client = client or AsyncRestClient(
            api_key=api_key, base_url=base_url, timeout=timeout, retry=retry
        )

    def _build_options(self, sample_rate: int) -> STTOptions:
        return _options(self._settings, sample_rate=sample_rate).check_batch()

    @traced_stt
    async def _handle_transcription(
        self, transcript: str, is_final: bool, language: Language | None = None
    ) -> None:
        """A final transcript, for Pipecat's STT tracing span (no work of its own)."""

    async def stop(self, frame: EndFrame) -> None:
        """Transcribe the queued segments, then close the client (if owned)."""
        await super().stop(frame)
        await self._close_client()

    async def cancel(self, frame: CancelFrame) -> None:
        """Drop the queued segments and close the client (if owned)."""
        await super().cancel(frame)
        await self._close_client()

    async def _close_client(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    async def run_stt(self, audio: bytes) -> AsyncGenerator[Frame | None, None]:
        """Transcribe one segment (WAV) and yield its transcript, or an ``ErrorFrame``."""
        await self.start_processing_metrics()
        try:
            result = await self._client.transcribe(audio, options=self._options)
        except SmallestError as err:
            await self.stop_processing_metrics()
            yield error_frame(err, service="STT")
            return
        await self.stop_processing_metrics()
        text = result.text.strip()
        if not text:
            yield None
            return
        language = _pipecat_language(result.language or self._options.language)
        await self._handle_transcription(text, True, language)
        yield TranscriptionFrame(text, self._user_id, time_now_iso8601(), language, result=result)
