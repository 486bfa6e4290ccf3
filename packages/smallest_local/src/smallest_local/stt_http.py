"""Pulse batch transcription: ``POST /waves/v1/stt/`` and legacy ``/waves/v1/pulse/get_text``.

STT.md §1.6. The body is the audio file: a WAV is read from its header (container
sniffing first, D18); a headerless body is raw samples in ``encoding``/``sample_rate``
(defaults ``linear16``/16000); other containers (MP3, Ogg, FLAC, WebM, MP4) and
``{"url": ...}`` bodies are a 400 naming what to send instead (this server has no
decoders for them and no network). The body is read in pieces against
``stt_max_batch_bytes``: over it is 413 on ``/stt/`` and the legacy 400
``{"status":"error","message":"Error handling audio data","errors":"Audio data too large"}``
on the old path (D16). The audio is recognised by the same :class:`~.stt.Segmenter` as
a stream (endpointing, rollover), its finals becoming ``utterances``. Each request holds
one unit of the key's concurrency limit (over it: 429 with ``Retry-After``).
"""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from aiohttp import web

from .state import STATE
from .stt import (
    AudioDecoder,
    AudioError,
    Segmenter,
    SttOptions,
    format_text,
    parse_options,
    sniff_container,
    wav_to_pcm16,
)
from .stt_ws import stt_error
from .wire import RequestError

__all__ = ["BATCH_PATH", "LEGACY_BATCH_PATH", "add_routes"]

BATCH_PATH = "/waves/v1/stt/"
LEGACY_BATCH_PATH = "/waves/v1/pulse/get_text"
_READ_PIECE = 1 << 20


class _TooLarge(Exception):
    """The body is over ``stt_max_batch_bytes``."""


def _too_large(legacy: bool, limit: int) -> web.Response:
    if legacy:
        body = {
            "status": "error",
            "message": "Error handling audio data",
            "errors": "Audio data too large",
        }
        return web.json_response(body, status=400)
    return stt_error(413, f"Audio file exceeds the {limit} byte limit.")


async def _read_body(request: web.Request, limit: int) -> bytes:
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _TooLarge
    pieces: list[bytes] = []
    size = 0
    while True:
        piece = await request.content.read(_READ_PIECE)
        if not piece:
            break
        size += len(piece)
        if size > limit:
            raise _TooLarge
        pieces.append(piece)
    return b"".join(pieces)


def _decode(body: bytes, options: SttOptions) -> tuple[bytes, int]:
    """The body as PCM s16le and its rate (WAV header first, then the query's encoding)."""
    if not body:
        raise RequestError("The request body is empty; send the audio file's bytes.")
    if body.startswith(b"RIFF"):
        return wav_to_pcm16(body)
    container = sniff_container(body)
    if container is not None:
        raise RequestError(
            f"The body looks like {container}, which smallest-local cannot decode; send a WAV "
            "file or raw PCM with 'encoding' and 'sample_rate'."
        )
    decoder = AudioDecoder(options.encoding, options.sample_rate)
    try:
        return decoder.decode(body), options.sample_rate
    except AudioError as exc:
        raise RequestError(str(exc)) from None


def _transcribe(state_recognizer: Any, pcm: bytes, rate: int, options: SttOptions) -> list[Any]:
    """Run the whole audio through a segmenter; returns its finals' word lists."""
    from dataclasses import replace

    stream_options = replace(options, sample_rate=rate, vad_events=False)
    stream = state_recognizer.open(rate, options.language)
    try:
        segmenter = Segmenter(stream, stream_options)
        finals = []
        step = rate * 2 // 5  # 200 ms pieces, as a stream would arrive
        for pos in range(0, len(pcm), step):
            finals += [e for e in segmenter.feed(pcm[pos : pos + step]) if e.kind == "final"]
        finals += segmenter.close()
        return [e.words for e in finals if e.words]
    finally:
        stream.close()


async def _handle(request: web.Request, *, legacy: bool) -> web.StreamResponse:
    from .app import API_KEY

    state = request.app[STATE]
    key = request[API_KEY]
    try:
        options = parse_options(
            request.query, legacy=legacy, batch=True, strict=state.config.stt_strict
        )
    except RequestError as exc:
        return stt_error(exc.status, exc.message)
    if request.content_type == "application/json":
        return stt_error(
            400,
            "Invalid 'url': fetching audio from a URL needs network access, which "
            "smallest-local does not have; send the audio bytes as application/octet-stream.",
        )
    limit = state.config.stt_max_batch_bytes
    try:
        body = await _read_body(request, limit)
    except _TooLarge:
        return _too_large(legacy, limit)
    try:
        pcm, rate = _decode(body, options)
    except RequestError as exc:
        return stt_error(exc.status, exc.message)
    if not state.limiter.try_acquire(key):
        return stt_error(
            429, "Concurrency limit exceeded. Retry later.", headers={"Retry-After": "1"}
        )
    try:
        state.stats.stt_batch_requests += 1
        recognizer = state.recognizer
        if recognizer.blocking:
            segments = await asyncio.to_thread(_transcribe, recognizer, pcm, rate, options)
        else:
            segments = _transcribe(recognizer, pcm, rate, options)
    finally:
        state.limiter.release(key)
    duration = round(len(pcm) / 2 / rate, 3)
    texts = [format_text([w.word for w in words], options) for words in segments]
    result: dict[str, Any] = {"status": "success", "transcription": " ".join(texts)}
    if options.word_timestamps:
        result["words"] = [_word(w, options) for words in segments for w in words]
        if options.model != "pulse-pro":
            result["utterances"] = [
                _utterance(text, words, options)
                for text, words in zip(texts, segments, strict=True)
            ]
    result["metadata"] = {"duration": duration, "fileSize": len(body)}
    if options.model == "pulse-pro":
        result["language"] = "en"
        result["request_id"] = str(uuid.uuid4())
        result["totalBytes"] = len(body)
    if legacy:
        result["audio_length"] = duration
    return web.Response(text=json.dumps(result), content_type="application/json")


def _word(w: Any, options: SttOptions) -> dict[str, Any]:
    item: dict[str, Any] = {
        "word": w.word,
        "start": round(w.start, 3),
        "end": round(w.end, 3),
        "confidence": w.confidence,
    }
    if options.diarize and options.model != "pulse-pro":
        item["speaker"] = 0
        item["speaker_confidence"] = 1.0
    return item


def _utterance(text: str, words: list[Any], options: SttOptions) -> dict[str, Any]:
    item: dict[str, Any] = {
        "text": text,
        "start": round(words[0].start, 3),
        "end": round(words[-1].end, 3),
    }
    if options.diarize:
        item["speaker"] = 0
    return item


async def batch_stt(request: web.Request) -> web.StreamResponse:
    """``POST /waves/v1/stt/`` (also without the trailing slash)."""
    return await _handle(request, legacy=False)


async def legacy_batch_stt(request: web.Request) -> web.StreamResponse:
    """``POST /waves/v1/pulse/get_text``: legacy defaults and error shapes."""
    return await _handle(request, legacy=True)


def add_routes(app: web.Application) -> None:
    """Register the batch routes."""
    app.router.add_post(BATCH_PATH, batch_stt)
    app.router.add_post(BATCH_PATH.rstrip("/"), batch_stt)
    app.router.add_post(LEGACY_BATCH_PATH, legacy_batch_stt)
