"""SmallestHttpTTSService: every output format decoded to PCM, errors as ErrorFrames."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import (
    ErrorFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.tests.utils import run_test
from pipecat.utils.errors import ErrorCategory

from smallest_local.engines.tone import describe
from tests.support.pipecat import running

TEXT = "Five words are spoken here."  # tone engine: 1 s of audio
ONE_SECOND = 24000 * 2  # bytes of PCM s16 mono at 24 kHz


@pytest.mark.parametrize("output_format", ["pcm", "wav", "mp3", "ulaw", "alaw"])
async def test_every_format_reaches_pipecat_as_pcm(output_format, make_http_tts, smallest_server):
    tts = make_http_tts(output_format=output_format)
    down, up = await run_test(tts, frames_to_send=[TTSSpeakFrame(TEXT)])
    assert not [f for f in up if isinstance(f, ErrorFrame)]
    kinds = [type(f) for f in down]
    assert kinds.index(TTSStartedFrame) < kinds.index(TTSAudioRawFrame)
    assert kinds.count(TTSStoppedFrame) == 1
    frames = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    assert all(f.sample_rate == 24000 and f.num_channels == 1 for f in frames)
    audio = b"".join(f.audio for f in frames)
    if output_format in ("pcm", "wav"):  # lossless: every sample is the request's
        (runs,) = describe(audio).values()
        assert runs == [(0, ONE_SECOND // 4)]
    elif output_format == "mp3":  # the encoder pads a frame or two
        assert ONE_SECOND <= len(audio) <= ONE_SECOND * 1.1
    else:  # G.711: one byte per sample on the wire, two in PCM
        assert len(audio) == ONE_SECOND
    assert smallest_server.stats.http_requests == 1


async def test_llm_turn_one_request_per_sentence(make_http_tts, smallest_server):
    tts = make_http_tts()
    async with running(tts) as run:
        await run.send(
            LLMFullResponseStartFrame(),
            LLMTextFrame("First sentence here."),
            LLMTextFrame(" Second one."),
            LLMFullResponseEndFrame(),
        )
        await run.turns_done(1)
    assert run.errors() == []
    assert len(run.context_ids()) == 1
    assert smallest_server.stats.http_requests == 2


async def test_server_errors_are_retried_then_reported(make_http_tts, smallest_server):
    """A 500 is retried by the core; a 401 is an ErrorFrame Pipecat knows is permanent."""
    tts = make_http_tts()
    async with running(tts) as run:
        for i in range(10):
            smallest_server.faults.http_error(500)
            await run.send(TTSSpeakFrame(TEXT))
            await run.turns_done(i + 1)
        assert run.errors() == []
        smallest_server.faults.http_error(401)
        await run.send(TTSSpeakFrame(TEXT))
        await run.up.wait_count(ErrorFrame, 1)
    (error,) = run.errors()
    assert error.category is ErrorCategory.AUTHENTICATION
    assert len(run.audio()) == 10 * ONE_SECOND


@pytest.mark.smallest_server(chunk_ms=20)
async def test_pcm_streams_and_a_cut_stream_is_reported(make_http_tts, smallest_server):
    """PCM arrives over SSE as it is made; a body cut after audio is an ErrorFrame."""
    tts = make_http_tts()
    async with running(tts) as run:
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(1)
        smallest_server.faults.close_after(5, route="http")
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(2)
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(3)
    first, cut, last = (run.audio_by_context()[c] for c in run.context_ids())
    assert len(run.down.frames(TTSAudioRawFrame)) >= 50  # streamed, not one body
    assert len(first) == len(last) == ONE_SECOND
    # the cut sentence kept exactly the five chunks that came, intact, and no more
    assert list(describe(cut).values()) == [[(0, 5 * 480 // 2)]]
    (error,) = run.errors()
    assert error.category is ErrorCategory.CONNECTIVITY


@pytest.mark.smallest_server(odd_pieces=True, chunk_ms=10)
@pytest.mark.parametrize("output_format", ["pcm", "wav", "ulaw"])
async def test_odd_length_body_pieces_give_whole_samples_and_every_byte(
    output_format, make_http_tts
):
    """The server cuts SSE events and body pieces at odd byte counts (a sample split
    across two pieces): every frame holds whole samples and no byte is lost."""
    tts = make_http_tts(output_format=output_format)
    down, up = await run_test(tts, frames_to_send=[TTSSpeakFrame(TEXT)])
    assert not [f for f in up if isinstance(f, ErrorFrame)]
    frames = [f for f in down if isinstance(f, TTSAudioRawFrame)]
    if output_format == "pcm":
        assert len(frames) > 10  # streamed in many pieces, not one body
    assert all(len(f.audio) % 2 == 0 for f in frames)
    audio = b"".join(f.audio for f in frames)
    assert len(audio) == ONE_SECOND
    if output_format != "ulaw":  # lossless: every sample is the request's, in order
        (runs,) = describe(audio).values()
        assert runs == [(0, ONE_SECOND // 4)]
