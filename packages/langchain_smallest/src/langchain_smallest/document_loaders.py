"""``SmallestAudioLoader``: recordings → LangChain ``Document``s of their transcripts.

One :class:`~langchain_core.documents.Document` per file, loaded lazily: the transcript
as ``page_content``, and in ``metadata`` the ``source`` path and the fields of the core's
:class:`~smallest_core.Transcription` the server filled in: ``duration``, ``language``,
``request_id`` and — with word timestamps — ``words`` (the fields of
:class:`~smallest_core.Word`: ``word``, ``start``, ``end`` in seconds from the file's
start, ``confidence``, ``speaker``, ``speaker_confidence``) and ``segments``. The sync
path runs on the core's :class:`~smallest_core.RestClient`, the async one on its
:class:`~smallest_core.AsyncRestClient`; a failure raises the core's typed, redacted
:class:`~smallest_core.SmallestError` (retryable ones were retried by the core first).
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

from langchain_core.document_loaders import BaseLoader
from langchain_core.documents import Document
from pydantic import SecretStr

from smallest_core import (
    AsyncRestClient,
    RestClient,
    STTOptions,
    Transcription,
)

from .settings import HttpSettings

__all__ = ["SmallestAudioLoader"]

PathLike = str | os.PathLike[str]


class SmallestAudioLoader(BaseLoader):
    """Transcribe audio files with Smallest AI (Pulse) into ``Document``s.

    Example:
        .. code-block:: python

            from langchain_smallest import SmallestAudioLoader

            loader = SmallestAudioLoader(["call-1.wav", "call-2.mp3"], language="en")
            for doc in loader.lazy_load():
                print(doc.metadata["source"], doc.page_content)
                first = doc.metadata["words"][0]  # {"word": ..., "start": 0.12, ...}

    Args:
        file_path: one path or several; each becomes one Document, in order.
        api_key: Smallest API key (default ``$SMALLEST_API_KEY``).
        base_url: API base URL (default ``$SMALLEST_BASE_URL`` or the public API).
        options: the transcription options; default ``STTOptions()`` with the
            ``language`` given here (word timestamps on).
        language: shorthand for ``options.language`` when ``options`` is not given.
        timeout: seconds per HTTP request.
        max_retries: retries after the first attempt, done by the core.

    Raises:
        ValueError: no API key, or a bad ``timeout``/``max_retries``.
        InvalidOptionError: options batch transcription cannot take.
    """

    def __init__(
        self,
        file_path: PathLike | Sequence[PathLike],
        *,
        api_key: str | SecretStr | None = None,
        base_url: str | None = None,
        options: STTOptions | None = None,
        language: str | None = None,
        timeout: float = 120.0,
        max_retries: int = 2,
    ) -> None:
        self.paths: list[Path] = (
            [Path(file_path)]
            if isinstance(file_path, str | os.PathLike)
            else [Path(p) for p in file_path]
        )
        given: dict[str, Any] = {"timeout": timeout, "max_retries": max_retries}
        if api_key is not None:
            given["api_key"] = api_key
        if base_url is not None:
            given["base_url"] = base_url
        settings = HttpSettings(**given)  # the tools' checks: key, timeout, retries
        settings.check_settings()
        if options is None:
            options = STTOptions() if language is None else STTOptions(language=language)  # type: ignore[arg-type]
        self.options = options.check_batch()
        self._client_kwargs = settings.client_kwargs()

    def lazy_load(self) -> Iterator[Document]:
        """One Document per file, transcribed as it is reached (core's sync client)."""
        with RestClient(**self._client_kwargs) as client:
            for path in self.paths:
                yield _document(path, client.transcribe(path, options=self.options))

    async def alazy_load(self) -> AsyncIterator[Document]:
        """The async twin of :meth:`lazy_load` (files read in a worker thread)."""
        async with AsyncRestClient(**self._client_kwargs) as client:
            for path in self.paths:
                yield _document(path, await client.transcribe(path, options=self.options))

    def __repr__(self) -> str:
        return f"SmallestAudioLoader({len(self.paths)} files, language={self.options.language!r})"


def _document(path: Path, result: Transcription) -> Document:
    """The transcript as content; the rest of the core's record (its own field names,
    so the metadata follows it) as metadata, leaving out what the server did not send."""
    record = dataclasses.asdict(dataclasses.replace(result, text=""))
    metadata: dict[str, Any] = {"source": str(path)}
    for name, value in record.items():
        if value in ("", (), None):
            continue
        metadata[name] = list(value) if isinstance(value, tuple) else value
    return Document(page_content=result.text, metadata=metadata)
