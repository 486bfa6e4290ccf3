"""Smallest speech as LangChain tools: speak a text, list voices, clone a voice.

Each tool returns ``(content, artifact)`` (``response_format="content_and_artifact"``):
the content is a short sentence the model reads, the artifact is the data the
application keeps (audio bytes, :class:`~smallest_core.Voice` records, the
:class:`~smallest_core.ClonedVoice` job) and the model never sees. ``_arun`` runs on the
core's :class:`~smallest_core.AsyncRestClient` and ``_run`` on its
:class:`~smallest_core.RestClient`; neither falls back to a thread.

Failures arrive as :class:`~langchain_core.tools.ToolException` whose text says what to
change (``handle_tool_error=True`` by default, so an agent reads it and tries again);
invalid arguments the same way through ``handle_validation_error``.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from langchain_core.callbacks import AsyncCallbackManagerForToolRun, CallbackManagerForToolRun
from langchain_core.tools import BaseTool, ToolException
from pydantic import BaseModel, Field, PrivateAttr

from smallest_core import (
    AsyncRestClient,
    ClonedVoice,
    InvalidOptionError,
    InvalidRequestError,
    Language,
    Model,
    OutputFormat,
    RestClient,
    SampleRate,
    SmallestError,
    TTSOptions,
    Voice,
    audio_duration,
)

from ._errors import to_tool_exception, validation_message
from .settings import DEFAULTS, LIVE_CONFIG, FileSpeechSettings, HttpSettings

__all__ = [
    "CloneVoiceInput",
    "ListVoicesInput",
    "SmallestCloneVoiceTool",
    "SmallestListVoicesTool",
    "SmallestTextToSpeechTool",
    "SpeechAudio",
    "TextToSpeechInput",
]

#: At most this many voice ids are quoted when a voice is unknown.
_HINT_VOICES = 20


@dataclass(frozen=True, slots=True)
class SpeechAudio:
    """The artifact of :class:`SmallestTextToSpeechTool`: the audio and how to play it.

    Attributes:
        audio: the body exactly as synthesized, in ``output_format``.
        sample_rate: samples per second.
        output_format: ``wav``, ``mp3``, ``pcm`` (s16le mono), ``ulaw`` or ``alaw``.
        duration: seconds of audio.
        voice_id: the voice that spoke.
        model: the model that spoke.
        path: where the audio was written, only when the tool has an ``output_dir``.
    """

    audio: bytes
    sample_rate: int
    output_format: str
    duration: float
    voice_id: str
    model: str
    path: Path | None = None

    def __repr__(self) -> str:  # never dump the audio into logs or traces
        return (
            f"SpeechAudio({len(self.audio)} bytes, {self.output_format} {self.sample_rate} Hz, "
            f"{self.duration:.2f} s, voice={self.voice_id!r}, path={self.path})"
        )


def readable_file(file_path: str, root_dir: Path | None) -> Path:
    """The recording a model named, checked before any network call: inside ``root_dir``
    when one is set (relative paths are read from there), and an existing file.

    Raises:
        ToolException: naming ``file_path`` and what to pass instead.
    """
    path = Path(file_path).expanduser()
    if root_dir is not None:
        root = root_dir.resolve()
        path = (root / path).resolve()
        if not path.is_relative_to(root):
            raise ToolException(
                f"file_path={file_path!r} is outside the allowed directory {root}; "
                "pass a file inside it."
            )
    if not path.is_file():
        raise ToolException(
            f"file_path={file_path!r} does not exist or is not a file; pass the path "
            "of an existing recording."
        )
    return path


class BaseSmallestTool(HttpSettings, BaseTool):
    """What every Smallest tool shares: settings, the core clients, error handling (the
    base of the speech, voice, clone and transcription tools; not exported)."""

    model_config = LIVE_CONFIG

    client: RestClient | None = Field(default=None, exclude=True)
    """A sync client to use instead of one of our own (the toolkit shares one)."""
    async_client: AsyncRestClient | None = Field(default=None, exclude=True)
    """An async client to use instead of a fresh one per call. Bound to the event loop
    it first ran on, so only pass one whose loop outlives the tool."""

    response_format: Literal["content", "content_and_artifact"] = "content_and_artifact"
    handle_tool_error: bool | str | Callable[[ToolException], Any] | None = True
    handle_validation_error: bool | str | Callable[..., str] | None = validation_message

    _own_client: RestClient | None = PrivateAttr(default=None)
    _own_client_key: tuple[Any, ...] = PrivateAttr(default=())
    _client_lock: threading.Lock = PrivateAttr(default_factory=threading.Lock)

    def __init__(self, **kwargs: Any) -> None:
        """Build the tool; see the class attributes for the arguments.

        Raises:
            ValueError: no API key (argument or ``SMALLEST_API_KEY``), or a bad
                ``timeout``/``max_retries``.
            InvalidOptionError: a bad synthesis default (speech tool), naming the field.
        """
        super().__init__(**kwargs)
        self.check_settings()

    def _rest(self) -> RestClient:
        """The sync client: the one given, else ours for the current settings (created
        once per setting, thread-safe)."""
        if self.client is not None:
            return self.client
        key = (*self.connection_key(), self.timeout)
        with self._client_lock:
            if self._own_client is None or self._own_client_key != key:
                if self._own_client is not None:
                    self._own_client.close()
                self._own_client = RestClient(**self.client_kwargs())
                self._own_client_key = key
            return self._own_client

    @asynccontextmanager
    async def _arest(self) -> AsyncIterator[AsyncRestClient]:
        """The async client for one call.

        Without an ``async_client``, each call gets a fresh one and closes it: an async
        HTTP pool belongs to the loop that opened it, and tools are called from many
        loops (``asyncio.run`` per request, notebooks, test runners).
        """
        if self.async_client is not None:
            yield self.async_client
            return
        async with AsyncRestClient(**self.client_kwargs()) as client:
            yield client

    def close(self) -> None:
        """Close the sync HTTP client this tool created (a given ``client`` is yours)."""
        with self._client_lock:
            if self._own_client is not None:
                self._own_client.close()
                self._own_client = None


# -- text to speech ---------------------------------------------------------------------------
class TextToSpeechInput(BaseModel):
    """Arguments of ``smallest_text_to_speech``; omitted ones use the tool's defaults."""

    text: str = Field(description="The exact words to speak, as plain text.")
    voice_id: str | None = Field(
        default=None, description="Voice id (from smallest_list_voices); omit for the default."
    )
    model: Model | None = Field(default=None, description="Speech model; omit for the default.")
    language: Language | None = Field(
        default=None, description="Language code of the text, or 'auto'; omit for the default."
    )
    speed: float | None = Field(
        default=None, description="Speaking rate from 0.5 (slow) to 2.0 (fast); 1.0 is normal."
    )
    sample_rate: SampleRate | None = Field(default=None, description="Samples per second.")
    output_format: OutputFormat | None = Field(
        default=None, description="Audio format of the result; omit for the default."
    )


