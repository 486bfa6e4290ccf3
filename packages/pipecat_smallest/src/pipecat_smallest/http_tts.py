"""Smallest AI text-to-speech over HTTP for Pipecat: :class:`SmallestHttpTTSService`
synthesizes each sentence over the core's ``AsyncRestClient`` (decoding, retries and
odd-byte carrying are the core's)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

from pipecat.frames.frames import (
    CancelFrame,
    EndFrame,
    ErrorFrame,
    Frame,
    TTSAudioRawFrame,
)
from pipecat.processors.frame_processor import FrameProcessorSetup
from pipecat.utils.tracing.service_decorators import traced_tts

from smallest_core import (
    AsyncRestClient,
    Rechunker,
    SmallestError,
    TTSOptions,
    decode_to_pcm,
)

from ._errors import error_frame
from .base_tts import BaseSmallestTTSService, SmallestTTSSettings
from .log import logger

__all__ = ["SmallestHttpTTSService"]


class SmallestHttpTTSService(BaseSmallestTTSService):
    """Smallest AI TTS over HTTP: one request per sentence (``smallest_core`` REST client).

    For pipelines that cannot keep a WebSocket, or want a format other than PCM on the
    wire; the core decodes every format (``mp3`` with ``soundfile``, a Pipecat
    dependency), so Pipecat always gets PCM frames. Retries of 408/429/5xx and dropped
    connections belong to the core's client.

    Args:
        api_key: Smallest API key; default ``$SMALLEST_API_KEY``.
        base_url: ``https://api.smallest.ai`` (default, or ``$SMALLEST_BASE_URL``) or a
            compatible server; ``ws(s)`` is accepted too.
        settings: model, voice, language, speed, ... (``SmallestHttpTTSService.Settings``).
        sample_rate: output rate; default the pipeline's ``audio_out_sample_rate``.
        output_format: the body format on the wire: pcm, wav, mp3, ulaw or alaw.
        client: a shared ``AsyncRestClient`` (the caller closes it).
        connect_timeout: seconds for each HTTP attempt (connect, send, every wait for
            the server); a timed-out attempt is retried under the client's policy, the
            last one is a ``RequestTimeoutError`` ``ErrorFrame``. Default: the
            client's own timeout (30 s).
        **kwargs: passed to Pipecat's ``TTSService``.

    Raises:
        InvalidOptionError: a setting, ``sample_rate``, ``output_format`` or ``base_url``
            is not acceptable.
        AuthenticationError: no key given and ``$SMALLEST_API_KEY`` is unset.
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
        connect_timeout: float | None = None,
        **kwargs: Any,
    ) -> None:
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
        self._connect_timeout = connect_timeout

        def new_client() -> AsyncRestClient:  # a closure: the key is in no attribute's repr
            return AsyncRestClient(api_key=api_key, base_url=base_url, options=self._options)

        self._new_client = new_client
        self._client = client or new_client()
        self._client_closed = False

    async def setup(self, setup: FrameProcessorSetup) -> None:  # type: ignore[override]  # as Pipecat's own FrameProcessor
        """A service run in a second pipeline gets a new HTTP client (the last run
        closed its own)."""
        await super().setup(setup)
        if self._client_closed:
            self._client = self._new_client()
            self._client_closed = False

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
            self._client_closed = True

    @traced_tts
    async def run_tts(self, text: str, context_id: str) -> AsyncGenerator[Frame | None, None]:
        """Synthesize ``text`` and yield its audio as PCM frames.

        PCM streams over SSE, so the first audio plays before the sentence is fully
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
            body = await self._client.synthesize(
                text, options=options, timeout=self._connect_timeout
            )
            pcm = await asyncio.to_thread(
                decode_to_pcm, body, options.output_format, options.sample_rate
            )
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
        samples = Rechunker(2)  # a chunk may end mid-sample: frames hold whole samples
        stream = self._client.stream(text, options=options, timeout=self._connect_timeout)
        async for chunk in stream:
            if pcm := samples.take(chunk.audio):
                yield TTSAudioRawFrame(pcm, options.sample_rate, 1, context_id=context_id)
