"""`make demo`: speak a sentence through the Smallest WebSocket stream into out/hello.wav.

Without ``SMALLEST_API_KEY`` it starts the embedded local server (real speech from
espeak-ng) in this process; with the key set it talks to the real service.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import sys
import time
import wave
from pathlib import Path

import websockets

SENTENCE = "Hello. Thank you for calling. Your appointment is on Monday at three o'clock."
OUT = Path("out/hello.wav")
RATE = 24000


async def speak(ws_base: str, key: str) -> tuple[bytes, float]:
    """Stream SENTENCE word by word (flush mode) and return (pcm, seconds to first audio)."""
    headers = {"Authorization": f"Bearer {key}"}
    base = {
        "voice_id": "meher",
        "model": "lightning_v3.1_pro",
        "sample_rate": RATE,
        "language": "en",
        "request_id": "demo-1",
        "complete_backoff_ms": 0,
    }
    pcm = bytearray()
    async with websockets.connect(f"{ws_base}/waves/v1/tts/live", additional_headers=headers) as ws:
        t0 = time.perf_counter()
        for word in SENTENCE.split(" "):
            await ws.send(json.dumps({**base, "text": word + " ", "continue": True}))
        await ws.send(json.dumps({**base, "text": "", "continue": False, "flush": True}))
        ttfa = None
        async with asyncio.timeout(30):
            while True:
                msg = json.loads(await ws.recv())
                if msg["status"] == "chunk":
                    ttfa = ttfa if ttfa is not None else time.perf_counter() - t0
                    pcm += base64.b64decode(msg["data"]["audio"])
                elif msg["status"] == "complete":
                    break
                elif msg["status"] == "error":
                    raise SystemExit(f"server error: {msg.get('message')}")
    return bytes(pcm), ttfa or 0.0


def main() -> int:
    key = os.environ.get("SMALLEST_API_KEY")
    if key:
        where = "the Smallest API"
        pcm, ttfa = asyncio.run(speak("wss://api.smallest.ai", key))
    else:
        from smallest_local import Server

        with Server(engine="espeak") as server:
            where = f"the embedded local server ({server.http_url})"
            pcm, ttfa = asyncio.run(speak(server.ws_url, server.api_key))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(OUT), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm)
    seconds = len(pcm) / 2 / RATE
    print(f"spoke {seconds:.2f} s of audio from {where}; first audio after {ttfa * 1000:.0f} ms")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