class SmallestTextToSpeechTool(FileSpeechSettings, BaseSmallestTool):
    """Turn text into speech with Smallest AI (Waves); the audio is the artifact.

    Setup:
        ``pip install langchain-smallest`` and ``export SMALLEST_API_KEY=...``.

    Instantiation:
        .. code-block:: python

            from langchain_smallest import SmallestTextToSpeechTool

            tts = SmallestTextToSpeechTool(voice_id="meher", output_dir="speech/")

    Invocation with a ToolCall (the model's way; the artifact rides on the message):
        .. code-block:: python

            msg = tts.invoke({"type": "tool_call", "id": "1", "name": tts.name,
                              "args": {"text": "Your table is ready."}})
            msg.content   # 'Spoke 1.42 s of audio (voice meher, ...); saved to speech/....wav.'
            msg.artifact  # SpeechAudio(audio=b'RIFF...', sample_rate=24000, ...)

    Invocation with args returns only the content (LangChain drops the artifact
    without a tool call id); call ``tts.invoke(...)`` with a ToolCall, or use
    :class:`~langchain_smallest.SmallestSpeech`, when you want the audio.

    Files are written only when ``output_dir`` is set; the tool never leaves temp files.
    """

    name: str = "smallest_text_to_speech"
    description: str = (
        "Speak a text aloud with a natural voice (Smallest AI text-to-speech). Use it when "
        "the user wants audio, a voice message or a spoken answer. Returns how long the "
        "audio is and where it was saved; the audio itself goes to the application."
    )
    args_schema: type[BaseModel] = TextToSpeechInput

    output_dir: Path | None = None
    """Write each result here (created if missing); None keeps audio in memory only.

    The speech defaults (``model``, ``voice_id``, ``language``, ``speed``,
    ``sample_rate``, ``output_format``, default ``wav``) come from
    :class:`~langchain_smallest.settings.FileSpeechSettings`; bad ones raise
    :class:`~smallest_core.InvalidOptionError` at construction or when changed.
    """

    def _call_options(self, text: str, changes: dict[str, Any]) -> TTSOptions:
        """This call's options; bad arguments become a :class:`ToolException`."""
        if not text.strip():
            raise ToolException("text is empty: pass the words to speak in the 'text' argument.")
        try:
            return self.tts_options().replace(**{k: v for k, v in changes.items() if v is not None})
        except InvalidOptionError as err:
            raise to_tool_exception(err) from err

    def _run(
        self,
        text: str,
        voice_id: str | None = None,
        model: str | None = None,
        language: str | None = None,
        speed: float | None = None,
        sample_rate: int | None = None,
        output_format: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, SpeechAudio]:
        """Synthesize on the core's sync :class:`RestClient`."""
        options = self._call_options(
            text,
            dict(
                voice_id=voice_id,
                model=model,
                language=language,
                speed=speed,
                sample_rate=sample_rate,
                output_format=output_format,
            ),
        )
        client = self._rest()
        try:
            data = client.synthesize(text, options=options, timeout=self.timeout)
        except SmallestError as err:
            hint = None
            if isinstance(err, InvalidRequestError):
                hint = _unknown_voice_hint(options, *_catalog_sync(client, options.model))
            raise to_tool_exception(err, hint) from err
        path = self._save(data, options) if self.output_dir is not None else None
        return self._result(data, options, path)

    async def _arun(
        self,
        text: str,
        voice_id: str | None = None,
        model: str | None = None,
        language: str | None = None,
        speed: float | None = None,
        sample_rate: int | None = None,
        output_format: str | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, SpeechAudio]:
        """Synthesize on the core's :class:`AsyncRestClient`."""
        options = self._call_options(
            text,
            dict(
                voice_id=voice_id,
                model=model,
                language=language,
                speed=speed,
                sample_rate=sample_rate,
                output_format=output_format,
            ),
        )
        async with self._arest() as client:
            try:
                data = await client.synthesize(text, options=options, timeout=self.timeout)
            except SmallestError as err:
                hint = None
                if isinstance(err, InvalidRequestError):
                    hint = _unknown_voice_hint(
                        options, *await _catalog_async(client, options.model)
                    )
                raise to_tool_exception(err, hint) from err
        path = None
        if self.output_dir is not None:
            path = await asyncio.to_thread(self._save, data, options)
        return self._result(data, options, path)

    def _save(self, data: bytes, options: TTSOptions) -> Path:
        assert self.output_dir is not None
        self.output_dir.mkdir(parents=True, exist_ok=True)
        path = self.output_dir / f"smallest-{uuid.uuid4().hex[:12]}.{options.output_format}"
        path.write_bytes(data)
        return path

    @staticmethod
    def _result(data: bytes, options: TTSOptions, path: Path | None) -> tuple[str, SpeechAudio]:
        audio = SpeechAudio(
            audio=data,
            sample_rate=options.sample_rate,
            output_format=options.output_format,
            duration=audio_duration(data, options.output_format, options.sample_rate),
            voice_id=options.voice_id,
            model=options.model,
            path=path,
        )
        where = (
            f"saved to {path}"
            if path is not None
            else "the audio was handed to the application (not saved to a file)"
        )
        content = (
            f"Spoke {audio.duration:.2f} s of audio (voice {audio.voice_id}, model "
            f"{audio.model}, {audio.output_format} at {audio.sample_rate} Hz, "
            f"{len(data)} bytes); {where}."
        )
        return content, audio


