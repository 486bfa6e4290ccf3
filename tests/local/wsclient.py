"""A deliberately plain WebSocket/HTTP client for testing the local server.

The core client does not exist at this layer of the tests: these helpers speak the wire
format of PROTOCOL.md directly with ``websockets`` and ``httpx``, so the server is
checked against the spec, not against our own client's reading of it.
"""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
from typing import Any

import websockets
from websockets.asyncio.client import ClientConnection

from smallest_local import Server

WS_PATH = "/waves/v1/tts/live"
TTS_PATH = "/waves/v1/tts"
VOICE = "meher"
MODEL = "lightning_v3.1_pro"
RATE = 24000
TIMEOUT = 10.0
#: One TLS context for every httpx client these tests make (``verify=TLS``). The local
#: server speaks plain HTTP, but an httpx client builds and loads a context of its own
#: when given none (~30 ms of CPU each, over 300 clients a run).
TLS = ssl.create_default_context()


def auth(key: str) -> dict[str, str]:
    """The Bearer header; none at all for an empty key."""
    return {"Authorization": f"Bearer {key}"} if key else {}


async def connect(server: Server, *, query: str = "", key: str | None = None) -> ClientConnection:
    return await websockets.connect(
        f"{server.ws_url}{WS_PATH}{query}",
        additional_headers=auth(key if key is not None else server.api_key),
        max_size=None,
    )


def body(text: str, **extra: Any) -> dict[str, Any]:
    """A full request object (voice_id and text are required on every frame, §5.2)."""
    return {"voice_id": VOICE, "model": MODEL, "sample_rate": RATE, "text": text, **extra}


def frame(text: str, **extra: Any) -> str:
    return json.dumps(body(text, **extra))


async def recv(ws: ClientConnection, timeout: float = TIMEOUT) -> dict[str, Any]:
    """The next server frame, parsed; fails the test rather than hanging."""
    async with asyncio.timeout(timeout):
        raw = await ws.recv()
    assert isinstance(raw, str), f"server sent a binary frame: {raw!r}"
    return json.loads(raw)


async def until_complete(
    ws: ClientConnection,
    *,
    key: str = "external_request_id",
    value: str | None = None,
    timeout: float = TIMEOUT,
) -> list[dict[str, Any]]:
    """Collect frames up to and including a ``complete`` (for ``value`` if given)."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while True:
            msg = await recv(ws)
            frames.append(msg)
            if msg["status"] == "complete" and (value is None or msg.get(key) == value):
                return frames
            if msg["status"] == "error" and value is None:
                return frames


def audio(frames: list[dict[str, Any]], **match: str) -> bytes:
    """Concatenated PCM of the ``chunk`` frames whose fields equal ``match``."""
    return b"".join(
        base64.b64decode(f["data"]["audio"])
        for f in frames
        if f["status"] == "chunk" and all(f.get(k) == v for k, v in match.items())
    )


def statuses(frames: list[dict[str, Any]]) -> list[str]:
    return [f["status"] for f in frames]
