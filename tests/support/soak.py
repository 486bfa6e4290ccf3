"""Soak: many concurrent sessions through every adapter, random barge-ins and faults.

Each session is one adapter (LiveKit ``AgentSession``, Pipecat ``Pipeline``, LangChain
``SmallestSpeech``; round-robin) driven by the conformance drivers
(``tests/support/drivers.py``) against one local server (tone engine, audio paced at
``--pace`` × real time so barge-ins land mid-turn). Every utterance is, at random, a plain
turn, a barge-in, or a turn with a server fault scripted just before it (a drop or an
error frame before audio, a drop or an error frame after audio). Faults are server-wide:
the next synthesis takes it, whichever session it belongs to.

Every utterance must be accounted for: **spoken** (one whole in-order run of its own
request), **cancelled** (a barge-in: a prefix of its own audio, nothing after the
interruption) or **failed** with the framework's typed error (a prefix of its own audio).
Anything else (an untyped error, a hang, foreign or repeated audio) is **unaccounted**.

At the end: no socket left open on the server, no asyncio task left behind, no
framework session still alive once closed, and the process RSS grew at most 5 % between
the end of the warm-up (every session past its first 10 % of utterances) and the end
(every session past its last utterance). Both points are taken with every session open
and idle between turns, after ``gc.collect()``: like is compared with like. The RSS after
the sessions close is printed too, with the C heap's in-use and free-but-retained bytes
(glibc ``mallinfo2``), but not judged: closing every session at once raises the heap's
high-water mark and glibc keeps the freed memory, so RSS does not fall back when in-use
memory does. RSS at every 10 % of the utterances shows growth as a plateau or a slope.

Between turns each driver drops what it captured (``Driver.forget``), including what the
framework keeps per turn for a session's whole life: a LiveKit ``AgentSession`` keeps its
chat history and every event it emitted (for its end-of-session report, each turn's
``SpeechHandle`` with its futures) until it closes: about 100 Python objects and 20-30 KiB
a turn. Measured, 30 LiveKit sessions x 40 turns: with them kept RSS grew linearly
(195 -> 220 MiB, +12.9 %) while the C heap stayed flat (small Python objects live in
pymalloc's arenas, outside malloc); with them dropped, +1.0 % (flat after the warm-up). The
soak prints how many such records it dropped, and checks that every session is freed
once closed.

Run: ``uv run --no-sync python bench/soak.py [--sessions 50] [--utterances 200]``
(not part of ``make test``; ``tests/reliability/test_soak.py`` runs a short form). The soak
lives here, in ``tests/support``, so that the bench and the test share it.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import random
import time
import tracemalloc
import weakref
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from smallest_local import Server
from smallest_local.engines.tone import ToneEngine, describe, tag_value
from tests.support.drivers import STREAMING, Driver, Turn, driver
from tests.support.scenarios import tokens_of

TONE = ToneEngine()
TEXTS = ("Hello there.", "The order ships on Monday.", "Sure, I can do that for you now.")
LONG = " ".join(["word"] * 30) + "."
FAULTS = ("drop before audio", "error before audio", "drop after audio", "error after audio")


def rss_bytes() -> int:
    """Resident set size of this process (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


class _MallInfo2(ctypes.Structure):
    _fields_ = [
        (name, ctypes.c_size_t)
        for name in (
            "arena",
            "ordblks",
            "smblks",
            "hblks",
            "hblkhd",
            "usmblks",
            "fsmblks",
            "uordblks",
            "fordblks",
            "keepcost",
        )
    ]


def heap_bytes() -> tuple[int, int] | None:
    """The C heap (glibc malloc): bytes in use, bytes freed but kept; None off glibc."""
    try:
        mallinfo2 = ctypes.CDLL("libc.so.6").mallinfo2
    except (OSError, AttributeError):
        return None
    mallinfo2.restype = _MallInfo2
    info = mallinfo2()
    return info.uordblks + info.hblkhd, info.fordblks


def typed(adapter: str, error: object) -> bool:
    """The framework's own typed error, carrying the core's classification."""
    from smallest_core import SmallestError

    if adapter == "livekit":
        from livekit.agents import APIError

        return isinstance(error, APIError)
    if adapter == "pipecat":
        from pipecat.frames.frames import ErrorFrame

        return isinstance(error, ErrorFrame) and isinstance(error.exception, SmallestError)
    return isinstance(error, SmallestError)


@dataclass
class Report:
    """What the soak saw."""

    sessions: int
    utterances: int
    outcomes: Counter[str] = field(default_factory=Counter)
    problems: list[str] = field(default_factory=list)
    faults_fired: int = 0
    sockets_opened: int = 0
    sockets_left_open: int = 0
    tasks_left: int = 0
    rss_warm: int = 0
    rss_end: int = 0
    #: after every session closed (printed, not judged: see the module docstring)
    rss_closed: int = 0
    #: C heap (in use, freed but retained) at the warm-up, the end and after closing
    heap: dict[str, tuple[int, int] | None] = field(default_factory=dict)
    #: RSS at every 10 % of the utterances accounted for
    rss_trace: list[int] = field(default_factory=list)
    #: per-turn records the frameworks keep for a session's life, dropped between turns
    trimmed: Counter[str] = field(default_factory=Counter)
    #: framework sessions (and drivers) still reachable after they closed
    sessions_alive: int = 0
    seconds: float = 0.0
    snapshot: tracemalloc.Snapshot | None = None
    growth: list[str] = field(default_factory=list)

    @property
    def rss_growth(self) -> float:
        return (self.rss_end - self.rss_warm) / self.rss_warm if self.rss_warm else 0.0

    @property
    def accounted(self) -> int:
        return sum(n for k, n in self.outcomes.items() if k != "unaccounted")

    def ok(self) -> bool:
        return (
            not self.problems
            and self.accounted == self.sessions * self.utterances
            and self.sockets_left_open == 0
            and self.tasks_left == 0
            and self.sessions_alive == 0
            and self.rss_growth <= 0.05
        )

    def record_progress(self) -> None:
        """Sample RSS each time another tenth of the utterances is accounted for."""
        total = self.sessions * self.utterances
        while len(self.rss_trace) < 10 and sum(self.outcomes.values()) * 10 >= total * (
            len(self.rss_trace) + 1
        ):
            self.rss_trace.append(rss_bytes())

    def lines(self) -> list[str]:
        total = self.sessions * self.utterances

        def heap(when: str) -> str:
            got = self.heap.get(when)
            return f"{got[0] / 2**20:.1f} / {got[1] / 2**20:.1f}" if got else "n/a"

        return [
            f"sessions x utterances   {self.sessions} x {self.utterances} = {total}",
            f"wall time               {self.seconds:.1f} s",
            "outcomes                "
            + ", ".join(f"{k} {n}" for k, n in sorted(self.outcomes.items())),
            f"accounted for           {self.accounted} / {total}",
            f"faults fired            {self.faults_fired}",
            f"sockets opened          {self.sockets_opened}",
            f"sockets left open       {self.sockets_left_open}",
            f"asyncio tasks left      {self.tasks_left}",
            f"sessions alive at close {self.sessions_alive}",
            f"RSS warm -> end         {self.rss_warm / 2**20:.1f} -> {self.rss_end / 2**20:.1f}"
            f" MiB ({self.rss_growth * 100:+.1f} %; sessions open, between turns)",
            "RSS every 10 %          " + " ".join(f"{r / 2**20:.0f}" for r in self.rss_trace),
            f"RSS after close         {self.rss_closed / 2**20:.1f} MiB (not judged)",
            f"C heap in use / kept    warm {heap('warm')}, end {heap('end')},"
            f" closed {heap('closed')} MiB",
            "trimmed between turns   "
            + (", ".join(f"{k} {n}" for k, n in sorted(self.trimmed.items())) or "nothing"),
            f"problems                {len(self.problems)}",
            *(f"  - {p}" for p in self.problems[:10]),
            *(["python allocations grown since warm-up (tracemalloc):"] if self.growth else []),
            *(f"  {g}" for g in self.growth),
        ]


class Tags:
    """Tone tags are 15 bits: over thousands of requests two ids can share one. A tag
    seen twice only counts as repeated audio when a single request id carries it."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.ids: dict[int, set[str]] = {}
        self.seen = 0

    def ambiguous(self, tag: int) -> bool:
        rids = self.server.stats.request_ids
        for rid in rids[self.seen :]:
            self.ids.setdefault(tag_value(rid.split(".")[0]), set()).add(rid.split(".")[0])
            self.ids.setdefault(tag_value(rid), set()).add(rid)
        self.seen = len(rids)
        return len(self.ids.get(tag, ())) > 1


def classify(adapter: str, turn: Turn, kind: str, text: str, heard: set[int], tags: Tags) -> str:
    """spoken / cancelled / failed, or a description of what is wrong."""
    runs = describe(turn.audio)
    if len(runs) > 1:
        return f"audio of {len(runs)} requests in one turn"
    for tag, spans in runs.items():
        if tag in heard and not tags.ambiguous(tag):
            return "audio of an earlier utterance again"
        heard.add(tag)
        if len(spans) != 1 or spans[0][0] != 0:
            return f"audio not one in-order run: {spans[:3]}"
    if kind == "barge-in" and turn.interrupted_at is None:
        kind = "turn"  # it failed before any audio: nothing to barge in on
        if turn.error is not None and not turn.audio:
            return "failed" if typed(adapter, turn.error) else f"untyped error {turn.error!r}"
    if kind == "barge-in":
        if describe(turn.late).keys() & runs.keys():
            return "audio after the barge-in"
        return "cancelled"
    if turn.error is not None:
        return "failed" if typed(adapter, turn.error) else f"untyped error {turn.error!r}"
    pairs = len(text.split()) * TONE.pairs_per_word(24000)
    if [s for spans in runs.values() for s in spans] != [(0, pairs)]:
        return "spoken audio not whole"
    return "spoken"


async def session(
    name: str,
    server: Server,
    utterances: int,
    rng: random.Random,
    report: Report,
    warm: asyncio.Event,
    done: asyncio.Event,
    closing: asyncio.Event,
    tags: Tags,
    alive: list[weakref.ref[object]],
) -> None:
    heard: set[int] = set()
    d: Driver
    async with driver(name, server) as d:
        for i in range(utterances):
            roll = rng.random()
            kind = "barge-in" if roll < 0.15 else "fault" if roll < 0.3 else "turn"
            fault = ""
            text = LONG if kind == "barge-in" else rng.choice(TEXTS)
            if kind == "fault":
                fault = rng.choice(FAULTS)
                plan = server.faults
                if fault == "drop before audio":
                    plan.abort_after(0)
                elif fault == "error before audio":
                    plan.error_frame(after_chunks=0)
                elif fault == "drop after audio":
                    plan.abort_after(2)
                else:
                    plan.error_frame(after_chunks=2)
            try:
                async with asyncio.timeout(30):
                    if kind == "barge-in":
                        turn = await d.barge_in(tokens_of(text))
                    else:
                        turn = await d.speak(tokens_of(text))
                outcome = classify(name, turn, kind, text, heard, tags)
            except Exception as err:  # a hang or a crash: unaccounted, with its reason
                outcome = f"{type(err).__name__}: {err}"
            if outcome in ("spoken", "cancelled", "failed"):
                report.outcomes[outcome] += 1
            else:
                report.outcomes["unaccounted"] += 1
                what = f"{kind} {fault}".strip()
                report.problems.append(f"{name} utterance {i} ({what}): {outcome}")
            await d.forget()
            report.record_progress()
            if i + 1 == max(1, utterances // 10):
                warm.set()
        report.trimmed.update(d.trimmed)
        alive.append(weakref.ref(d))
        if hasattr(d, "session"):  # LiveKit's AgentSession
            alive.append(weakref.ref(d.session))
        done.set()
        await closing.wait()  # the end is measured with every session still open


async def soak(
    sessions: int,
    utterances: int,
    *,
    seed: int = 1,
    pace: float = 0.25,
    adapters: tuple[str, ...] = STREAMING,
) -> Report:
    """Run the soak against an in-process local server; return the figures."""
    report = Report(sessions, utterances)
    rng = random.Random(seed)
    with Server(engine="tone", concurrency_limit=max(100, 4 * sessions)) as server:
        server.set_latency(realtime_factor=pace, chunk_ms=20)
        baseline = len(asyncio.all_tasks())
        warm_events = [asyncio.Event() for _ in range(sessions)]
        done_events = [asyncio.Event() for _ in range(sessions)]
        closing = asyncio.Event()
        alive: list[weakref.ref[object]] = []
        started = time.monotonic()

        async def measure() -> None:
            await asyncio.gather(*(e.wait() for e in warm_events))
            gc.collect()
            report.rss_warm = rss_bytes()
            report.heap["warm"] = heap_bytes()
            if tracemalloc.is_tracing():
                report.snapshot = tracemalloc.take_snapshot()
            await asyncio.gather(*(e.wait() for e in done_events))
            gc.collect()
            report.rss_end = rss_bytes()
            report.heap["end"] = heap_bytes()
            if report.snapshot is not None:
                diff = tracemalloc.take_snapshot().compare_to(report.snapshot, "lineno")
                report.growth = [str(d) for d in diff[:8]]
            closing.set()

        watcher = asyncio.create_task(measure())
        tags = Tags(server)
        await asyncio.gather(
            *(
                session(
                    adapters[i % len(adapters)],
                    server,
                    utterances,
                    random.Random(rng.random()),
                    report,
                    warm_events[i],
                    done_events[i],
                    closing,
                    tags,
                    alive,
                )
                for i in range(sessions)
            )
        )
        await watcher
        report.seconds = time.monotonic() - started
        server.faults.clear()
        # sockets close asynchronously on the server thread: give them a moment
        deadline = time.monotonic() + 5
        while server.stats.ws_connections_active and time.monotonic() < deadline:
            await asyncio.sleep(0.01)
        gc.collect()
        report.rss_closed = rss_bytes()
        report.heap["closed"] = heap_bytes()
        report.sessions_alive = sum(1 for ref in alive if ref() is not None)
        report.sockets_opened = server.stats.ws_connections_total
        report.sockets_left_open = server.stats.ws_connections_active
        report.faults_fired = len(server.faults.history)
        current = asyncio.current_task()
        left = [t for t in asyncio.all_tasks() if t is not current and not t.done()]
        report.tasks_left = max(0, len(left) - (baseline - 1))
    return report


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument("--utterances", type=int, default=200)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--pace", type=float, default=0.25, help="server realtime factor")
    parser.add_argument("--tracemalloc", action="store_true", help="show what grew")
    parser.add_argument(
        "--adapters", default=",".join(STREAMING), help="comma-separated, round-robin"
    )
    args = parser.parse_args()
    if args.tracemalloc:
        tracemalloc.start()
    import logging

    logging.disable(logging.CRITICAL)  # figures only; faults make the adapters log
    from loguru import logger

    logger.remove()
    adapters = tuple(a for a in args.adapters.split(",") if a)
    report = asyncio.run(
        soak(args.sessions, args.utterances, seed=args.seed, pace=args.pace, adapters=adapters)
    )
    print("\n".join(report.lines()))
    print("PASS" if report.ok() else "FAIL")
    return 0 if report.ok() else 1


if __name__ == "__main__":
    raise SystemExit(main())