def _catalog_sync(client: RestClient, model: str) -> tuple[list[Voice], list[ClonedVoice]]:
    """The voices a ``voice_id`` may name; empty when they cannot be fetched."""
    try:
        return client.voices(model), client.clones()
    except SmallestError:
        return [], []


async def _catalog_async(
    client: AsyncRestClient, model: str
) -> tuple[list[Voice], list[ClonedVoice]]:
    """See :func:`_catalog_sync`."""
    try:
        return await client.voices(model), await client.clones()
    except SmallestError:
        return [], []


def _unknown_voice_hint(
    options: TTSOptions, voices: Sequence[Voice], clones: Sequence[ClonedVoice]
) -> str | None:
    """A sentence naming valid voices when the rejected request's voice is unknown."""
    if not voices:
        return None
    known = {v.voice_id for v in voices} | {c.voice_id for c in clones if c.ready}
    if options.voice_id in known:
        return None  # the request was rejected for another reason
    ids = [v.voice_id for v in voices]
    shown = ", ".join(ids[:_HINT_VOICES]) + (", ..." if len(ids) > _HINT_VOICES else "")
    return (
        f"voice_id={options.voice_id!r} is not a voice of {options.model}; valid voice ids "
        f"include: {shown} ({len(ids)} in total; smallest_list_voices describes them)."
    )


