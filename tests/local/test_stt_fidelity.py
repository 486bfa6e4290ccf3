"""The official clients' readings transcribe the server's own speech through it.

LiveKit's ``smallestai.STT`` (livekit-plugins-smallestai 1.8.9) streams the server's
espeak speech with its own defaults (``vad_events``, 300 ms endpointing, ``finalize``
on flush, ``close_stream`` at the end, word timestamps) and also posts it as batch;
Pipecat's ``SmallestSTTService`` (pipecat-ai 1.14) reads the same wire. Both must get
the sentence back (WER ≤ 0.2) — the same check the TTS side makes against the official
TTS clients.
"""

from __future__ import annotations

import asyncio

import aiohttp
import pytest
from livekit import rtc
from livekit.agents import stt as lk_stt
from livekit.plugins import smallestai

from smallest_local import Server
from tests.support.asr import wer

pytestmark = [pytest.mark.smallest_server(engine="espeak"), pytest.mark.slow]

RATE = 16000
SENTENCE = "please call me back tomorrow morning"


def _frames(server: Server, seconds_silence: float = 1.0) -> list[rtc.AudioFrame]:
    pcm = server.state.engine.synthesize(
        SENTENCE, voice_id="magnus", sample_rate=RATE, speed=0.8
    ).pcm + b"\x00\x00" * int(RATE * seconds_silence)
    step = RATE // 10 * 2  # 100 ms frames
    return [
        rtc.AudioFrame(pcm[i : i + step], RATE, 1, len(pcm[i : i + step]) // 2)
        for i in range(0, len(pcm), step)
    ]


async def test_livekit_stt_streams_the_servers_speech(smallest_server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        stt = smallestai.STT(
            api_key=smallest_server.api_key,
            base_url=f"{smallest_server.http_url}/waves/v1",
            http_session=http,
        )
        stream = stt.stream()
        for frame in _frames(smallest_server):
            stream.push_frame(frame)
        stream.end_input()
        events: list[lk_stt.SpeechEvent] = []
        async with asyncio.timeout(30):
            async for event in stream:
                events.append(event)
        await stt.aclose()
    types = [e.type for e in events]
    text = " ".join(
        e.alternatives[0].text for e in events if e.type == lk_stt.SpeechEventType.FINAL_TRANSCRIPT
    )
    assert wer(SENTENCE, text) <= 0.2, (text, types)
    assert lk_stt.SpeechEventType.START_OF_SPEECH in types
    assert lk_stt.SpeechEventType.END_OF_SPEECH in types
    assert lk_stt.SpeechEventType.INTERIM_TRANSCRIPT in types
    final = next(e for e in events if e.type == lk_stt.SpeechEventType.FINAL_TRANSCRIPT)
    assert final.alternatives[0].language == "en" and final.alternatives[0].end_time > 0


async def test_livekit_stt_batch_recognize(smallest_server: Server) -> None:
    async with aiohttp.ClientSession() as http:
        stt = smallestai.STT(
            api_key=smallest_server.api_key,
            base_url=f"{smallest_server.http_url}/waves/v1",
            http_session=http,
        )
        event = await stt.recognize(_frames(smallest_server, 0.3))
        await stt.aclose()
    assert wer(SENTENCE, event.alternatives[0].text) <= 0.2, event


async def test_pipecat_stt_service_transcribes_the_servers_speech(smallest_server: Server) -> None:
    from pipecat.frames.frames import InputAudioRawFrame, TranscriptionFrame
    from pipecat.services.smallest.stt import SmallestSTTService

    from tests.support.pipecat import running

    service = SmallestSTTService(
        api_key=smallest_server.api_key, base_url=smallest_server.ws_url, sample_rate=RATE
    )
    async with running(service, sample_rate=RATE) as run:
        for frame in _frames(smallest_server):
            await run.send(
                InputAudioRawFrame(audio=bytes(frame.data), sample_rate=RATE, num_channels=1)
            )
        # the endpoint (600 ms of trailing silence) cuts the final; Pipecat reads `transcript`
        await run.down.wait_count(TranscriptionFrame, 1, timeout=30)
    text = " ".join(f.text for f in run.down.frames(TranscriptionFrame))
    assert wer(SENTENCE, text) <= 0.2, text
    assert smallest_server.stats.stt_sessions >= 1
