"""``SmallestToolkit``: the Smallest tools with one configuration and one client."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import ConfigDict, PrivateAttr, SecretStr

from smallest_core import RestClient

from ._config import api_key_field, base_url_field, check_settings, retry_policy
from .stt import SmallestSpeechToTextTool
from .tools import (
    _DEFAULTS,
    _TOOL_FORMAT,
    SmallestCloneVoiceTool,
    SmallestListVoicesTool,
    SmallestTextToSpeechTool,
)

__all__ = ["SmallestToolkit"]


class SmallestToolkit(BaseToolkit):
    """Speak, list voices, clone voices and transcribe: four tools sharing one Smallest client.

    The tools are built (and their settings checked) when the toolkit is, and share
    one sync :class:`~smallest_core.RestClient` (one HTTP connection pool); async
    calls each use a short-lived :class:`~smallest_core.AsyncRestClient` (see
    :class:`~langchain_smallest.SmallestTextToSpeechTool`).

    Example:
        .. code-block:: python

            from langchain_smallest import SmallestToolkit

            tools = SmallestToolkit(voice_id="meher", output_dir="speech/").get_tools()
            agent_model = chat_model.bind_tools(tools)
    """

    model_config = ConfigDict(arbitrary_types_allowed=True, extra="forbid")

    api_key: SecretStr = api_key_field()
    """Smallest API key (default ``$SMALLEST_API_KEY``)."""
    base_url: str = base_url_field()
    """API base URL (default ``$SMALLEST_BASE_URL`` or the public API)."""
    timeout: float = 30.0
    """Seconds per HTTP request."""
    max_retries: int = 2
    """Retries after the first attempt, done by the core."""
    model: str = _DEFAULTS.model
    """Default speech model (the speech and voice-list tools)."""
    voice_id: str = _DEFAULTS.voice_id
    """Default voice of the speech tool."""
    language: str | None = _DEFAULTS.language
    """Default language of the speech tool."""
    speed: float = _DEFAULTS.speed
    """Default speaking rate of the speech tool."""
    sample_rate: int = _DEFAULTS.sample_rate
    """Default sample rate of the speech tool."""
    output_format: str = _TOOL_FORMAT
    """Default audio format of the speech tool."""
    output_dir: Path | None = None
    """Where the speech tool writes audio; None keeps it in memory."""
    clone_root_dir: Path | None = None
    """The only directory the clone tool may upload from; None allows any path."""

    _client: RestClient = PrivateAttr()
    _tools: list[BaseTool] = PrivateAttr()

    def __init__(self, **kwargs: Any) -> None:
        """Build the toolkit and its tools.

        Raises:
            ValueError: no API key, or a bad ``timeout``/``max_retries``.
            InvalidOptionError: a bad speech default, naming the field.
        """
        super().__init__(**kwargs)
        check_settings(self.api_key, self.timeout, self.max_retries)
        self._client = RestClient(
            api_key=self.api_key.get_secret_value(),
            base_url=self.base_url,
            timeout=self.timeout,
            retry=retry_policy(self.max_retries),
        )
        shared: dict[str, Any] = {
            "api_key": self.api_key,
            "base_url": self.base_url,
            "timeout": self.timeout,
            "max_retries": self.max_retries,
            "client": self._client,
        }
        self._tools = [
            SmallestTextToSpeechTool(
                **shared,
                model=self.model,
                voice_id=self.voice_id,
                language=self.language,
                speed=self.speed,
                sample_rate=self.sample_rate,
                output_format=self.output_format,
                output_dir=self.output_dir,
            ),
            SmallestListVoicesTool(**shared, model=self.model),
            SmallestCloneVoiceTool(**shared, root_dir=self.clone_root_dir),
            SmallestSpeechToTextTool(**shared),
        ]

    def get_tools(self) -> list[BaseTool]:
        """The speech, voice-list, clone and transcription tools (the same objects on every
        call)."""
        return list(self._tools)

    def close(self) -> None:
        """Close the shared HTTP client."""
        self._client.close()