# -- voices -----------------------------------------------------------------------------------
class ListVoicesInput(BaseModel):
    """Arguments of ``smallest_list_voices``."""

    model: Model | None = Field(
        default=None, description="Whose voices to list; omit for the default model."
    )
    language: str | None = Field(
        default=None,
        description="Only voices speaking this language, by name, e.g. 'english' or 'hindi'.",
    )


class SmallestListVoicesTool(BaseSmallestTool):
    """List the voices a Smallest model offers; the artifact is the list of ``Voice``.

    The content lists at most ``max_listed`` voices (id, name, gender, accent,
    languages) so a large catalog does not flood the model's context; the artifact
    always holds every matching voice.
    """

    name: str = "smallest_list_voices"
    description: str = (
        "List the voices available for Smallest AI text-to-speech, optionally only those "
        "speaking a language. Use it to pick a voice_id for smallest_text_to_speech."
    )
    args_schema: type[BaseModel] = ListVoicesInput

    model: str = DEFAULTS.model
    """Model whose catalog is listed when the call names none."""
    max_listed: int = 50
    """Voices described in the content at most."""

    def _run(
        self,
        model: str | None = None,
        language: str | None = None,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, list[Voice]]:
        """List on the core's sync :class:`RestClient`."""
        chosen = model or self.model
        try:
            voices = self._rest().voices(chosen)
        except SmallestError as err:
            raise to_tool_exception(err) from err
        return self._result(voices, chosen, language)

    async def _arun(
        self,
        model: str | None = None,
        language: str | None = None,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, list[Voice]]:
        """List on the core's :class:`AsyncRestClient`."""
        chosen = model or self.model
        async with self._arest() as client:
            try:
                voices = await client.voices(chosen)
            except SmallestError as err:
                raise to_tool_exception(err) from err
        return self._result(voices, chosen, language)

    def _result(
        self, voices: list[Voice], model: str, language: str | None
    ) -> tuple[str, list[Voice]]:
        if language:
            # The catalog names languages ("english"); match the name or its start.
            wanted = language.strip().lower()
            voices = [v for v in voices if any(n.lower().startswith(wanted) for n in v.languages)]
        scope = f"{model}" + (f" speaking {language!r}" if language else "")
        if not voices:
            return f"No voices of {scope}; try another language or model.", voices
        lines = [f"{len(voices)} voices of {scope} (voice_id: name, details):"]
        for voice in voices[: self.max_listed]:
            details = ", ".join(
                part for part in (voice.gender, voice.accent and f"{voice.accent} accent") if part
            )
            langs = "/".join(voice.languages)
            lines.append(
                f"- {voice.voice_id}: {voice.display_name}"
                + (f" ({details}; {langs})" if details else f" ({langs})" if langs else "")
            )
        if len(voices) > self.max_listed:
            lines.append(f"... and {len(voices) - self.max_listed} more.")
        return "\n".join(lines), voices


