"""smallest_core in one screen: stream text in, audio out, barge in, REST and cloning.

Runs offline against the embedded local server; set SMALLEST_API_KEY to use the real one.
"""

import asyncio
import os

from smallest_core import (
    AsyncRestClient,
    AudioChunk,
    ConnectionPool,
    SentenceSegmenter,
    TTSOptions,
    WordTimestamp,
)
from smallest_local import Server


async def main(ws_url: str, http_url: str, key: str) -> None:
    options = TTSOptions(voice_id="meher", sample_rate=24000, word_timestamps=True)
    async with ConnectionPool(api_key=key, base_url=ws_url, options=options) as pool:
        await pool.prewarm()  # the handshake happens now, not on the first word

        # 1. an LLM-style token stream: push text as it arrives, audio starts early
        utterance = await pool.utterance()
        segmenter = SentenceSegmenter()
        for token in ["Hello", " there.", " Your order", " ships", " on Monday."]:
            for sentence in segmenter.push(token):
                await utterance.push_text(sentence)
        await utterance.end("".join(segmenter.flush()))
        audio = bytearray()
        async for event in utterance:  # ends on the server's `complete`, no timers
            match event:
                case AudioChunk(audio=pcm):
                    audio += pcm
                case WordTimestamp(word=word, start=start):
                    print(f"  {start:5.2f}s {word}")
        print(f"utterance 1: {len(audio) / 2 / 24000:.2f} s, TTFA "
              f"{(utterance.metrics.ttfa or 0) * 1000:.0f} ms")  # fmt: skip

        # 2. barge-in: cancel mid-sentence; the socket stays open for the next one
        talk = await pool.utterance()
        await talk.end("This is a very long answer that the user is about to interrupt.")
        async for _ in talk:
            talk.cancel()  # returns at once; nothing more of it is yielded
        reply = await pool.utterance()
        await reply.end("Sure, go ahead.")
        chunks = [e async for e in reply if isinstance(e, AudioChunk)]
        print(f"after barge-in: {len(chunks)} chunks on the same socket")

    # 3. REST: one-shot synthesis and the voice catalog
    async with AsyncRestClient(api_key=key, base_url=http_url) as rest:
        wav = await rest.synthesize("Goodbye.", options=TTSOptions(output_format="wav"))
        voices = await rest.voices()
        print(f"REST: {len(wav)} bytes of WAV; {len(voices)} voices")


if __name__ == "__main__":
    if os.environ.get("SMALLEST_API_KEY"):
        asyncio.run(main("wss://api.smallest.ai", "https://api.smallest.ai",
                         os.environ["SMALLEST_API_KEY"]))  # fmt: skip
    else:
        with Server(engine="espeak") as server:
            asyncio.run(main(server.ws_url, server.http_url, server.api_key))
