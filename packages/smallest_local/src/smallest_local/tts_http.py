"""``POST /waves/v1/tts`` (sync, docs/protocol.md §3) and ``POST /waves/v1/tts/live`` (SSE, §4).

Both validate the body, take a concurrency unit (429 beyond the limit), render the text
and stream the result through the latency model; the scripted HTTP faults of
:mod:`smallest_local.faults` (abort, early close, stall) act between chunks.

The text limit applies to what will be spoken, after pronunciation dictionaries. A body
piece the client does not take within ``write_timeout_s`` aborts the connection (the
client stopped reading) and frees its concurrency unit; a failure inside synthesis is a
logged JSON 500, never a traceback page.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import logging
import socket
import struct
import uuid
from typing import Any

from aiohttp import web

from . import audio
from .faults import SYNTHESIS_KINDS, Fault, FaultKind
from .state import STATE, ServerState
from .synth import Pacer, render, split_chunks, spoken_text, too_long_after_dictionaries
from .wire import RequestError, TTSRequest, loads_json, parse_request, short

__all__ = ["add_routes", "check_references", "reset_connection"]

logger = logging.getLogger("smallest_local")

TTS_PATH = "/waves/v1/tts"
LIVE_PATH = "/waves/v1/tts/live"
# §6: deprecated but still working aliases of the same handlers.
LEGACY_SYNC = "/waves/v1/lightning-v3.1/get_speech"
LEGACY_SSE = "/waves/v1/lightning-v3.1/stream"


def check_references(state: ServerState, req: TTSRequest) -> None:
    """Reject unknown voices and dictionaries (§8 best reading: 400 InvalidRequest)."""
    if not state.is_known_voice(req.voice_id):
        raise RequestError(
            f"Unknown 'voice_id': {short(req.voice_id)}. "
            "List voices with GET /waves/v1/lightning-v3.1/get_voices."
        )
    if state.store is not None:
        for dict_id in req.pronunciation_dicts:
            if not state.store.dict_exists(dict_id):
                raise RequestError(
                    f"Invalid 'pronunciation_dicts': unknown dictionary id {short(dict_id)}."
                )


async def _read_request(request: web.Request) -> TTSRequest:
    state = request.app[STATE]
    raw = await request.read()
    limit = state.config.max_frame_bytes
    if len(raw) > limit:  # a TTS body is small; the same bound as one WS message
        raise RequestError(f"Request body too large: {len(raw)} bytes (maximum {limit}).")
    body: Any = loads_json(raw)
    req = parse_request(body, max_text_chars=state.config.max_text_chars)
    check_references(state, req)
    return req


def _headers(request: web.Request, req: TTSRequest) -> dict[str, str]:
    headers = {
        "X-Session-Id": str(uuid.uuid4()),
        "X-Request-Id": str(uuid.uuid4()),
        "X-External-Session-Id": req.session_id or "",
        "X-External-Request-Id": req.request_id or "",
    }
    if request.headers.get("x-expire-content", "").lower() == "true":
        headers["x-content-expiry"] = "not-entitled"  # §1: not rejected, just reported
    return headers


def reset_connection(request: web.Request) -> None:
    """Drop a connection at once with a TCP reset (RST), discarding unsent data.

    For a peer that stopped reading: a plain close would leave the kernel holding the
    unsent bytes (and the peer never seeing the end) until the peer reads again.
    """
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    transport.abort()


class _Abort(Exception):
    """The scripted fault ended the response, or the client stopped reading."""


async def _write(request: web.Request, response: web.StreamResponse, data: bytes) -> None:
    """Write one body piece; a client that does not take it in time is cut off."""
    state = request.app[STATE]
    try:
        async with asyncio.timeout(state.config.write_timeout_s):
            await response.write(data)
    except TimeoutError:
        state.stats.slow_clients_dropped += 1
        logger.info(
            "HTTP client not reading for %ss on %s: connection aborted",
            state.config.write_timeout_s,
            request.path,
        )
        reset_connection(request)
        raise _Abort from None


async def _apply_faults(request: web.Request, faults: list[Fault], sent: int) -> None:
    for fault in faults:
        if fault.after_chunks != sent:
            continue
        if fault.kind is FaultKind.ABORT_AFTER_CHUNKS:
            if request.transport is not None:
                request.transport.abort()
            raise _Abort
        if fault.kind is FaultKind.CLOSE_AFTER_CHUNKS:
            if request.transport is not None:
                request.transport.close()
            raise _Abort
        if fault.kind is FaultKind.STALL:
            if fault.seconds is None:
                await asyncio.Event().wait()  # until the client goes away (handler cancelled)
            else:
                await asyncio.sleep(fault.seconds)


async def _handle(request: web.Request, *, sse: bool) -> web.StreamResponse:
    from .app import API_KEY, json_error

    state = request.app[STATE]
    try:
        req = await _read_request(request)
    except RequestError as exc:
        return json_error(exc.status, exc.error, exc.message)
    key = request[API_KEY]
    if not state.limiter.try_acquire(key):
        return json_error(
            429,
            "TooManyRequests",
            f"Concurrency limit exceeded: {state.limiter.limit} concurrent requests allowed.",
            headers={"Retry-After": "1"},
        )
    response: web.StreamResponse | None = None
    released = False
    try:
        state.stats.syntheses_started += 1
        state.stats.request_ids.append(req.request_id or "")
        faults = state.faults.take(
            SYNTHESIS_KINDS, route="http", request_id=req.request_id, where=request.path
        )
        tag = req.request_id or str(uuid.uuid4())
        spoken = await spoken_text(state, req.text, req)
        limit = state.config.max_text_chars
        if len(spoken) > limit:
            too_long = too_long_after_dictionaries(len(spoken), limit)
            return json_error(too_long.status, too_long.error, too_long.message)
        synthesis = await render(state, spoken, req, tag)
        pcm_chunks = split_chunks(synthesis.pcm, req.sample_rate, state.latency.chunk_ms)
        if state.latency.odd_pieces:
            pcm_chunks = _odd_pieces(synthesis.pcm, pcm_chunks)
        response = web.StreamResponse(headers=_headers(request, req))
        if sse:
            response.content_type = "text/event-stream"
            response.headers["Cache-Control"] = "no-cache"
            await response.prepare(request)
            await _stream_sse(request, response, req, pcm_chunks, faults)
        else:
            response.content_type = audio.content_type(req.output_format)
            await response.prepare(request)
            await _stream_sync(request, response, req, synthesis.pcm, pcm_chunks, faults)
        # Free the unit before the body ends, so a client that saw the end can go again.
        state.limiter.release(key)
        released = True
        state.stats.syntheses_completed += 1
        await response.write_eof()
        return response
    except _Abort:
        # The socket is gone; hand aiohttp back the prepared response it expects.
        return response if response is not None else web.Response(status=499)
    except Exception as exc:  # a failure inside synthesis: answer it, keep serving
        state.stats.internal_errors += 1
        logger.error("synthesis failed for request %s: %r", req.request_id or "-", exc)
        if response is None or not response.prepared:
            return json_error(500, "InternalServerError", "Synthesis failed.")
        if request.transport is not None:  # headers are out: the body cannot say it
            request.transport.abort()
        return response
    finally:
        if not released:
            state.limiter.release(key)


async def _stream_sync(
    request: web.Request,
    response: web.StreamResponse,
    req: TTSRequest,
    pcm: bytes,
    pcm_chunks: list[bytes],
    faults: list[Fault],
) -> None:
    # The whole file is known up front, so WAV gets exact sizes; its bytes are then cut
    # into as many pieces as there are audio chunks and paced like them.
    body = audio.encode(pcm, req.sample_rate, req.output_format)
    n = max(1, len(pcm_chunks))
    step = -(-len(body) // n) or 1
    if request.app[STATE].latency.odd_pieces:
        step |= 1
    pacer = Pacer(request.app[STATE].latency)
    for i, start in enumerate(range(0, len(body), step)):
        await _apply_faults(request, faults, i)
        seconds = len(pcm_chunks[i]) / 2 / req.sample_rate if i < len(pcm_chunks) else 0.0
        await pacer.wait(seconds)
        await _write(request, response, body[start : start + step])
    await _apply_faults(request, faults, n)


def _odd_pieces(pcm: bytes, chunks: list[bytes]) -> list[bytes]:
    """``pcm`` cut into pieces of an odd byte count (about as long as ``chunks``)."""
    size = (len(chunks[0]) if chunks else 2) | 1
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


async def _stream_sse(
    request: web.Request,
    response: web.StreamResponse,
    req: TTSRequest,
    pcm_chunks: list[bytes],
    faults: list[Fault],
) -> None:
    encoder = audio.StreamEncoder(req.output_format, req.sample_rate)
    pacer = Pacer(request.app[STATE].latency)
    for i, chunk in enumerate(pcm_chunks):
        await _apply_faults(request, faults, i)
        await pacer.wait(len(chunk) / 2 / req.sample_rate)
        payload = encoder.encode(chunk)
        if i == len(pcm_chunks) - 1:
            payload += encoder.finish()
        if payload:
            await _write(request, response, _sse_event(payload))
    await _apply_faults(request, faults, len(pcm_chunks))
    if not pcm_chunks:
        tail = encoder.finish()
        if tail:
            await _write(request, response, _sse_event(tail))
    # §4: the terminator has no `event:` line.
    await _write(request, response, b'data: {"status": "200", "done": true}\n\n')


def _sse_event(payload: bytes) -> bytes:
    data = json.dumps(
        {"audio": base64.b64encode(payload).decode("ascii"), "done": False, "status": "206"}
    )
    return f"event: audio\ndata: {data}\n\n".encode()


async def sync_tts(request: web.Request) -> web.StreamResponse:
    """§3: the audio in ``output_format`` as the response body."""
    return await _handle(request, sse=False)


async def sse_tts(request: web.Request) -> web.StreamResponse:
    """§4: base64 chunks as ``event: audio`` SSE events, then a ``done: true`` terminator."""
    return await _handle(request, sse=True)


def add_routes(app: web.Application) -> None:
    """Register the sync and SSE TTS routes (and their deprecated v3.1 aliases)."""
    app.router.add_post(TTS_PATH, sync_tts)
    app.router.add_post(LIVE_PATH, sse_tts)
    app.router.add_post(LEGACY_SYNC, sync_tts)
    app.router.add_post(LEGACY_SSE, sse_tts)