# -- voice cloning ----------------------------------------------------------------------------
class CloneVoiceInput(BaseModel):
    """Arguments of ``smallest_clone_voice``."""

    file_path: str = Field(
        description=(
            "Path of a 5-15 s recording of one speaker, little background noise "
            "(.wav, .mp3, .webm, .mp4 or .m4a)."
        )
    )
    display_name: str = Field(description="A name for the new voice.")
    language: Language | None = Field(
        default=None, description="Language the voice will mostly speak; omit if unsure."
    )
    description: str | None = Field(default=None, description="A short note about the voice.")
    wait: bool = Field(
        default=False,
        description="Wait until the new voice is ready before answering (takes longer).",
    )


class SmallestCloneVoiceTool(BaseSmallestTool):
    """Clone a voice from a recording; the artifact is the ``ClonedVoice`` job.

    With ``wait`` the tool watches the job through the core's ``wait_for_voice`` (up
    to ``wait_timeout`` seconds) and answers with a voice id ready for
    :class:`SmallestTextToSpeechTool`. Set ``root_dir`` to confine the files a model may
    upload to one directory (relative paths are read from there).
    """

    name: str = "smallest_clone_voice"
    description: str = (
        "Create a new voice for Smallest AI text-to-speech from a short recording of one "
        "speaker. Returns the new voice_id and whether it is ready to use."
    )
    args_schema: type[BaseModel] = CloneVoiceInput

    model: str | None = None
    """Model the clone is made for (either spelling); None lets the service choose."""
    root_dir: Path | None = None
    """Only files inside this directory may be uploaded; None allows any readable path."""
    wait_timeout: float = 120.0
    """Seconds ``wait=true`` watches the job before giving up."""

    def _source(self, file_path: str) -> Path:
        """The file to upload, checked before any network call."""
        return readable_file(file_path, self.root_dir)

    def _run(
        self,
        file_path: str,
        display_name: str,
        language: str | None = None,
        description: str | None = None,
        wait: bool = False,
        run_manager: CallbackManagerForToolRun | None = None,
    ) -> tuple[str, ClonedVoice]:
        """Clone on the core's sync :class:`RestClient`."""
        path = self._source(file_path)
        client = self._rest()
        try:
            clone = client.add_voice(
                display_name=display_name,
                file=path,
                language=language,
                description=description,
                model=self.model,
            )
            if wait:
                clone = client.wait_for_voice(clone.voice_id, timeout=self.wait_timeout)
        except SmallestError as err:
            raise to_tool_exception(err) from err
        return _clone_result(clone)

    async def _arun(
        self,
        file_path: str,
        display_name: str,
        language: str | None = None,
        description: str | None = None,
        wait: bool = False,
        run_manager: AsyncCallbackManagerForToolRun | None = None,
    ) -> tuple[str, ClonedVoice]:
        """Clone on the core's :class:`AsyncRestClient`."""
        path = self._source(file_path)
        data = await asyncio.to_thread(path.read_bytes)
        async with self._arest() as client:
            try:
                clone = await client.add_voice(
                    display_name=display_name,
                    file=data,
                    filename=path.name,
                    language=language,
                    description=description,
                    model=self.model,
                )
                if wait:
                    clone = await client.wait_for_voice(clone.voice_id, timeout=self.wait_timeout)
            except SmallestError as err:
                raise to_tool_exception(err) from err
        return _clone_result(clone)


def _clone_result(clone: ClonedVoice) -> tuple[str, ClonedVoice]:
    if clone.ready:
        return (
            f"Voice {clone.display_name!r} is ready: use voice_id={clone.voice_id!r} with "
            "smallest_text_to_speech.",
            clone,
        )
    if clone.final:
        raise ToolException(
            f"Cloning voice {clone.display_name!r} (voice_id={clone.voice_id!r}) failed: "
            f"{clone.error or 'no reason given'}. Try a longer, cleaner recording of one "
            "speaker."
        )
    return (
        f"Cloning voice {clone.display_name!r} started (voice_id={clone.voice_id!r}, "
        f"status {clone.status}); the voice can speak once the job has finished, "
        "usually within a minute. Do not start it again.",
        clone,
    )
