"""`make demo`: stream a sentence through smallest_core's WebSocket pool into out/hello.wav.

Without ``SMALLEST_API_KEY`` it starts the embedded local server (real speech from
espeak-ng) in this process; with the key set it talks to the real service.
"""

from __future__ import annotations

import asyncio
import os
import sys
import wave
from pathlib import Path

from smallest_core import AudioChunk, ConnectionPool, TTSOptions

SENTENCE = "Hello. Thank you for calling. Your appointment is on Monday at three o'clock."
OUT = Path("out/hello.wav")
RATE = 24000


async def speak(ws_base: str, key: str) -> tuple[bytes, float]:
    """Stream SENTENCE word by word through the core; return (pcm, seconds to first audio)."""
    options = TTSOptions(voice_id="meher", model="lightning_v3.1_pro", sample_rate=RATE)
    pcm = bytearray()
    async with ConnectionPool(api_key=key, base_url=ws_base, options=options) as pool:
        await pool.prewarm()
        utterance = await pool.utterance("demo-1")
        for word in SENTENCE.split(" "):  # as an LLM would produce it
            await utterance.push_text(word + " ")
        await utterance.end()
        async for event in utterance:
            if isinstance(event, AudioChunk):
                pcm += event.audio
    return bytes(pcm), utterance.metrics.ttfa or 0.0


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
