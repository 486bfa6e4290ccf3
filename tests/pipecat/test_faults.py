"""Faults, each ten times in a row: the user hears of what they must know, and the next turn speaks.

A fault before any audio is retried by the core on a fresh socket, transparently; one
after audio was played cannot be (audio is never duplicated), so it reaches Pipecat as
an ``ErrorFrame`` in that context's order — after its audio, before its
``TTSStoppedFrame``. Either way the service stays usable: the official service goes
silent for good after three.
"""

from __future__ import annotations

from collections.abc import Callable

import pytest
from pipecat.frames.frames import TTSAudioRawFrame, TTSSpeakFrame, TTSStoppedFrame
from pipecat.utils.errors import ErrorCategory

from smallest_core import SmallestError
from smallest_local.engines.tone import describe, tag_value
from smallest_local.faults import FaultPlan
from tests.support.pipecat import Run, running
from tests.support.servers import until_no_sockets

ROUNDS = 10
TEXT = "Five words are spoken here."  # tone engine: 1 s of audio, fifty 20 ms chunks
FULL_PAIRS = 24000 // 2  # one second at 24 kHz, in (tag, counter) pairs
MID_CHUNKS = 5
MID_PAIRS = MID_CHUNKS * 480 // 2  # five 20 ms chunks

FAULTS: dict[str, tuple[Callable[[FaultPlan], object], bool]] = {
    # name: (script one fault, does the user have to hear about it?)
    "error_frame_before_audio": (lambda f: f.error_frame(after_chunks=0), False),
    "error_frame_mid_audio": (lambda f: f.error_frame(after_chunks=MID_CHUNKS), True),
    "drop_before_audio": (lambda f: f.close_after(0, code=1011), False),
    "drop_mid_audio": (lambda f: f.close_after(MID_CHUNKS, code=1011), True),
    "tcp_abort_before_audio": (lambda f: f.abort_after(0), False),
    "tcp_abort_mid_audio": (lambda f: f.abort_after(MID_CHUNKS), True),
    "malformed_frame_before_audio": (lambda f: f.malformed_frame(after_chunks=0), False),
}


def check_turns(run: Run, faulted: int, must_know: bool) -> None:
    """Each faulted turn: its own audio only, in order; errors exactly where needed."""
    contexts = run.context_ids()
    assert len(contexts) == faulted + 1
    by_ctx = run.audio_by_context()
    for i, ctx in enumerate(contexts):
        runs = describe(by_ctx[ctx])
        pairs = MID_PAIRS if must_know and i < faulted else FULL_PAIRS
        assert runs == {tag_value(ctx): [(0, pairs)]}, f"turn {i}"
    errors = run.errors()
    assert len(errors) == (faulted if must_know else 0)
    for error in errors:
        assert error.category in (ErrorCategory.CONNECTIVITY, ErrorCategory.SERVER)
        assert not error.category.is_permanent
    # In order: each error comes after its context's audio and before its stop.
    stops = [s.at for s in run.down.seen if isinstance(s.frame, TTSStoppedFrame)]
    seen_errors = [s.at for s in run.up.seen if s.frame in errors]
    for i, at in enumerate(seen_errors):
        last_audio = max(
            s.at
            for s in run.down.seen
            if isinstance(s.frame, TTSAudioRawFrame) and s.frame.context_id == contexts[i]
        )
        assert last_audio <= at <= stops[i]


@pytest.mark.parametrize("name", list(FAULTS))
@pytest.mark.smallest_server(chunk_ms=20)
async def test_fault_ten_times_then_the_next_turn_speaks(name, make_tts, smallest_server):
    script, must_know = FAULTS[name]
    if must_know:
        # Paced (4x real time), so audio reaches Pipecat before the fault strikes.
        smallest_server.set_latency(realtime_factor=0.25)
    tts = make_tts()
    async with running(tts) as run:
        for i in range(ROUNDS):
            fault = script(smallest_server.faults)
            await run.send(TTSSpeakFrame(TEXT))
            await run.turns_done(i + 1)
            assert fault.fired == 1, f"round {i}: the fault did not fire"
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(ROUNDS + 1)
    check_turns(run, ROUNDS, must_know)
    assert tts.is_usable


async def test_idle_close_ten_times(make_tts, smallest_server):
    """The server closes idle sockets (§5.1): the next turn opens a new one, no error."""
    smallest_server.faults.idle_close(0.1, times=None, between_requests=True)
    tts = make_tts()
    async with running(tts) as run:
        for i in range(ROUNDS):
            await until_no_sockets(smallest_server)
            await run.send(TTSSpeakFrame(TEXT))
            await run.turns_done(i + 1)
        await until_no_sockets(smallest_server)
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(ROUNDS + 1)
    check_turns(run, ROUNDS, must_know=False)
    assert smallest_server.stats.ws_connections_total > ROUNDS


async def test_close_after_every_complete_ten_times(make_tts, smallest_server):
    """A server that closes after every ``complete`` (§9.1 reading): every turn speaks."""
    smallest_server.faults.close_after_complete(times=None)
    tts = make_tts()
    async with running(tts) as run:
        for i in range(ROUNDS + 1):
            await run.send(TTSSpeakFrame(TEXT))
            await run.turns_done(i + 1)
    check_turns(run, ROUNDS, must_know=False)
    assert smallest_server.stats.syntheses_completed == ROUNDS + 1


async def test_server_unreachable_for_several_turns_then_back(make_tts, smallest_server):
    """Upgrades refused for five turns: each reports why; once the server is back, it speaks."""
    smallest_server.faults.refuse_upgrade(503, times=None)
    tts = make_tts()
    reported: list[str] = []
    tts.add_event_handler("on_connection_error", lambda _tts, error: reported.append(error))
    async with running(tts) as run:
        for i in range(5):
            await run.send(TTSSpeakFrame(TEXT))
            await run.turns_done(i + 1)
        assert len(run.errors()) >= 5 and tts.is_usable
        smallest_server.faults.clear()
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(6)
    last = run.context_ids()[-1]
    assert describe(run.audio_by_context()[last]) == {tag_value(last): [(0, FULL_PAIRS)]}
    assert run.audio_by_context().keys() == {last}
    ours = [e for e in run.errors() if isinstance(e.exception, SmallestError)]
    assert len(ours) == 5  # one per turn, with its cause (Pipecat adds its own
    assert all(e.category is ErrorCategory.SERVER for e in ours)  # "no audio" notices)
    assert len(reported) == 1 + 5  # prewarm at setup(), then each turn
