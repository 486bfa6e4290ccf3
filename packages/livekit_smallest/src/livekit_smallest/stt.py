"""Smallest AI speech-to-text (Pulse) for LiveKit Agents, built on ``smallest_core``.

* :meth:`STT.stream` → :class:`SpeechStream`: one core :class:`~smallest_core.Transcriber`
  session per stream. Frames at any rate are resampled by LiveKit's own
  ``rtc.AudioResampler`` (the base ``RecognizeStream`` does it for the rate we name);
  ``flush()`` is the core's ``finalize``, ``end_input()`` its ``end``. Core events
  become ``SpeechEvent``\\ s: interim and final transcripts (finals with ``TimedString``
  words), start/end of speech from the server's VAD, and recognition usage in audio
  seconds after each final.
* :meth:`STT.recognize` posts the buffer to the core's batch ``transcribe``.

One retry owner: ``APIConnectOptions`` set the core's :class:`~smallest_core.RetryPolicy`
(as :func:`livekit_smallest.tts.retry_policy` does for TTS), and errors reach LiveKit
non-retryable — except a session lost after its audio was accepted
(``TranscriptionLostError``), which the core does not retry: LiveKit reopens the stream.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from livekit import rtc
from livekit.agents import (
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    LanguageCode,
    stt,
    utils,
)
from livekit.agents.types import NOT_GIVEN, NotGivenOr, TimedString
from livekit.agents.utils import AudioBuffer, is_given

from smallest_core import (
    AsyncRestClient,
    FinalTranscript,
    InterimTranscript,
    SmallestError,
    SpeechEnded,
    SpeechStarted,
    STTOptions,
    Transcriber,
    TranscriptionLostError,
    Word,
    pcm_to_wav,
)

from ._errors import to_api_error
from .tts import retry_policy

__all__ = ["STT", "SpeechStream"]

PROVIDER = "SmallestAI"
_VAD = (SpeechStarted, SpeechEnded)  # the server's voice-activity events


def _capabilities(options: STTOptions) -> stt.STTCapabilities:
    """What a stream with ``options`` delivers, as LiveKit reads it."""
    return stt.STTCapabilities(
        streaming=True,
        interim_results=True,
        diarization=options.diarize,
        aligned_transcript="word" if options.word_timestamps else False,
        offline_recognize=True,
        manual_flush=True,  # flush() → finalize: the turn's speech as a final at once
    )


@dataclass(frozen=True, slots=True)
class _Connection:
    api_key: str | None
    base_url: str | None


class STT(stt.STT):
    """Smallest AI Pulse speech-to-text for LiveKit Agents.

    Example:
        .. code-block:: python

            from livekit.agents import AgentSession
            from livekit_smallest import STT, TTS

            session = AgentSession(stt=STT(language="en"), tts=TTS(), ...)

    Args:
        api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
        base_url: ``wss://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``) or a
            compatible server; ``http(s)`` is accepted too (each call derives its own).
        options: the core's :class:`~smallest_core.STTOptions`; keyword arguments
            (``language="hi"``, ``keywords=("Pulse",)``...) replace its fields.
        **changes: option fields to set on ``options`` (validated here).

    Raises:
        InvalidOptionError: a bad option, naming the field and the allowed values.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        base_url: str | None = None,
        options: STTOptions | None = None,
        **changes: Any,
    ) -> None:
        opts = (options or STTOptions()).replace(**changes).check_streaming()
        super().__init__(capabilities=_capabilities(opts))
        self._opts = opts
        self._connection = _Connection(api_key, base_url)

    @property
    def model(self) -> str:
        """The Pulse model (LiveKit's metrics label)."""
        return self._opts.model

    @property
    def provider(self) -> str:
        """``SmallestAI`` (LiveKit's metrics label)."""
        return PROVIDER

    @property
    def options(self) -> STTOptions:
        """The options the next stream or recognition uses."""
        return self._opts

    def update_options(self, **changes: Any) -> None:
        """Change options (any :class:`~smallest_core.STTOptions` field) for the next stream
        and recognition; a stream already open keeps its own.

        Raises:
            InvalidOptionError: a bad value (the options stay as they were).
        """
        self._opts = self._opts.replace(**changes).check_streaming()
        self._capabilities = _capabilities(self._opts)

    def stream(
        self,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions = DEFAULT_API_CONNECT_OPTIONS,
    ) -> SpeechStream:
        """A streaming recognition with the current options (``language`` for this one)."""
        opts = self._opts if not is_given(language) else self._opts.replace(language=language)
        return SpeechStream(
            stt=self,
            options=opts.check_streaming(),
            connection=self._connection,
            conn_options=conn_options,
        )

    async def _recognize_impl(
        self,
        buffer: AudioBuffer,
        *,
        language: NotGivenOr[str] = NOT_GIVEN,
        conn_options: APIConnectOptions,
    ) -> stt.SpeechEvent:
        """Transcribe a buffer with the core's batch call (WAV at the buffer's rate)."""
        frame = utils.merge_frames(buffer)
        opts = self._opts if not is_given(language) else self._opts.replace(language=language)
        try:
            async with AsyncRestClient(
                api_key=self._connection.api_key,
                base_url=self._connection.base_url,
                timeout=conn_options.timeout,
                retry=retry_policy(conn_options),
            ) as client:
                result = await client.transcribe(
                    pcm_to_wav(frame.data.tobytes(), frame.sample_rate), options=opts
                )
        except SmallestError as err:
            raise to_api_error(err) from err
        data = stt.SpeechData(
            language=LanguageCode(result.language or opts.language),
            text=result.text,
            start_time=result.words[0].start if result.words else 0.0,
            end_time=result.words[-1].end if result.words else (result.duration or 0.0),
            confidence=_confidence(result.words),
            words=_timed(result.words, 0.0) if result.words else None,
        )
        return stt.SpeechEvent(
            type=stt.SpeechEventType.FINAL_TRANSCRIPT,
            request_id=result.request_id or "",
            alternatives=[data],
        )


