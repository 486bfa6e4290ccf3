"""A context still receiving audio while the next LLM turn streams its tokens keeps its
audio: every byte in its own context, all of it before its own ``TTSStoppedFrame``.

Tone audio names the request (= our context id) that made every sample pair, so each
frame is checked against the context it is labelled with."""

from __future__ import annotations

import pytest
from pipecat.frames.frames import (
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)

from smallest_local.engines.tone import describe, tag_value
from tests.support.pipecat import running

FIRST = ["One two three four five six.", " Seven eight nine ten."]
SECOND = ["Eleven", " twelve", " thirteen.", " Fourteen", " fifteen."]


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=40)
async def test_a_late_context_keeps_its_audio_while_the_next_turn_streams(make_tts):
    tts = make_tts()
    async with running(tts) as run:
        await run.send(
            LLMFullResponseStartFrame(), *map(LLMTextFrame, FIRST), LLMFullResponseEndFrame()
        )
        await run.down.wait_count(TTSAudioRawFrame, 1)
        await run.send(LLMFullResponseStartFrame(), *map(LLMTextFrame, SECOND[:2]))
        # The second turn is open and streaming: more of the first one's audio comes in.
        heard = run.down.count(TTSAudioRawFrame)
        await run.down.wait_count(TTSAudioRawFrame, heard + 2)
        await run.send(*map(LLMTextFrame, SECOND[2:]), LLMFullResponseEndFrame())
        await run.turns_done(2)

    assert run.errors() == []
    first, second = run.context_ids()
    assert first != second
    frames = [s.frame for s in run.down.seen]
    audio = {i: f for i, f in enumerate(frames) if isinstance(f, TTSAudioRawFrame)}
    for frame in audio.values():  # each frame is its own context's audio, nothing else
        assert set(describe(frame.audio)) == {tag_value(frame.context_id)}
    stops = [i for i, f in enumerate(frames) if isinstance(f, TTSStoppedFrame)]
    assert [frames[i].context_id for i in stops] == [first, second]
    for ctx, stop in zip((first, second), stops, strict=True):
        mine = [i for i, f in audio.items() if f.context_id == ctx]
        assert mine and max(mine) < stop  # all of it before its own stop
        pcm = b"".join(audio[i].audio for i in mine)
        assert describe(pcm) == {tag_value(ctx): [(0, len(pcm) // 4)]}  # whole, in order
    assert min(i for i, f in audio.items() if f.context_id == second) > stops[0]
