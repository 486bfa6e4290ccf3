"""What both Smallest TTS services share: settings, settings → the core's options,
languages and error categories (``tts.py`` streams over WebSocket, ``http_tts.py`` over
HTTP, as Pipecat's own services are split)."""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field, fields
from typing import Any, get_args

from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.services.settings import TTSSettings
from pipecat.services.tts_service import TTSService
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory
from pipecat.utils.types import NOT_GIVEN, NotGiven, is_given

from smallest_core import (
    InvalidOptionError,
    InvalidState,
    SmallestError,
    TTSOptions,
    default_voice,
    language_code,
)
from smallest_core import Language as SmallestLanguage

from ._errors import error_category, error_frame
from .log import logger

__all__ = ["BaseSmallestTTSService", "SmallestTTSSettings"]

_LANGUAGES: frozenset[str] = frozenset(get_args(SmallestLanguage))
_DEFAULTS = TTSOptions()


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


class BaseSmallestTTSService(TTSService):
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
