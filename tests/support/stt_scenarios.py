"""The speech-to-text catalogue, written once and run through every adapter's STT driver
(``tests/support/stt_drivers.py``) against the local server's tone twin: each 200 ms tone
word slot is heard as ``tone_word(tag)``, all-zero audio is silence, so every transcript
is exact and every adapter must deliver the same one.

Two kinds of entries:

* speech scenarios (``SCENARIOS``): short utterance, long utterance (the server's word
  rollover cuts it into several finals), silence only, finalize mid-speech, barge-in while
  the agent speaks (our TTS speaks on the same server while the microphone stays open; the
  user starts talking over it and that speech is transcribed before the agent is done);
* faults (``FAULTS``, the STT part of the fault matrix): each names the fault it scripts on
  ``server.faults`` and the one outcome every adapter must give — the whole transcript
  (the fault was retried: nothing had been acknowledged yet) or the core's typed error —
  within a bounded time, never a hang.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from smallest_core import StreamConnection, TTSOptions
from smallest_local import Server
from smallest_local.engines import ToneEngine, tone_word

from .stt_drivers import FINALIZE, RATE, STT_DRIVERS, Heard, SttDriver

TONE = ToneEngine()
SILENCE_1S = bytes(RATE * 2)
#: a fault must surface within this (the driver's deadlines are 2 s; the Pipecat service
#: takes the core's default 5 s end timeout)
FAULT_BOUND_S = 10.0


def tone(*tags: str) -> bytes:
    """One tone word per tag (adjacent words need different tags to stay two words)."""
    return b"".join(TONE.synthesize("w", voice_id="", sample_rate=RATE, tag=t).pcm for t in tags)


def heard_words(text: str) -> list[str]:
    """Transcript words without the capitals and final period ``format`` adds."""
    return [w.strip(".,").lower() for w in text.split()]


def expected(*tags: str) -> list[str]:
    return [tone_word(t) for t in tags]


SHORT = ("hello", "there", "friend")
LONG = tuple(f"long{i}" for i in range(24))  # rollover at 10 words: three finals
FIRST, SECOND = ("before", "cut"), ("after", "cut2")
USER = ("wait", "stop", "please")


Make = Callable[..., SttDriver]
Scenario = Callable[[Make, Server], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}


def scenario(name: str, *, needs: str | None = None) -> Callable[[Scenario], Scenario]:
    """Register a scenario; ``needs`` names a driver capability it requires."""

    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        fn.needs = needs  # type: ignore[attr-defined]
        return fn

    return register


def applicable(name: str, adapter: str) -> bool:
    entry = SCENARIOS.get(name) or FAULTS[name]
    needs = getattr(entry, "needs", None)
    return needs is None or bool(getattr(STT_DRIVERS[adapter], needs))


def clean(heard: Heard, words: list[str]) -> None:
    """No error, and exactly ``words`` across the finals."""
    assert heard.error is None, f"error surfaced: {heard.error!r}"
    assert heard_words(heard.text) == words, heard.finals


@scenario("short utterance")
async def short(make: Make, server: Server) -> None:
    heard = await make().run([tone(*SHORT), FINALIZE])
    clean(heard, expected(*SHORT))
    assert len(heard.finals) == 1


@scenario("long utterance, rollover finals")
async def long(make: Make, server: Server) -> None:
    d = make()
    heard = await d.run([tone(*LONG), FINALIZE])
    clean(heard, expected(*LONG))
    if d.streams:  # the server's 10-word rollover: finals of 10, 10 and 4 words
        assert [len(f.split()) for f in heard.finals] == [10, 10, 4], heard.finals


@scenario("silence only")
async def silence(make: Make, server: Server) -> None:
    heard = await make().run([SILENCE_1S * 2, FINALIZE])
    clean(heard, [])
    assert heard.interims == 0


@scenario("finalize mid-speech", needs="can_finalize")
async def finalize_mid_speech(make: Make, server: Server) -> None:
    # the turn boundary comes while the user is still talking: no silence around it
    heard = await make().run([tone(*FIRST), FINALIZE, tone(*SECOND), FINALIZE])
    clean(heard, expected(*FIRST, *SECOND))
    if server.config.stt_dialect != "close-stream-only":  # that reading ignores finalize
        assert [heard_words(f) for f in heard.finals] == [expected(*FIRST), expected(*SECOND)]


AGENT = " ".join(["word"] * 40) + "."  # 8 s of agent speech at speed 1


@scenario("barge-in while the agent speaks", needs="streams")
async def barge_in(make: Make, server: Server) -> None:
    """Our TTS speaks (paced at 4x real time: 2 s) while the microphone stays open; the
    user talks over it, and that speech is transcribed while the agent still speaks."""
    server.set_latency(realtime_factor=0.25, chunk_ms=20)
    first_audio = asyncio.Event()
    agent_done: list[float] = []

    async def agent() -> None:
        options = TTSOptions(sample_rate=24000)
        async with StreamConnection(
            api_key=server.api_key, base_url=server.ws_url, options=options
        ) as conn:
            utt = conn.utterance("agent")
            await utt.end(AGENT)
            async for _ in utt:
                first_audio.set()
        agent_done.append(time.perf_counter())

    speaking = asyncio.create_task(agent())
    try:
        async with asyncio.timeout(10):
            await first_audio.wait()
        # the microphone hears the room's silence, then the user's words over the agent
        heard = await make().run([bytes(RATE), tone(*USER), FINALIZE])
        async with asyncio.timeout(10):
            await speaking
    finally:
        speaking.cancel()
        server.set_latency(realtime_factor=0.0)
    clean(heard, expected(*USER))
    assert heard.final_at[0] < agent_done[0], "the transcript waited for the agent to finish"


# -- faults ----------------------------------------------------------------------------
@dataclass(frozen=True)
class Fault:
    """A scripted STT fault and the one outcome every adapter must give."""

    script: Callable[[Server], object]
    #: None: the whole transcript arrives (retried); else the core's error class name(s)
    error: tuple[str, ...] | None = None
    needs: str | None = "streams"
    #: sessions the server must have seen (None: not checked)
    sessions: int | None = None
    #: a drop after audio races the first partial: if none had reached the client, the
    #: core replays the audio on a new socket (nothing was acknowledged, nothing is lost)
    #: and the whole transcript is the outcome; else the typed error. Never a partial one.
    replay_ok: bool = False


WORDS = ("fault", "words", "here", "now")  # 0.8 s: 40 frames of 20 ms

FAULTS: dict[str, Fault] = {
    "drop before audio (1011), retried": Fault(
        lambda s: s.faults.close_after(0, code=1011, route="stt"), sessions=2
    ),
    "drop after audio (1011)": Fault(
        lambda s: s.faults.close_after(12, code=1011, route="stt"),
        error=("TranscriptionLostError",),
        replay_ok=True,
    ),
    "TCP reset after audio": Fault(
        lambda s: s.faults.abort_after(12, route="stt"),
        error=("TranscriptionLostError",),
        replay_ok=True,
    ),
    **{
        f"error frame, shape {shape}": Fault(
            lambda s, shape=shape: s.faults.error_frame(  # type: ignore[misc]
                "recognizer failed", code="INTERNAL_ERROR", after_chunks=5, route="stt", shape=shape
            ),
            # after audio: what the finals do not cover is lost, and the error says so
            error=("TranscriptionLostError",),
        )
        for shape in ("a", "c", "d")
    },
    "upgrade refused 429, retried": Fault(
        lambda s: s.faults.refuse_upgrade(429, retry_after=0.1), sessions=1
    ),
    "upgrade refused 503, retried": Fault(lambda s: s.faults.refuse_upgrade(503), sessions=1),
    "stall mid-stream": Fault(
        lambda s: s.faults.stall(after_chunks=12, route="stt"),
        error=("TranscriptionLostError",),  # no is_last within the end timeout
    ),
    "batch 503, retried": Fault(
        lambda s: s.faults.http_error(503, path="/waves/v1/stt/"), needs="batch_only"
    ),
    "batch 429, retried": Fault(
        lambda s: s.faults.http_error(429, retry_after=0.1, path="/waves/v1/stt/"),
        needs="batch_only",
    ),
}


async def run_fault(name: str, make: Make, server: Server) -> None:
    fault = FAULTS[name]
    fault.script(server)
    heard = await make().run([tone(*WORDS), FINALIZE])
    assert heard.took < FAULT_BOUND_S, f"took {heard.took:.1f} s to end"
    if fault.error is None or (fault.replay_ok and heard.error is None):
        clean(heard, expected(*WORDS))
        if fault.replay_ok:
            assert server.stats.stt_sessions == 2, "the whole transcript without a replay"
    else:
        assert heard.error is not None, f"no error surfaced; heard {heard.finals}"
        assert heard.error_kind in fault.error, f"{heard.error!r} ({heard.error_kind})"
    if fault.sessions is not None:
        assert server.stats.stt_sessions == fault.sessions