class SpeechStream(stt.RecognizeStream):
    """One Pulse streaming session under LiveKit's ``RecognizeStream`` contract."""

    def __init__(
        self,
        *,
        stt: STT,
        options: STTOptions,
        connection: _Connection,
        conn_options: APIConnectOptions,
    ) -> None:
        # The base resamples pushed frames to this rate with LiveKit's AudioResampler.
        super().__init__(stt=stt, conn_options=conn_options, sample_rate=options.sample_rate)
        self._connection = connection
        self._opts = options
        self._session: Transcriber | None = None
        self._usage_seconds = 0.0
        self._request_id = ""
        self._language = LanguageCode(options.language)  # the interims' (one per stream)

    @property
    def session(self) -> Transcriber | None:
        """The core session (once ``_run`` opened it)."""
        return self._session

    async def _run(self) -> None:
        connection = self._connection
        session = Transcriber(
            api_key=connection.api_key,
            base_url=connection.base_url,
            options=self._opts,
            retry=retry_policy(self._conn_options),
            open_timeout=self._conn_options.timeout,
            # the wait for the last finals after end_input() is an API call's wait too
            end_timeout=self._conn_options.timeout,
        )
        self._session = session
        try:
            await session.connect()
            sender = asyncio.create_task(self._send(session), name="smallest-stt-send")
            try:
                async for event in session:
                    self._emit(event, session)
            finally:
                await utils.aio.cancel_and_wait(sender)
        except TranscriptionLostError as err:
            # Not retried by the core (the audio it covered is gone): LiveKit reopens the
            # stream on a fresh session, reporting a recoverable error; the agent listens on.
            raise to_api_error(err, retryable=True) from err
        except SmallestError as err:
            raise to_api_error(err) from err
        finally:
            await session.aclose()

    async def _send(self, session: Transcriber) -> None:
        """Frames and flushes from LiveKit to the session, then its end."""
        try:
            async for item in self._input_ch:
                if isinstance(item, rtc.AudioFrame):
                    await session.push_audio(item.data.tobytes())
                else:  # a flush: this turn's speech as a final now
                    await session.finalize()
            await session.end()
        except SmallestError:
            session.cancel()  # the reader raises the session's error

    def _emit(self, event: object, session: Transcriber) -> None:
        # interims first: most events are interims (one per audio frame while speaking)
        if isinstance(event, InterimTranscript):
            self._request_id = event.session_id or self._request_id
            if event.text.strip():
                self._event_ch.send_nowait(
                    stt.SpeechEvent(
                        type=stt.SpeechEventType.INTERIM_TRANSCRIPT,
                        request_id=self._request_id,
                        alternatives=[stt.SpeechData(language=self._language, text=event.text)],
                    )
                )
        elif isinstance(event, FinalTranscript):
            self._request_id = event.session_id or self._request_id
            if event.text.strip():
                self._event_ch.send_nowait(
                    stt.SpeechEvent(
                        type=stt.SpeechEventType.FINAL_TRANSCRIPT,
                        request_id=self._request_id,
                        alternatives=[_final_data(event, self._opts, self.start_time_offset)],
                    )
                )
            self._usage(session)
        elif isinstance(event, _VAD):
            # the server's VAD: its stream time, on LiveKit's wall clock
            at = self.start_time + event.timestamp
            started = isinstance(event, SpeechStarted)
            self._event_ch.send_nowait(
                stt.SpeechEvent(
                    type=stt.SpeechEventType.START_OF_SPEECH
                    if started
                    else stt.SpeechEventType.END_OF_SPEECH,
                    request_id=self._request_id,
                    speech_start_time=at if started else None,
                    speech_end_time=None if started else at,
                )
            )

    def _usage(self, session: Transcriber) -> None:
        """Audio seconds sent since the last report, as LiveKit's usage event."""
        seconds = session.metrics.audio_seconds - self._usage_seconds
        if seconds <= 0:
            return
        self._usage_seconds += seconds
        self._event_ch.send_nowait(
            stt.SpeechEvent(
                type=stt.SpeechEventType.RECOGNITION_USAGE,
                request_id=self._request_id,
                recognition_usage=stt.RecognitionUsage(audio_duration=seconds),
            )
        )


def _confidence(words: tuple[Word, ...]) -> float:
    known = [w.confidence for w in words if w.confidence is not None]
    return sum(known) / len(known) if known else 0.0


def _timed(words: tuple[Word, ...], offset: float) -> list[TimedString]:
    return [
        TimedString(
            w.word,
            start_time=w.start + offset,
            end_time=w.end + offset,
            confidence=w.confidence if w.confidence is not None else NOT_GIVEN,
            start_time_offset=offset,
            speaker_id=w.speaker,
        )
        for w in words
    ]


def _final_data(final: FinalTranscript, options: STTOptions, offset: float) -> stt.SpeechData:
    return stt.SpeechData(
        language=LanguageCode(final.language or options.language),
        text=final.text,
        start_time=(final.start or 0.0) + offset,
        end_time=(final.end or 0.0) + offset,
        confidence=_confidence(final.words),
        speaker_id=final.words[0].speaker if final.words else None,
        words=_timed(final.words, offset) if options.word_timestamps and final.words else None,
        source_languages=[LanguageCode(code) for code in final.languages] or None,
    )
