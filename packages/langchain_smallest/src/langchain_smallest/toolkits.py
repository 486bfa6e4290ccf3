"""``SmallestToolkit``: the four Smallest tools with one configuration and one client."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from langchain_core.tools import BaseTool, BaseToolkit
from pydantic import PrivateAttr

from smallest_core import RestClient

from .settings import LIVE_CONFIG, FileSpeechSettings, HttpSettings
from .stt import SmallestSpeechToTextTool
from .tools import SmallestCloneVoiceTool, SmallestListVoicesTool, SmallestTextToSpeechTool

__all__ = ["SmallestToolkit"]


class SmallestToolkit(FileSpeechSettings, HttpSettings, BaseToolkit):
    """Speak, list voices, clone voices and transcribe: four tools sharing one Smallest client.

    The tools are built (and their settings checked) when the toolkit is, and share
    one sync :class:`~smallest_core.RestClient` (one HTTP connection pool); async
    calls each use a short-lived :class:`~smallest_core.AsyncRestClient` (see
    :class:`~langchain_smallest.SmallestTextToSpeechTool`). The speech defaults
    (``model``, ``voice_id``, ...) are those of the speech tool; ``model`` is also the
    voice-list tool's. Change a setting and the next :meth:`get_tools` returns tools
    built with it (the same objects while nothing changed).

    Example:
        .. code-block:: python

            from langchain_smallest import SmallestToolkit

            tools = SmallestToolkit(voice_id="meher", output_dir="speech/").get_tools()
            agent_model = chat_model.bind_tools(tools)
    """

    model_config = LIVE_CONFIG

    output_dir: Path | None = None
    """Where the speech tool writes audio; None keeps it in memory."""
    clone_root_dir: Path | None = None
    """The only directory the clone tool may upload from; None allows any path."""

    _client: RestClient | None = PrivateAttr(default=None)
    _client_key: tuple[Any, ...] = PrivateAttr(default=())
    _tools: list[BaseTool] = PrivateAttr(default_factory=list)
    _tools_key: dict[str, Any] | None = PrivateAttr(default=None)
    _lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        """Build the toolkit and its tools.

        Raises:
            ValueError: no API key, or a bad ``timeout``/``max_retries``.
            InvalidOptionError: a bad speech default, naming the field.
        """
        super().__init__(**kwargs)
        self.check_settings()
        self.get_tools()

    def get_tools(self) -> list[BaseTool]:
        """The speech, voice-list, clone and transcription tools for the current settings."""
        settings = dict(self)
        with self._lock:
            if self._tools_key == settings:
                return list(self._tools)
            key = (*self.connection_key(), self.timeout)
            if self._client is None or self._client_key != key:
                # Tools handed out before keep the client they were built with.
                self._client = RestClient(**self.client_kwargs())
                self._client_key = key
            shared: dict[str, Any] = {
                "api_key": self.api_key,
                "base_url": self.base_url,
                "timeout": self.timeout,
                "max_retries": self.max_retries,
                "client": self._client,
            }
            self._tools = [
                SmallestTextToSpeechTool(
                    **shared, **self.speech_fields(), output_dir=self.output_dir
                ),
                SmallestListVoicesTool(**shared, model=self.model),
                SmallestCloneVoiceTool(**shared, root_dir=self.clone_root_dir),
                SmallestSpeechToTextTool(**shared),
            ]
            self._tools_key = settings
            return list(self._tools)

    def close(self) -> None:
        """Close the shared HTTP client."""
        with self._lock:
            if self._client is not None:
                self._client.close()
                self._client = None
                self._tools_key = None
