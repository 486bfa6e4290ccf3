"""``livekit_smallest.STT`` against smallest_local's Pulse server over real sockets: a real
``stt.stream()`` fed ``rtc.AudioFrame``\\ s, and ``recognize()`` on a buffer.

The tone engine makes transcripts and word times exact (each 200 ms tone slot is heard
as ``tag<value>``); adjacent words need different tags.
"""

from __future__ import annotations

import asyncio
import struct

import pytest
from livekit import rtc
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError
from livekit.agents import stt as lk_stt

from livekit_smallest import STT
from smallest_core import InvalidOptionError, TranscriptionLostError
from smallest_local import Server
from smallest_local.engines import ToneEngine, tone_word

WORD_S = 0.2
WAIT_S = 20.0
FAST = APIConnectOptions(max_retry=2, retry_interval=0.0, timeout=5.0)
Type = lk_stt.SpeechEventType


def tone(*tags: str, rate: int = 16000) -> bytes:
    return b"".join(
        ToneEngine().synthesize("w", voice_id="", sample_rate=rate, tag=tag).pcm for tag in tags
    )


def audio_frames(pcm: bytes, rate: int = 16000, ms: int = 20) -> list[rtc.AudioFrame]:
    step = rate * ms // 1000 * 2
    return [
        rtc.AudioFrame(pcm[i : i + step], rate, 1, len(pcm[i : i + step]) // 2)
        for i in range(0, len(pcm), step)
    ]


def plain(text: str) -> list[str]:
    return [w.strip(".,").lower() for w in text.split()]


def make(server: Server, **kw: object) -> STT:
    return STT(api_key=server.api_key, base_url=server.ws_url, **kw)


async def run_stream(
    stt: STT, pcm: bytes, rate: int = 16000, *, flush: bool = True, **kw: object
) -> list[lk_stt.SpeechEvent]:
    """Push the audio, flush, end the input, and collect every event until the end."""
    stream = stt.stream(conn_options=FAST, **kw)  # type: ignore[arg-type]
    for frame in audio_frames(pcm, rate):
        stream.push_frame(frame)
    if flush:
        stream.flush()
    stream.end_input()
    events: list[lk_stt.SpeechEvent] = []
    async with asyncio.timeout(WAIT_S):
        async for event in stream:
            events.append(event)
    await stream.aclose()
    return events


def of(events: list[lk_stt.SpeechEvent], kind: Type) -> list[lk_stt.SpeechEvent]:
    return [e for e in events if e.type == kind]


async def test_stream_gives_vad_interims_a_timed_final_and_usage(smallest_server: Server):
    stt = make(smallest_server)
    pcm = tone("one", "two", "three") + bytes(32000)  # and a second of silence
    events = await run_stream(stt, pcm)

    [final] = of(events, Type.FINAL_TRANSCRIPT)
    data = final.alternatives[0]
    expected = [tone_word("one"), tone_word("two"), tone_word("three")]
    assert plain(data.text) == expected and data.language == "en"
    assert data.words is not None and [str(w) for w in data.words] == expected
    ms = pytest.approx  # times are stream seconds plus LiveKit's start offset (~µs here)
    assert [w.start_time for w in data.words] == ms([0.0, WORD_S, 2 * WORD_S], abs=1e-3)
    assert [w.end_time for w in data.words] == ms([WORD_S, 2 * WORD_S, 3 * WORD_S], abs=1e-3)
    assert (data.start_time, data.end_time) == ms((0.0, 3 * WORD_S), abs=1e-3)
    assert data.confidence == pytest.approx(1.0) and final.request_id

    kinds = [e.type for e in events]
    assert kinds.index(Type.START_OF_SPEECH) < kinds.index(Type.INTERIM_TRANSCRIPT)
    assert kinds.index(Type.INTERIM_TRANSCRIPT) < kinds.index(Type.FINAL_TRANSCRIPT)
    assert Type.END_OF_SPEECH in kinds
    usage = sum(e.recognition_usage.audio_duration for e in of(events, Type.RECOGNITION_USAGE))
    assert usage == pytest.approx(len(pcm) / 32000)
    assert smallest_server.stats.stt_sessions == 1
    assert stt.provider == "SmallestAI" and stt.model == "pulse"
    await stt.aclose()


async def test_vad_events_carry_the_server_times_on_the_wall_clock(smallest_server: Server):
    stt = make(smallest_server)
    stream = stt.stream(conn_options=FAST)
    for frame in audio_frames(tone("one", "two", "three") + bytes(32000)):
        stream.push_frame(frame)
    stream.end_input()
    async with asyncio.timeout(WAIT_S):
        events = [e async for e in stream]
    anchor = stream.start_time  # LiveKit's wall-clock anchor of the (one) attempt
    await stream.aclose()
    [started] = of(events, Type.START_OF_SPEECH)
    [ended] = of(events, Type.END_OF_SPEECH)
    # the tone speaks from 0.0 to 0.6 s of the stream (30 ms VAD frames)
    assert started.speech_start_time == pytest.approx(anchor, abs=0.05)
    assert started.speech_end_time is None
    assert ended.speech_end_time == pytest.approx(anchor + 3 * WORD_S, abs=0.05)
    assert ended.speech_start_time is None
    await stt.aclose()


async def test_flush_finalizes_each_turn_on_one_session(smallest_server: Server):
    stt = make(smallest_server)
    stream = stt.stream(conn_options=FAST)
    finals: list[str] = []
    async with asyncio.timeout(WAIT_S):
        for tags in (("first",), ("second", "turn")):
            for frame in audio_frames(tone(*tags)):
                stream.push_frame(frame)
            stream.flush()  # LiveKit's end of turn → the core's finalize
            async for event in stream:
                if event.type == Type.FINAL_TRANSCRIPT:
                    finals.append(event.alternatives[0].text)
                    break
        stream.end_input()
        rest = [e async for e in stream]
    await stream.aclose()
    assert [plain(t) for t in finals] == [
        [tone_word("first")],
        [tone_word("second"), tone_word("turn")],
    ]
    assert not of(rest, Type.FINAL_TRANSCRIPT)  # nothing was left for the end
    assert smallest_server.stats.stt_sessions == 1


@pytest.mark.smallest_server(engine="espeak")
async def test_real_speech_at_48khz_is_resampled_by_livekit(smallest_server: Server):
    """espeak speech at 48 kHz → LiveKit's AudioResampler → 16 kHz Pulse (pocketsphinx)."""
    sentence = "please call me back tomorrow morning"
    speech = smallest_server.state.engine.synthesize(
        sentence, voice_id="magnus", sample_rate=48000, speed=0.8
    ).pcm + bytes(48000 * 2)  # and a second of silence
    # LiveKit's resampler dithers: silence comes out as random ±1 samples, and a first
    # sample of -1 (bytes FF FF) is an MP3 sync word to smallest_local's container sniff
    # (INVALID_AUDIO). 50 ms of a quiet offset first makes the first sample ~ +130.
    speech = struct.pack("<h", 200) * (48000 // 20) + speech
    stt = make(smallest_server)  # the session runs at 16 kHz
    # timeout: also the wait for the last finals after end_input (pocketsphinx is slow
    # on a loaded machine)
    stream = stt.stream(conn_options=APIConnectOptions(max_retry=0, timeout=30.0))
    for frame in audio_frames(speech, 48000):
        stream.push_frame(frame)
    stream.flush()
    stream.end_input()
    async with asyncio.timeout(60):  # pocketsphinx re-decodes slowly on a loaded machine
        events = [e async for e in stream]
    heard = " ".join(e.alternatives[0].text for e in of(events, Type.FINAL_TRANSCRIPT))
    assert plain(heard) == sentence.split()
    usage = sum(e.recognition_usage.audio_duration for e in of(events, Type.RECOGNITION_USAGE))
    assert usage == pytest.approx(len(speech) / (2 * 48000), abs=0.05)  # seconds, not bytes


async def test_end_input_without_flush_still_delivers(smallest_server: Server):
    events = await run_stream(make(smallest_server), tone("tail", "end"), flush=False)
    [final] = of(events, Type.FINAL_TRANSCRIPT)
    assert plain(final.alternatives[0].text) == [tone_word("tail"), tone_word("end")]


async def test_options_capabilities_and_update(smallest_server: Server):
    stt = make(smallest_server, word_timestamps=False)
    assert stt.capabilities.streaming and stt.capabilities.interim_results
    assert stt.capabilities.aligned_transcript is False and stt.capabilities.manual_flush
    stt.update_options(language="es", word_timestamps=True, diarize=True)
    assert stt.capabilities.aligned_transcript == "word" and stt.capabilities.diarization
    events = await run_stream(stt, tone("hola"))
    [final] = of(events, Type.FINAL_TRANSCRIPT)
    assert final.alternatives[0].language == "es"
    assert final.alternatives[0].speaker_id is not None
    with pytest.raises(InvalidOptionError, match="language"):
        stt.update_options(language="klingon")
    assert stt.options.language == "es"  # unchanged by the refused update
    with pytest.raises(InvalidOptionError, match="model"):
        make(smallest_server, model="pulse-pro")  # batch-only


async def test_recognize_a_buffer_over_the_batch_call(smallest_server: Server):
    stt = STT(api_key=smallest_server.api_key, base_url=smallest_server.http_url)
    event = await stt.recognize(audio_frames(tone("batch", "call")), conn_options=FAST)
    assert event.type == Type.FINAL_TRANSCRIPT
    data = event.alternatives[0]
    assert plain(data.text) == [tone_word("batch"), tone_word("call")]
    assert data.words is not None
    assert [w.start_time for w in data.words] == pytest.approx([0.0, WORD_S], abs=1e-3)
    assert smallest_server.stats.stt_batch_requests == 1 and smallest_server.stats.stt_sessions == 0


async def test_connect_options_drive_the_core_retries(smallest_server: Server):
    smallest_server.faults.refuse_upgrade(503)
    events = await run_stream(make(smallest_server), tone("retried"))  # max_retry=2
    assert plain(of(events, Type.FINAL_TRANSCRIPT)[0].alternatives[0].text) == [
        tone_word("retried")
    ]
    assert smallest_server.stats.rejected_upgrades == 1

    smallest_server.faults.refuse_upgrade(503)
    stream = make(smallest_server).stream(
        conn_options=APIConnectOptions(max_retry=0, retry_interval=0.0, timeout=5.0)
    )
    stream.end_input()
    with pytest.raises(APIStatusError) as caught:
        async with asyncio.timeout(WAIT_S):
            _ = [e async for e in stream]
    assert caught.value.status_code == 503 and not caught.value.retryable
    assert smallest_server.stats.rejected_upgrades == 2  # one attempt: LiveKit did not retry


async def test_errors_reach_livekit_typed_and_not_retryable(smallest_server: Server):
    """A session lost after the server accepted audio (the core cannot replay what it
    heard, so it does not retry) reaches LiveKit as a recoverable, typed error: LiveKit
    reopens the stream on a fresh session — the only retry — and the agent listens on.
    Everything else reaches LiveKit non-retryable (the core already retried it)."""
    smallest_server.faults.close_after(5, code=1011, route="stt")
    stt = make(smallest_server)
    reported: list[lk_stt.STTError] = []
    stt.on("error", reported.append)
    await run_stream(stt, tone("lost", "words"))
    ((error,),) = [[r for r in reported if isinstance(r.error, APIConnectionError)]]
    assert error.recoverable and error.error.retryable
    assert isinstance(error.error.__cause__, TranscriptionLostError)
    assert smallest_server.stats.stt_sessions == 2  # LiveKit reopened the stream once

    stt = STT(api_key="sk_wrong_key", base_url=smallest_server.ws_url)
    with pytest.raises(APIStatusError) as refused:
        await run_stream(stt, tone("x"))
    assert refused.value.status_code == 401 and "sk_wrong_key" not in str(refused.value)
