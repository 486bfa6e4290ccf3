"""livekit_smallest offline: stream an LLM-style reply through the TTS, write reply.wav.

In an agent you hand ``TTS(...)`` to ``AgentSession(tts=...)`` and LiveKit calls
``stream()`` per reply; here we call it directly, against a local Smallest-compatible
server, so it runs without a key, a room or a network.
"""

import asyncio
import wave

from livekit_smallest import TTS
from smallest_local import Server


async def main(base_url: str, api_key: str) -> None:
    tts = TTS(api_key=api_key, base_url=base_url, voice_id="meher", sample_rate=24000)
    stream = tts.stream()  # what AgentSession opens for each reply
    for token in ["Hello", " from", " Smallest.", " How", " can", " I", " help?"]:
        stream.push_text(token)  # tokens as the LLM streams them
    stream.end_input()
    pcm = bytearray()
    async for event in stream:  # rtc.AudioFrames, as they come
        pcm += event.frame.data.tobytes()
    await stream.aclose()
    await tts.aclose()
    with wave.open("reply.wav", "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(24000)
        w.writeframes(pcm)
    print(f"wrote reply.wav: {len(pcm) / 2 / 24000:.2f} s of speech")


with Server(engine="espeak") as server:  # the real API: drop this, set SMALLEST_API_KEY
    asyncio.run(main(server.http_url, server.api_key))
