"""A plain Pulse STT client for testing the local server: the wire of STT.md, by hand.

Like ``wsclient`` for TTS, it speaks the frames directly with ``websockets`` / ``httpx``,
so the server is checked against the digest, not against our core client's reading.
:func:`recognizer_final` drives a recognizer directly, for the engine's own tests.
:func:`fixed_espeak` makes speech that is the same bytes in every run.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import subprocess
import sys
from functools import cache
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection
from websockets.exceptions import ConnectionClosed

from smallest_local import Server
from smallest_local.engines import EspeakEngine, RecognizedWord, Recognizer, ToneEngine

LIVE = "/waves/v1/stt/live"
LEGACY = "/waves/v1/pulse/get_text"
BATCH = "/waves/v1/stt/"
TIMEOUT = 10.0
RATE = 16000


def auth(key: str) -> dict[str, str]:
    """The Bearer header; none at all for an empty key."""
    return {"Authorization": f"Bearer {key}"} if key else {}


async def connect(
    server: Server,
    query: str = "model=pulse&language=en",
    *,
    path: str = LIVE,
    key: str | None = None,
) -> ClientConnection:
    """Open a streaming session (raises ``InvalidStatus`` when the upgrade is refused)."""
    return await websockets.connect(
        f"{server.ws_url}{path}?{query}",
        additional_headers=auth(key if key is not None else server.api_key),
        max_size=None,
    )


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next server frame, parsed; fails the test rather than hanging."""
    async with asyncio.timeout(timeout):
        raw = await ws.recv()
    assert isinstance(raw, str), f"server sent a binary frame: {raw!r}"
    return json.loads(raw)


async def until(ws: ClientConnection, done: Any, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """Frames up to and including the first for which ``done(frame)`` is true."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            frame = await recv(ws, timeout)
            frames.append(frame)
            if done(frame):
                return frames


async def rest(ws: ClientConnection, timeout: float = TIMEOUT) -> list[dict[str, Any]]:
    """Every frame until the server closes the socket (with any close code)."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        with contextlib.suppress(ConnectionClosed):
            async for raw in ws:
                assert isinstance(raw, str)
                frames.append(json.loads(raw))
    return frames


def tone(words: int, tag: str, rate: int = RATE) -> bytes:
    """Tone audio of ``words`` word slots tagged ``tag`` (what the TTS tone engine makes)."""
    return (
        ToneEngine().synthesize(" ".join(["w"] * words), voice_id="", sample_rate=rate, tag=tag).pcm
    )


def silence(seconds: float, rate: int = RATE) -> bytes:
    """Digital silence."""
    return b"\x00\x00" * int(seconds * rate)


async def send_audio(ws: ClientConnection, pcm: bytes, chunk: int = 3200) -> None:
    """Send ``pcm`` as binary frames of ``chunk`` bytes (100 ms at 16 kHz), unpaced."""
    for pos in range(0, len(pcm), chunk):
        await ws.send(pcm[pos : pos + chunk])


def finals(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The final transcript events among ``frames``."""
    return [f for f in frames if f.get("is_final")]


def espeak_speech(text: str, rate: int = RATE) -> bytes:
    """``text`` spoken by espeak (voice magnus, speed 0.8), then half a second of silence."""
    speech = EspeakEngine().synthesize(text, voice_id="magnus", sample_rate=rate, speed=0.8)
    return speech.pcm + bytes(rate)


_FIXED_ESPEAK = """
import json, struct, sys
from smallest_local.engines.espeak import EspeakEngine
texts, voice, rate, speed = json.loads(sys.argv[1])
engine, out = EspeakEngine(), sys.stdout.buffer
for text in texts:
    pcm = engine.synthesize(text, voice_id=voice, sample_rate=rate, speed=speed).pcm
    out.write(struct.pack("<I", len(pcm)) + pcm)
"""


@cache
def fixed_espeak(
    texts: tuple[str, ...], *, voice: str = "magnus", rate: int = RATE, speed: float = 0.8
) -> tuple[bytes, ...]:
    """``texts`` spoken by the server's espeak engine, in order, by one fresh interpreter:
    the same bytes in every run and every xdist worker.

    In-process speech is not: espeak-ng keeps state inside the library from one synthesis
    to the next (the pitch flutter's phase is a function-level static of its wave
    generator, which no API resets), so a sentence comes out a few samples longer or
    shorter, at another pitch phase, after whatever the worker synthesized before. The
    streamed recognizer scored ``test_stt_wer``'s five sentences WER 0 after 20 of 40
    random histories and up to 0.1 after the rest; one clean clone failed it at 0.23.
    A fresh interpreter's history is always the same: empty."""
    args = json.dumps([list(texts), voice, rate, speed])
    done = subprocess.run(
        [sys.executable, "-c", _FIXED_ESPEAK, args], capture_output=True, timeout=60
    )
    assert done.returncode == 0, done.stderr.decode()[-2000:]
    out, pcms, pos = done.stdout, [], 0
    while pos < len(out):
        (size,) = struct.unpack_from("<I", out, pos)
        pcms.append(out[pos + 4 : pos + 4 + size])
        pos += 4 + size
    assert len(pcms) == len(texts), (len(pcms), texts)
    return tuple(pcms)


def recognizer_final(recognizer: Recognizer, pcm: bytes, rate: int = RATE) -> str:
    """The engine alone, no socket: one stream of ``pcm`` fed in 20 ms chunks, then the
    words of its final."""
    return " ".join(word.word for word in recognizer_words(recognizer, pcm, rate))


def recognizer_words(recognizer: Recognizer, pcm: bytes, rate: int = RATE) -> list[RecognizedWord]:
    """As :func:`recognizer_final`, with each word's times and confidence."""
    stream = recognizer.open(rate, "en")
    step = rate // 50 * 2
    try:
        for i in range(0, len(pcm), step):
            stream.feed(pcm[i : i + step])
        return stream.cut()
    finally:
        stream.close()
