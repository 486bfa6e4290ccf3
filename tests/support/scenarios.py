"""The scenario catalogue, written once and run through every adapter's driver.

Each scenario drives a :class:`~tests.support.drivers.Driver` against the local
server (tone engine: every sample names the request that made it and counts up, so
:func:`describe` proves whose audio a turn carried, that it is whole and in order) and
applies the same assertions whatever the framework:

* every byte is attributed to the right utterance: one tag per turn, a request the server
  synthesized, never a tag another turn already had;
* nothing is cut off and nothing is doubled: the run starts at sample pair 0 and has
  exactly ``words × pairs_per_word(rate, speed)`` pairs;
* nothing arrives after a cancel: none of the interrupted turn's audio after the
  interruption, and the next turn is clean;
* the end comes from the server's signal: the framework ends the turn after all of its
  audio (under ``release`` dialects a ``complete`` arrives per sentence, so an end taken
  at the first one would cut audio) and within ``END_SLACK_S`` of it (no idle timer);
* sockets: no more than the driver's budget, and a barge-in or a following turn does not
  open a new one;
* metrics: one per spoken turn, as the framework surfaces them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from smallest_local import Server
from smallest_local.engines.tone import ToneEngine, describe, tag_value

from .drivers import DRIVERS, STREAMING, Driver, Turn

TONE = ToneEngine()
#: a turn must end this soon after its last audio (the official Pipecat waits 3 s)
END_SLACK_S = 1.0
#: sockets a streaming adapter may open for a run of turns: a prewarmed one and a warm
#: spare, plus one when the first turn starts while the prewarm is still connecting (seen
#: once on a loaded machine: LiveKit, settings change)
SOCKETS = 3


def tokens_of(text: str) -> list[str]:
    """Word-sized tokens with their leading space, the way LLMs stream them."""
    words = text.split(" ")
    return [words[0]] + [" " + w for w in words[1:]]


SHORT = "Hello there."
LONG = " ".join(
    f"Sentence number {i} says a few more words about the weather today." for i in range(6)
)
MULTI = "The order ships on Monday. It arrives by Thursday! Do you want tracking?"
BARGE = " ".join(["word"] * 40) + "."  # 8 s of audio at speed 1


@dataclass
class Checked:
    """What a scenario accumulates while it checks turns."""

    server: Server
    used: set[int]
    #: the adapter sends its own request ids (the tool does not: the server makes one up)
    ids: bool = True

    def turn(self, turn: Turn, text: str, *, rate: int = 24000, speed: float = 1.0) -> int:
        """The common assertions for one spoken turn; returns its tag."""
        assert turn.error is None, f"turn failed: {turn.error!r}"
        assert turn.rate == rate
        runs = describe(turn.audio)
        assert len(runs) == 1, f"audio of {len(runs)} requests in one turn: {sorted(runs)}"
        ((tag, spans),) = runs.items()
        known = {tag_value(r) for r in self.server.stats.request_ids}
        assert tag in known or not self.ids, (
            "audio tagged with a request the server never synthesized"
        )
        assert tag not in self.used, "a turn carried audio another turn already had"
        self.used.add(tag)
        pairs = len(text.split()) * TONE.pairs_per_word(rate, speed)
        assert spans == [(0, pairs)], f"not one whole run of {pairs} pairs: {spans}"
        assert turn.last_audio_at is not None and turn.ended_at is not None
        lag = turn.ended_at - turn.last_audio_at
        assert 0 <= lag < END_SLACK_S, f"turn ended {lag:.3f} s after its last audio"
        return tag


Scenario = Callable[[Callable[..., Driver], Server], Awaitable[None]]
SCENARIOS: dict[str, Scenario] = {}
#: scenarios an adapter cannot express (the reason goes into the README matrix)
NOT_APPLICABLE: dict[tuple[str, str], str] = {}


def scenario(name: str, *, needs: str | None = None) -> Callable[[Scenario], Scenario]:
    """Register a scenario; ``needs`` names a driver capability it requires."""

    def register(fn: Scenario) -> Scenario:
        SCENARIOS[name] = fn
        fn.needs = needs  # type: ignore[attr-defined]
        return fn

    return register


def applicable(name: str, adapter: str) -> bool:
    needs = getattr(SCENARIOS[name], "needs", None)
    cls = DRIVERS[adapter]
    return needs is None or bool(getattr(cls, needs))


def check_common(d: Driver, server: Server, spoken: int, *, sockets: int = SOCKETS) -> None:
    """Errors, metrics and sockets after a scenario."""
    assert d.errors() == [], f"errors reported: {d.errors()!r}"
    assert len(d.metrics()) >= spoken, f"{len(d.metrics())} metrics for {spoken} turns"
    if d.name in STREAMING:
        assert 1 <= server.stats.ws_connections_total <= sockets
    else:
        assert server.stats.ws_connections_total == 0
        assert server.stats.http_requests == spoken


@scenario("short utterance")
async def short(make: Callable[..., Driver], server: Server) -> None:
    async with make() as d:
        (turn,) = await d.speak_many([tokens_of(SHORT)])
        Checked(server, set(), d.name in STREAMING).turn(turn, SHORT)
        check_common(d, server, 1)


@scenario("long utterance")
async def long(make: Callable[..., Driver], server: Server) -> None:
    async with make() as d:
        (turn,) = await d.speak_many([tokens_of(LONG)])
        Checked(server, set(), d.name in STREAMING).turn(turn, LONG)
        check_common(d, server, 1)


@scenario("token-streamed multi-sentence turn", needs="streams_tokens")
async def multi(make: Callable[..., Driver], server: Server) -> None:
    async with make() as d:
        (turn,) = await d.speak_many([tokens_of(MULTI)])
        Checked(server, set(), d.name in STREAMING).turn(turn, MULTI)
        check_common(d, server, 1)


@scenario("barge-in mid-turn then a new turn", needs="can_barge_in")
async def barge_in(make: Callable[..., Driver], server: Server) -> None:
    async with make() as d:
        checked = Checked(server, set(), d.name in STREAMING)
        (first,) = await d.speak_many([tokens_of(SHORT)])
        checked.turn(first, SHORT)
        server.set_latency(realtime_factor=0.25, chunk_ms=20)  # audio paced: 4x real time
        sockets = server.stats.ws_connections_total
        cut = await d.barge_in(tokens_of(BARGE))
        server.set_latency(realtime_factor=0.0)
        (after,) = await d.speak_many([tokens_of(MULTI)])
        checked.turn(after, MULTI)

        runs = describe(cut.audio)
        # The interrupted turn heard audio of its own: one run, whole from its start. (Its
        # tag may equal the next turn's — tone tags are 15 bits — so compare runs, not tags.)
        assert len(runs) == 1, "the interrupted turn delivered no audio of its own"
        ((spans),) = runs.values()
        assert len(spans) == 1 and spans[0][0] == 0, spans
        ((cut_tag, spans),) = runs.items()
        full = len(BARGE.split()) * TONE.pairs_per_word(24000)
        assert spans[0][0] == 0 and sum(n for _, n in spans) < full, "not cut: played in full"
        assert cut_tag not in describe(cut.late), "audio of the interrupted turn after the cancel"
        assert cut_tag not in describe(after.audio)
        assert server.stats.syntheses_cancelled == 1
        # the cancel travels on the turn's socket: none is dropped, none added beyond a spare
        assert server.stats.ws_connections_active == server.stats.ws_connections_total
        # (LangChain's pool replaces the spare the next turn took while the cancel is
        # acknowledged on the first: one socket more, none dropped)
        assert server.stats.ws_connections_total <= SOCKETS + (d.name == "langchain")
        assert sockets >= 1
        check_common(d, server, 2, sockets=SOCKETS + (d.name == "langchain"))


@scenario("back-to-back turns")
async def back_to_back(make: Callable[..., Driver], server: Server) -> None:
    texts = ["First turn speaks now.", "Second turn follows.", "And a third."]
    async with make() as d:
        turns = await d.speak_many([tokens_of(t) for t in texts])
        checked = Checked(server, set(), d.name in STREAMING)
        assert len(turns) == 3
        for turn, text in zip(turns, texts, strict=True):
            checked.turn(turn, text)
        # turns queued together may overlap (Pipecat synthesizes the next while the
        # previous plays): at most one more socket per overlapping turn
        check_common(d, server, 3, sockets=SOCKETS + 2)


@scenario("settings change between turns")
async def settings_change(make: Callable[..., Driver], server: Server) -> None:
    text = "Five words are spoken here."
    async with make() as d:
        checked = Checked(server, set(), d.name in STREAMING)
        (one,) = await d.speak_many([tokens_of(text)])
        checked.turn(one, text)
        await d.update(speed=2.0)
        (two,) = await d.speak_many([tokens_of(text)])
        checked.turn(two, text, speed=2.0)
        # a LangChain Runnable's settings are its fields: the changed one is a new
        # instance with its own pool (its own sockets)
        check_common(d, server, 2, sockets=SOCKETS * (1 + (d.name == "langchain")))


@scenario("word timestamps", needs="has_words")
async def word_timestamps(make: Callable[..., Driver], server: Server) -> None:
    async with make(word_timestamps=True) as d:
        (turn,) = await d.speak_many([tokens_of(MULTI)])
        Checked(server, set(), d.name in STREAMING).turn(turn, MULTI)
        assert turn.words is not None
        assert [w for w, _ in turn.words] == MULTI.split()
        word_s = TONE.pairs_per_word(24000) * 2 / 24000
        starts = [s - turn.words[0][1] for _, s in turn.words]
        # one timeline across sentences, even when the server restarts times per release
        assert starts == _approx([i * word_s for i in range(len(starts))])
        check_common(d, server, 1)


def _rate(rate: int) -> Scenario:
    async def run(make: Callable[..., Driver], server: Server) -> None:
        async with make(sample_rate=rate) as d:
            (turn,) = await d.speak_many([tokens_of(MULTI)])
            Checked(server, set(), d.name in STREAMING).turn(turn, MULTI, rate=rate)
            check_common(d, server, 1)

    return run


scenario("8 kHz")(_rate(8000))
scenario("44.1 kHz")(_rate(44100))


def _approx(values: list[float]) -> Any:
    import pytest

    return pytest.approx(values, abs=0.011)
