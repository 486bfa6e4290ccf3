"""SmallestTTSService inside Pipecat pipelines, against the local server over real sockets."""

from __future__ import annotations

from pipecat.frames.frames import (
    AggregatedTextFrame,
    ErrorFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
)
from pipecat.tests.utils import run_test

from smallest_local.engines.tone import describe, tag_value

from .harness import running


async def test_speak_frame_under_run_test(make_tts, smallest_server):
    """Pipecat's own run_test: one TTSSpeakFrame → started, audio, words, stopped."""
    tts = make_tts()
    down, up = await run_test(tts, frames_to_send=[TTSSpeakFrame("Hello there, friend.")])
    kinds = [type(f) for f in down]
    assert kinds[0] is AggregatedTextFrame
    assert kinds.index(TTSStartedFrame) < kinds.index(TTSAudioRawFrame)
    assert kinds[-1] is TTSStoppedFrame
    assert not [f for f in up if isinstance(f, ErrorFrame)]
    audio = b"".join(f.audio for f in down if isinstance(f, TTSAudioRawFrame))
    (ctx,) = {f.context_id for f in down if isinstance(f, TTSAudioRawFrame)}
    # Every byte is the complete, intact synthesis of this context's request.
    runs = describe(audio)
    assert list(runs) == [tag_value(ctx)]
    assert runs[tag_value(ctx)] == [(0, len(audio) // 4)]
    words = [f.text for f in down if isinstance(f, TTSTextFrame)]
    assert words == ["Hello", "there,", "friend."]
    assert smallest_server.stats.ws_connections_total <= 2  # prewarmed socket + warm spare


async def test_llm_turn_sentence_mode(make_tts, smallest_server):
    tts = make_tts()
    async with running(tts) as run:
        await run.send(
            LLMFullResponseStartFrame(),
            LLMTextFrame("Hello there."),
            LLMTextFrame(" How are"),
            LLMTextFrame(" you today?"),
            LLMFullResponseEndFrame(),
        )
        await run.turns_done(1)
    assert run.errors() == []
    assert len(run.context_ids()) == 1
    (ctx,) = run.context_ids()
    assert describe(run.audio()) == {tag_value(ctx): [(0, len(run.audio()) // 4)]}
    assert smallest_server.stats.request_ids == [ctx]
