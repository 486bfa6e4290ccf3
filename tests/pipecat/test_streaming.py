"""SmallestTTSService inside Pipecat pipelines, against the local server over real sockets."""

from __future__ import annotations

import itertools
import time

import pytest
from pipecat.frames.frames import (
    AggregatedTextFrame,
    ErrorFrame,
    InterruptionFrame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
    TTSTextFrame,
    TTSUpdateSettingsFrame,
)
from pipecat.services.tts_service import TextAggregationMode
from pipecat.tests.utils import run_test
from pipecat.utils.errors import ErrorCategory

from pipecat_smallest import SmallestTTSService
from smallest_core import SmallestError
from smallest_local.engines.tone import describe, tag_value
from tests.support.pipecat import running


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


async def test_llm_turn_token_mode_streams_tokens(make_tts, smallest_server):
    """TOKEN aggregation: each token goes out as it comes, in one context and one request."""
    tts = make_tts(text_aggregation_mode=TextAggregationMode.TOKEN)
    tokens = ["Hello", " there.", " Your order", " ships", " on Monday."]
    async with running(tts) as run:
        await run.send(
            LLMFullResponseStartFrame(),
            *(LLMTextFrame(t) for t in tokens),
            LLMFullResponseEndFrame(),
        )
        await run.turns_done(1)
    assert run.errors() == []
    (ctx,) = run.context_ids()
    audio = run.audio()
    assert describe(audio) == {tag_value(ctx): [(0, len(audio) // 4)]}
    assert smallest_server.stats.request_ids == [ctx]
    # one frame per token plus the closing one (continue: true … continue: false)
    assert smallest_server.stats.frames_received >= len(tokens) + 1
    words = " ".join(f.text for f in run.down.frames(TTSTextFrame))
    assert words == "Hello there. Your order ships on Monday."


@pytest.mark.smallest_server(first_chunk_ms=100)
async def test_back_to_back_turns_have_no_stop_timer_gap(make_tts, smallest_server):
    """Turn 2 follows turn 1's end at once: no 3 s idle timeout between contexts."""
    tts = make_tts()
    async with running(tts) as run:
        for text in ("First turn speaks now.", "Second turn follows.", "And a third."):
            await run.send(
                LLMFullResponseStartFrame(), LLMTextFrame(text), LLMFullResponseEndFrame()
            )
        await run.turns_done(3)
    assert run.errors() == []
    contexts = run.context_ids()
    assert len(contexts) == 3
    server_delay = tts.pool.options.complete_backoff_ms / 1000
    audio = [
        (s.frame.context_id, s.at) for s in run.down.seen if isinstance(s.frame, TTSAudioRawFrame)
    ]
    for before, after in itertools.pairwise(contexts):
        last = max(at for c, at in audio if c == before)
        first = min(at for c, at in audio if c == after)
        # beyond the server's own delay: it sends `complete` after this much quiet
        gap = first - last - server_delay
        assert gap <= 0.050, f"gap {gap:.3f} s between turns beyond the server's"
    # every turn's audio is its own, complete
    for ctx, pcm in run.audio_by_context().items():
        assert describe(pcm) == {tag_value(ctx): [(0, len(pcm) // 4)]}


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=20)
async def test_barge_in_cancels_on_the_same_socket(make_tts, smallest_server):
    """Barge-in: no old audio after the InterruptionFrame; the next turn uses the same socket."""
    tts = make_tts()
    long_text = "This is a long answer that the user is about to interrupt. " * 3
    async with running(tts) as run:
        await run.send(TTSSpeakFrame(long_text))
        await run.down.wait_count(TTSAudioRawFrame, 3)
        sockets_before = smallest_server.stats.ws_connections_total
        queued_at = time.perf_counter()
        await run.worker.queue_frame(InterruptionFrame())
        await run.down.wait_count(InterruptionFrame, 1)
        interruption = next(s for s in run.down.seen if isinstance(s.frame, InterruptionFrame))
        await run.send(TTSSpeakFrame("Sure, go ahead."))
        await run.turns_done(1)
    old, new = run.context_ids()
    assert interruption.at - queued_at < 0.05  # the InterruptionFrame is not held
    after = run.down.seen[run.down.seen.index(interruption) :]
    late = [s for s in after if isinstance(s.frame, TTSAudioRawFrame) and s.frame.context_id == old]
    assert late == []
    new_audio = b"".join(s.frame.audio for s in after if isinstance(s.frame, TTSAudioRawFrame))
    assert describe(new_audio) == {tag_value(new): [(0, len(new_audio) // 4)]}
    assert smallest_server.stats.ws_connections_total == sockets_before  # no reconnect
    assert smallest_server.stats.syntheses_cancelled == 1
    assert run.errors() == []


async def test_settings_update_applies_at_the_next_utterance(make_tts, smallest_server):
    """Speed 2.0 halves the next turn's audio; an invalid update is refused, named, survivable."""
    tts = make_tts()
    text = "Five words are spoken here."
    async with running(tts) as run:
        await run.send(TTSSpeakFrame(text))
        await run.turns_done(1)
        await run.send(
            TTSUpdateSettingsFrame(delta=SmallestTTSService.Settings(speed=2.0)),
            TTSSpeakFrame(text),
        )
        await run.turns_done(2)
        await run.send(
            TTSUpdateSettingsFrame(delta=SmallestTTSService.Settings(speed=9.0)),
            TTSSpeakFrame(text),
        )
        await run.turns_done(3)
    first, second, third = (run.audio_by_context()[c] for c in run.context_ids())
    assert len(second) == pytest.approx(len(first) / 2, rel=0.05)
    assert len(third) == len(second)  # the refused update left speed 2.0 in place
    (error,) = run.errors()
    assert "speed" in error.error and "0.5..2.0" in error.error
    assert tts._settings.speed == 2.0


@pytest.mark.parametrize(
    "dialect",
    [
        pytest.param(d, marks=pytest.mark.smallest_server(dialect=d))
        for d in ("context", "release-ids", "release")
    ],
)
async def test_word_timestamps_across_a_multi_sentence_turn(make_tts, smallest_server, dialect):
    """Word times stay monotonic across sentences in one turn, whichever way the server
    reads §12 (one request per context, or per release with times restarting, or a
    ``complete`` per release too)."""
    assert smallest_server.config.dialect == dialect
    tts = make_tts()
    sentences = ["One two three.", " Four five six.", " Seven eight nine."]
    async with running(tts) as run:
        await run.send(
            LLMFullResponseStartFrame(),
            *(LLMTextFrame(s) for s in sentences),
            LLMFullResponseEndFrame(),
        )
        await run.turns_done(1)
        await run.send(TTSSpeakFrame("Ten eleven."))
        await run.turns_done(2)
    words = run.down.frames(TTSTextFrame)
    assert [w.text for w in words] == [
        "One",
        "two",
        "three.",
        "Four",
        "five",
        "six.",
        "Seven",
        "eight",
        "nine.",
        "Ten",
        "eleven.",
    ]
    turn1 = [w for w in words if w.context_id == run.context_ids()[0]]
    pts = [w.pts for w in turn1]
    assert pts == sorted(pts) and len(set(pts)) == len(pts)
    # The tone engine speaks words evenly: equal steps, with no jump back at a sentence.
    steps = [b - a for a, b in itertools.pairwise(pts)]
    assert max(steps) <= 1.5 * min(steps)
    # and the last word starts within the turn's audio
    first_ctx = run.context_ids()[0]
    duration_ns = len(run.audio_by_context()[first_ctx]) / 2 / 24000 * 1e9
    assert pts[-1] - pts[0] < duration_ns


@pytest.mark.smallest_server(realtime_factor=0.25, chunk_ms=20)
async def test_tone_every_byte_belongs_to_its_context(make_tts, smallest_server):
    """Concurrent contexts, a barge-in and a mid-turn fault: every audio frame is its own
    context's (the tone engine marks each sample with the request that made it)."""
    tts = make_tts()
    async with running(tts) as run:
        # two contexts synthesizing at once (a speak frame, then an LLM turn behind it)
        await run.send(
            TTSSpeakFrame("Alpha speaks first."),
            LLMFullResponseStartFrame(),
            LLMTextFrame("Bravo one. "),
            LLMTextFrame("Bravo two."),
            LLMFullResponseEndFrame(),
        )
        await run.turns_done(2)
        # a barge-in, then the next turn
        await run.send(TTSSpeakFrame("Charlie talks for quite a long while now, on and on."))
        await run.down.wait_for(
            lambda c: len(run.context_ids()) == 3 and c.count(TTSAudioRawFrame) > 30
        )
        await run.worker.queue_frame(InterruptionFrame())
        await run.down.wait_count(InterruptionFrame, 1)
        await run.send(TTSSpeakFrame("Delta answers."))
        await run.turns_done(3)
        # a turn whose socket dies after audio: the rest of it goes out on a new utterance
        smallest_server.faults.abort_after(5)
        # (the aggregator releases a sentence when the next token confirms its end)
        await run.send(
            LLMFullResponseStartFrame(), LLMTextFrame("Echo starts here."), LLMTextFrame(" Then")
        )
        await run.up.wait_count(ErrorFrame, 1)
        await run.send(LLMTextFrame(" it carries on."), LLMFullResponseEndFrame())
        await run.turns_done(4)
    a, b, c, d, e = run.context_ids()
    allowed = {a: {a}, b: {b}, c: {c}, d: {d}, e: {e, f"{e}.2"}}
    for frame in run.down.frames(TTSAudioRawFrame):
        tags = set(describe(frame.audio))
        assert tags <= {tag_value(t) for t in allowed[frame.context_id]}, frame.context_id
    by_ctx = run.audio_by_context()
    for ctx in (a, b, d):  # complete and intact
        assert describe(by_ctx[ctx]) == {tag_value(ctx): [(0, len(by_ctx[ctx]) // 4)]}
    echo = describe(by_ctx[e])
    assert echo[tag_value(e)] == [(0, 5 * 480 // 2)]  # five 20 ms chunks, then the drop
    assert echo[tag_value(f"{e}.2")][0][0] == 0  # the rest, from a fresh request
    assert len(run.errors()) == 1


async def test_rejected_voice_is_permanent_until_the_settings_change(make_tts, smallest_server):
    """A voice the server rejects is Pipecat-permanent (no retry, service set aside); a
    settings update gives it back its work, and the next turn speaks."""
    tts = make_tts()
    async with running(tts) as run:
        await run.send(
            TTSUpdateSettingsFrame(delta=SmallestTTSService.Settings(voice="no_such_voice")),
            TTSSpeakFrame("This will not be spoken."),
        )
        await run.up.wait_count(ErrorFrame, 1)
        await run.turns_done(1)
        assert not tts.is_usable
        await run.send(
            TTSUpdateSettingsFrame(delta=SmallestTTSService.Settings(voice="meher")),
            TTSSpeakFrame("Back in business."),
        )
        await run.turns_done(2)
    error = run.errors()[0]
    assert error.category is ErrorCategory.INVALID_REQUEST
    assert "voice" in error.error
    # the typed error, without the core's internal traceback for Pipecat to quote
    assert isinstance(error.exception, SmallestError) and error.exception.__traceback__ is None
    first, second = run.context_ids()
    assert first not in run.audio_by_context()
    # nothing of the context was queued: reported at once, still before its stop frame
    stop = next(
        s.at
        for s in run.down.seen
        if isinstance(s.frame, TTSStoppedFrame) and s.frame.context_id == first
    )
    assert next(s.at for s in run.up.seen if s.frame is error) <= stop
    pcm = run.audio_by_context()[second]
    assert describe(pcm) == {tag_value(second): [(0, len(pcm) // 4)]}
    assert smallest_server.stats.request_ids == [second]
    assert smallest_server.stats.ws_connections_total <= 2  # prewarmed + spare: no retry


async def test_pipeline_sample_rate_reaches_the_wire(make_tts, smallest_server):
    """The rate comes from the pipeline (setup()): 16 kHz audio, 16 kHz frames."""
    tts = make_tts()
    async with running(tts, sample_rate=16000) as run:
        await run.send(TTSSpeakFrame("Five words are spoken here."))
        await run.turns_done(1)
    frames = run.down.frames(TTSAudioRawFrame)
    assert {f.sample_rate for f in frames} == {16000}
    assert len(run.audio()) == 16000 * 2  # one second of tone audio at 16 kHz


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=20)
async def test_uninterruptible_speech_survives_a_barge_in(make_tts, smallest_server):
    tts = make_tts()
    text = "Please hold while I transfer you."  # 1.2 s of tone audio
    async with running(tts) as run:
        frame = TTSSpeakFrame(text)
        frame.interruptible = False
        await run.send(frame)
        await run.down.wait_count(TTSAudioRawFrame, 3)
        await run.worker.queue_frame(InterruptionFrame())
        await run.turns_done(1)
    (ctx,) = run.context_ids()
    pcm = run.audio()
    assert describe(pcm) == {tag_value(ctx): [(0, 24000 * 12 // 10 // 2)]}
    assert smallest_server.stats.syntheses_cancelled == 0
