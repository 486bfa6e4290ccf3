"""Smallest speech-to-text (Pulse) as a LangChain tool: audio in, the transcript out.

:class:`SmallestSpeechToTextTool` returns ``(content, artifact)``: the content is the
transcript (what the model reads), the artifact the core's
:class:`~smallest_core.Transcription` (words with times, segments, language, duration)
that the application keeps. A model names a file by ``file_path``; code may also pass
the audio itself (``audio``: bytes or a binary file object), an argument hidden from the
model's schema. ``_arun`` runs on the core's :class:`~smallest_core.AsyncRestClient`,
``_run`` on its :class:`~smallest_core.RestClient`; failures are
:class:`~langchain_core.tools.ToolException` with advice, like the speech tools.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO, Annotated

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import InjectedToolArg, ToolException
from pydantic import BaseModel, ConfigDict, Field
from pydantic.json_schema import SkipJsonSchema

from smallest_core import (
    InvalidOptionError,
    SmallestError,
    STTLanguage,
    STTOptions,
    Transcription,
)

from ._errors import to_tool_exception
from .tools import BaseSmallestTool, readable_file

__all__ = ["SmallestSpeechToTextTool", "SpeechToTextInput"]

_STT_DEFAULTS = STTOptions()
#: What the call may carry as audio besides a path (code only, never the model).
AudioArg = bytes | bytearray | IO[bytes]
#: The same, as pydantic checks it (an open binary file is an ``io.IOBase``).
_AudioField = bytes | bytearray | io.IOBase


class SpeechToTextInput(BaseModel):
    """Arguments of ``smallest_speech_to_text``: a ``file_path`` (or, from code, ``audio``)."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    file_path: str | None = Field(
        default=None,
        description="Path of the recording to transcribe (.wav, .mp3, .flac, .ogg, .m4a, .webm).",
    )
    language: STTLanguage | None = Field(
        default=None,
        description="Language code of the speech, e.g. 'en' or 'hi'; omit for the default.",
    )
    audio: Annotated[SkipJsonSchema[_AudioField | None], InjectedToolArg] = Field(
        default=None,
        description="The audio itself (WAV or other container bytes, or a binary file object).",
    )


class SmallestSpeechToTextTool(BaseSmallestTool):
    """Transcribe a recording with Smallest AI (Pulse); the ``Transcription`` is the artifact.

    Setup:
        ``pip install langchain-smallest`` and ``export SMALLEST_API_KEY=...``.

    Instantiation:
        .. code-block:: python

            from langchain_smallest import SmallestSpeechToTextTool

            stt = SmallestSpeechToTextTool(language="en", root_dir="recordings/")

    Invocation with a ToolCall (the model's way; the artifact rides on the message):
        .. code-block:: python

            msg = stt.invoke({"type": "tool_call", "id": "1", "name": stt.name,
                              "args": {"file_path": "call.wav"}})
            msg.content   # 'Your table is ready.'
            msg.artifact  # Transcription(text='Your table is ready.', duration=1.42)

    From code, pass the audio instead of a path:
    ``stt.invoke({"audio": wav_bytes})`` (bytes or an open binary file). Headerless PCM is
    read as ``encoding`` at ``sample_rate``. Set ``root_dir`` to confine the files a
    model may read to one directory (relative paths are read from there).
    """

    name: str = "smallest_speech_to_text"
    description: str = (
        "Transcribe a recording of speech into text (Smallest AI speech-to-text). Use it "
        "when the user gives an audio file and wants to know what was said. Returns the "
        "transcript."
    )
    args_schema: type[BaseModel] = SpeechToTextInput

    model: str = _STT_DEFAULTS.model
    """Transcription model: ``pulse`` or ``pulse-pro`` (English only)."""
    language: str = _STT_DEFAULTS.language
    """Default language code, or an aggregator such as ``multi-eu``."""
    word_timestamps: bool = _STT_DEFAULTS.word_timestamps
    """Words with start/end times in the artifact."""
    diarize: bool = _STT_DEFAULTS.diarize
    """A speaker label per word."""
    sample_rate: int = _STT_DEFAULTS.sample_rate
    """The rate of headerless audio (WAV and other containers carry their own)."""
    encoding: str = _STT_DEFAULTS.encoding
    """The encoding of headerless audio: linear16, linear32, alaw or mulaw."""
    root_dir: Path | None = None
    """Only files inside this directory may be read; None allows any readable path."""

    @property
    def options(self) -> STTOptions:
        """The transcription options for the current settings (change a field and the
        next call uses it, checked like construction)."""
        return STTOptions(
            model=self.model,  # type: ignore[arg-type]
            language=self.language,  # type: ignore[arg-type]
            word_timestamps=self.word_timestamps,
            diarize=self.diarize,
            sample_rate=self.sample_rate,  # type: ignore[arg-type]
            encoding=self.encoding,  # type: ignore[arg-type]
        ).check_batch()

    def check_settings(self) -> None:
        """Also the transcription defaults, before any call.

        Raises:
            InvalidOptionError: a bad ``model``, ``language``, ``sample_rate`` or
                ``encoding``, naming the allowed values.
        """
        super().check_settings()
        self.options  # noqa: B018 - built to be checked

    def _call(
        self, file_path: str | None, audio: AudioArg | None, language: str | None
    ) -> tuple[str | Path | AudioArg, STTOptions]:
        """What to send and with which options; bad arguments are a ToolException."""
        if (file_path is None) == (audio is None):
            raise ToolException(
                "pass exactly one of 'file_path' (the recording's path) and 'audio'."
            )
        try:
            defaults = self.options
            options = defaults if language is None else defaults.replace(language=language)
            options.check_batch()
        except InvalidOptionError as err:
            raise to_tool_exception(err) from err
        if audio is not None:
            return audio, options
        assert file_path is not None
        return self._source(file_path), options

    def _source(self, file_path: str) -> Path:
        """The file to read, checked before any network call."""
        return readable_file(file_path, self.root_dir)

    def _run(
        self,
        file_path: str | None = None,
        language: str | None = None,
        audio: AudioArg | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, Transcription]:
        """Transcribe on the core's sync :class:`RestClient`."""
        source, options = self._call(file_path, audio, language)
        try:
            result = self._rest().transcribe(source, options=options, timeout=self.timeout)
        except SmallestError as err:
            raise to_tool_exception(err) from err
        return _result(result)

    async def _arun(
        self,
        file_path: str | None = None,
        language: str | None = None,
        audio: AudioArg | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, Transcription]:
        """Transcribe on the core's :class:`AsyncRestClient` (files read in a thread)."""
        source, options = self._call(file_path, audio, language)
        async with self._arest() as client:
            try:
                result = await client.transcribe(source, options=options, timeout=self.timeout)
            except SmallestError as err:
                raise to_tool_exception(err) from err
        return _result(result)


def _result(result: Transcription) -> tuple[str, Transcription]:
    if not result.text.strip():
        return "No speech was heard in the recording.", result
    return result.text, result
