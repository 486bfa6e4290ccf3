"""The settings every public class shares, declared once: connection and speech.

:class:`ConnectionSettings` (key, endpoint, retries) and :class:`SpeechSettings` (model,
voice, language, speed, sample rate) are pydantic mixins that the tools, the toolkit
and :class:`~langchain_smallest.SmallestSpeech` inherit, so each field is declared,
documented and validated in one place.

Settings are live: every call reads the fields as they are then. A change is validated
like construction, whichever way it is made, and a bad value never lands:

* assignment (``speech.speed = 2.0``) raises the core's
  :class:`~smallest_core.InvalidOptionError` (or pydantic's ``ValidationError`` for a
  value of the wrong type) and keeps the previous value;
* ``model_copy(update=...)`` (which pydantic does not validate) checks the copy;
* ``configurable_fields`` builds a new object, so the constructor checks it.
"""

from __future__ import annotations

from typing import Any

from langchain_core.utils import from_env, secret_from_env
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from smallest_core import (
    API_KEY_ENV,
    BASE_URL_ENV,
    DEFAULT_HTTP_BASE,
    OutputFormat,
    RetryPolicy,
    TTSOptions,
)

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "LIVE_CONFIG",
    "TOOL_FORMAT",
    "ConnectionSettings",
    "FileSpeechSettings",
    "HttpSettings",
    "SpeechSettings",
]

MISSING_KEY = f"no Smallest API key: pass api_key=... or set {API_KEY_ENV}"
DEFAULTS = TTSOptions()
#: The default body format of the speech tool: a file any player opens (the core's is PCM).
TOOL_FORMAT: OutputFormat = "wav"


#: Every public class sets this itself: pydantic lets the last base's config win, and
#: LangChain's bases ignore unknown fields (a misspelled setting must raise).
LIVE_CONFIG = ConfigDict(arbitrary_types_allowed=True, extra="forbid", validate_assignment=True)


class _LiveSettings(BaseModel):
    """Validate the whole object again whenever one of its fields changes."""

    model_config = LIVE_CONFIG

    def check_settings(self) -> None:
        """Check the fields together; subclasses extend it. Raises naming the field."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name not in type(self).model_fields:
            super().__setattr__(name, value)
            return
        previous = self.__dict__[name]
        super().__setattr__(name, value)  # the field's own type check (pydantic)
        try:
            self.check_settings()
        except Exception:
            self.__dict__[name] = previous  # a bad value never lands
            raise

    def model_copy(self, *, update: Any = None, deep: bool = False) -> Any:
        """A copy with ``update`` applied, checked like a new object (pydantic does not).

        Raises:
            InvalidOptionError, ValueError: a bad value in ``update``, naming the field.
        """
        copy = super().model_copy(update=update, deep=deep)
        copy.on_copy()
        copy.check_settings()
        return copy

    def on_copy(self) -> None:
        """Called on a copy made by :meth:`model_copy`: reset what must not be shared
        with the original (pydantic copies private attributes shallowly)."""


class ConnectionSettings(_LiveSettings):
    """The key, the endpoint and the core's retries."""

    api_key: SecretStr = Field(
        default_factory=secret_from_env(API_KEY_ENV, error_message=MISSING_KEY),
        description=f"Smallest API key (default: ${API_KEY_ENV}).",
    )
    """Smallest API key (default ``$SMALLEST_API_KEY``)."""
    base_url: str = Field(
        default_factory=from_env(BASE_URL_ENV, default=DEFAULT_HTTP_BASE),
        description=(
            f"HTTP(S) base URL of the API (default: ${BASE_URL_ENV} or {DEFAULT_HTTP_BASE}); "
            "the WebSocket URL is derived from it."
        ),
    )
    """API base URL (default ``$SMALLEST_BASE_URL`` or the public API)."""
    max_retries: int = 2
    """Retries after the first attempt for 408/429/5xx and dropped connections, done by
    the core before any audio (do not add ``with_retry()`` on top: attempts would
    multiply)."""

    @property
    def lc_secrets(self) -> dict[str, str]:
        """Serialization writes the key as a reference to this variable, never its value."""
        return {"api_key": API_KEY_ENV}

    def check_settings(self) -> None:
        """Reject an empty key or a negative retry count.

        Raises:
            ValueError: naming the field and what is allowed.
        """
        super().check_settings()
        if not self.api_key.get_secret_value().strip():
            raise ValueError(MISSING_KEY)
        if self.max_retries < 0:
            raise ValueError(
                f"max_retries={self.max_retries!r} is not allowed; allowed: an integer >= 0"
            )

    def retry_policy(self) -> RetryPolicy:
        """The core's retry policy: ``max_retries`` retries after the first attempt."""
        return RetryPolicy(max_attempts=self.max_retries + 1)

    def connection_key(self) -> tuple[Any, ...]:
        """What a client or pool built from these settings depends on."""
        return (self.api_key.get_secret_value(), self.base_url, self.max_retries)


class SpeechSettings(_LiveSettings):
    """How the speech sounds; :meth:`tts_options` is the core's view of them."""

    model: str = DEFAULTS.model
    """Speech model."""
    voice_id: str = DEFAULTS.voice_id
    """Voice."""
    language: str | None = DEFAULTS.language
    """Language code, ``auto``, or None to let the service decide."""
    speed: float = DEFAULTS.speed
    """Speaking rate, 0.5 to 2.0."""
    sample_rate: int = DEFAULTS.sample_rate
    """Samples per second: 8000, 16000, 24000 or 44100."""

    def tts_options(self) -> TTSOptions:
        """The core's options for the fields as they are now.

        Raises:
            InvalidOptionError: a field the core rejects, naming it and what is allowed.
        """
        return TTSOptions(**self.speech_fields())

    def speech_fields(self) -> dict[str, Any]:
        """The speech fields as they are now, by name."""
        return {name: getattr(self, name) for name in SpeechSettings.model_fields}

    def check_settings(self) -> None:
        """Raises: InvalidOptionError: a speech field the core rejects."""
        super().check_settings()
        self.tts_options()


class FileSpeechSettings(SpeechSettings):
    """:class:`SpeechSettings` plus the format of a whole body (the tools' results)."""

    output_format: str = TOOL_FORMAT
    """Audio format: wav, mp3, pcm, ulaw or alaw."""

    def speech_fields(self) -> dict[str, Any]:
        """The speech fields as they are now, by name."""
        return {name: getattr(self, name) for name in FileSpeechSettings.model_fields}


class HttpSettings(ConnectionSettings):
    """:class:`ConnectionSettings` plus the time one HTTP request may take."""

    timeout: float = 30.0
    """Seconds for each attempt of a call (connect, send, every wait for the server),
    also with a ``client`` or ``async_client`` of your own; a timed-out attempt is
    retried under ``max_retries``, and the last one raises a ``ToolException``."""

    def check_settings(self) -> None:
        """Raises: ValueError: also a timeout that is not a positive number of seconds."""
        super().check_settings()
        if not self.timeout > 0:
            raise ValueError(
                f"timeout={self.timeout!r} is not allowed; allowed: a number of seconds > 0"
            )

    def client_kwargs(self) -> dict[str, Any]:
        """The core REST client's arguments for these settings."""
        return dict(
            api_key=self.api_key.get_secret_value(),
            base_url=self.base_url,
            timeout=self.timeout,
            retry=self.retry_policy(),
        )
