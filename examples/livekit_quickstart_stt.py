"""livekit_smallest offline: STT.stream() transcribes speech pushed as rtc.AudioFrames."""

import asyncio

from livekit import rtc
from livekit.agents import stt

from livekit_smallest import STT
from smallest_core import RestClient, TTSOptions
from smallest_local import Server


async def main(base_url: str, api_key: str, pcm: bytes) -> None:
    recognizer = STT(api_key=api_key, base_url=base_url, language="en")
    stream = recognizer.stream()
    step = 16000 // 50 * 2  # 20 ms frames (other rates are resampled to the session's)
    for i in range(0, len(pcm), step):
        chunk = pcm[i : i + step]
        stream.push_frame(rtc.AudioFrame(chunk, 16000, 1, len(chunk) // 2))
    stream.flush()  # end of the user's turn: the final comes now
    stream.end_input()
    async for event in stream:
        if event.type == stt.SpeechEventType.FINAL_TRANSCRIPT:
            print("heard:", event.alternatives[0].text)
    await stream.aclose()
    await recognizer.aclose()


with Server(engine="espeak") as server:  # a local Smallest-compatible server
    with RestClient(api_key=server.api_key, base_url=server.http_url) as rest:  # the "user"
        speech = rest.synthesize("Please call me back tomorrow morning.", options=TTSOptions(
            voice_id="magnus", sample_rate=16000, speed=0.8, output_format="pcm"))  # fmt: skip
    asyncio.run(main(server.ws_url, server.api_key, speech + bytes(32000)))  # + 1 s silence
