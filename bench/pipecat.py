"""Pipecat A/B: ``pipecat_smallest`` vs Pipecat 1.14's own ``SmallestTTSService``.

Both services run inside real Pipecat pipelines (``PipelineWorker`` + ``WorkerRunner``)
in this process, against the same local server (tone engine), rounds interleaved
(A, B, B, A, A, B, ...) so drift in machine load hits both alike and each goes first
in half the rounds. Rows:

1. warm TTFA overhead — first ``TTSAudioRawFrame`` out of the service minus the server's
   write of the first chunk (the server, in its own process, logs ``perf_counter_ns()``
   before each chunk write: ``--chunk-log``). ``TTFA_TURNS`` one-sentence turns per
   service and round, the server's first chunk 50 ms after the text (a real service
   takes longer still): both services are idle when it arrives, as in production;
2. end of utterance — ``TTSStoppedFrame`` minus the server's write of the last chunk (ours
   asks the server for ``complete_backoff_ms=0``; the official service sends none, so the
   server would wait its 4 s default, and the service ends on its own 3 s stop timer);
3. gap between back-to-back utterances — two ``TTSSpeakFrame``\\ s queued together: the
   second's first audio minus the first's last audio;
4. sockets opened per barge-in (``InterruptionFrame`` mid-reply, then the next turn);
5. next-turn TTFA after a barge-in with the server's connect delay at 150 ms (and how
   long the ``InterruptionFrame`` itself took to pass the service);
6. client CPU per second of audio (server in its own process; the whole pipeline);
7. turns that still speak after 10 consecutive faults (an error frame before audio,
   ten turns in a row), out of 10 clean turns that follow;
8. sockets opened over 10 plain turns (after a warm-up turn);
9. next-turn TTFA after a barge-in at 0 ms connect delay, and stale bytes: audio that
   reaches the pipeline after the ``InterruptionFrame`` and is not the next turn's own
   (tone tags name each byte's request);
10. first turn after the server closed the idle socket: TTFA, and ``ErrorFrame`` count
    (the server, in its own process, times sockets out after 1 s; a 1.5 s pause);
11. a voice the server rejects (an error frame, permanent): time from ``TTSSpeakFrame``
    to the ``ErrorFrame`` (10 s cap: a service that never reports counts as 10 s).

Rows 4, 5, 7, 8 and 9 drive the server's fault and latency controls, so that server
runs in this process; every other row's server runs in its own process, so that it
does not take the GIL from the client while a request is in flight.

Run: ``uv run --no-sync python bench/pipecat.py [--quick] [--json PATH]`` (``--json``
also writes every sample, per service and row, for ``bench/report.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# This file is named pipecat.py: take its folder off the path so `pipecat` is Pipecat's.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from loguru import logger  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    ErrorFrame,
    Frame,
    InterruptionFrame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.services.smallest.tts import SmallestTTSService as OfficialService  # noqa: E402
from pipecat.services.tts_service import TTSService  # noqa: E402

from pipecat_smallest import SmallestTTSService  # noqa: E402
from smallest_local import Server  # noqa: E402
from smallest_local.engines import describe, tag_value  # noqa: E402

sys.path.insert(0, _HERE)
from common import KEY, server_process  # noqa: E402

sys.path.insert(1, os.path.dirname(_HERE))  # the repository: tests.support
from tests.support.pipecat import started  # noqa: E402

RATE = 24000
REPLY = "Hello there, how are you today? I hope all is well with you."
LONG = " ".join(["word"] * 40)  # 8 s of tone audio
TURN_WAIT_S = 20.0
TTFA_TEXT = "Hello there."
TTFA_TURNS = 5  # per service and round: the row is a median over rounds x TTFA_TURNS
#: rows 10 and 11: one millisecond-scale sample per round (with 10, the two sides'
#: medians fell 0.2 ms apart inside a 1.3 ms spread of samples)
SHORT_ROW_ROUNDS = 20
CPU_ROUNDS = 8  # row 6: one sample per round, spread ±20 % between rounds on 2 shared cores
IDLE_S = 1.0  # row 10: the server's idle timeout
IDLE_PAUSE_S = 1.5  # row 10: the pause, longer than IDLE_S, shorter than 2 x IDLE_S


@dataclass
class Service:
    """One side of the A/B and the figures measured for it."""

    name: str
    make: Callable[..., TTSService]
    rows: dict[str, list[float]] = field(default_factory=dict)

    def add(self, row: str, value: float) -> None:
        self.rows.setdefault(row, []).append(value)


def ours(ws: str, voice: str = "meher") -> TTSService:
    return SmallestTTSService(
        api_key=KEY, base_url=ws, settings=SmallestTTSService.Settings(voice=voice)
    )


def official(ws: str, voice: str = "meher") -> TTSService:
    return OfficialService(api_key=KEY, base_url=ws, settings=OfficialService.Settings(voice=voice))


class Capture(FrameProcessor):
    """Timestamps every frame passing it (downstream) and every ErrorFrame (upstream)."""

    def __init__(self) -> None:
        super().__init__(enable_direct_mode=True)
        self.seen: list[tuple[Frame, float]] = []
        # Indexed as frames arrive, so waiting predicates cost O(1) (this process's CPU
        # is measured too).
        self.by_type: dict[type, list[tuple[Frame, float]]] = {}
        self.audio: dict[str | None, list[float]] = {}
        self.changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            await self.record(frame)
        await self.push_frame(frame, direction)

    async def record(self, frame: Frame) -> None:
        now = time.perf_counter()
        self.seen.append((frame, now))
        self.by_type.setdefault(type(frame), []).append((frame, now))
        if isinstance(frame, TTSAudioRawFrame):
            self.audio.setdefault(frame.context_id, []).append(now)
        async with self.changed:
            self.changed.notify_all()

    def of(self, kind: type) -> list[tuple[Frame, float]]:
        return self.by_type.get(kind, [])

    async def until(self, predicate: Callable[[], bool], timeout: float = TURN_WAIT_S) -> bool:
        try:
            async with asyncio.timeout(timeout), self.changed:
                await self.changed.wait_for(predicate)
            return True
        except TimeoutError:
            return False

    async def stops(self, n: int, timeout: float = TURN_WAIT_S) -> bool:
        return await self.until(lambda: len(self.of(TTSStoppedFrame)) >= n, timeout)

    def contexts(self) -> list[str]:
        return [f.context_id for f, _ in self.of(TTSStartedFrame)]

    def audio_times(self, ctx: str) -> list[float]:
        return self.audio.get(ctx, [])


class ErrorTap(FrameProcessor):
    """Sits before the service: hands the ErrorFrames it pushes upstream to the capture."""

    def __init__(self, capture: Capture) -> None:
        super().__init__(enable_direct_mode=True)
        self.capture = capture

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.UPSTREAM and isinstance(frame, ErrorFrame):
            await self.capture.record(frame)
        await self.push_frame(frame, direction)


@asynccontextmanager
async def pipeline(tts: TTSService) -> AsyncIterator[tuple[PipelineWorker, Capture]]:
    """An error tap, ``tts``, then a capture, under Pipecat's own worker and runner."""
    capture = Capture()
    worker = PipelineWorker(
        Pipeline([ErrorTap(capture), tts, capture]),
        params=PipelineParams(audio_out_sample_rate=RATE),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    async with started(worker, end_wait_s=60):
        yield worker, capture


def chunk_writes(log_path: str, ctx: str) -> list[float]:
    """perf_counter seconds at which the server (its own process, ``--chunk-log``) wrote
    each chunk of ``ctx``: CLOCK_MONOTONIC, the same clock as this process's."""
    with open(log_path) as log:
        rows = [line.split() for line in log]
    return [int(t) / 1e9 for tag, _samples, t in rows if tag == ctx]


async def ttfa_round(svc: Service, ws: str, log_path: str) -> None:
    """Row 1: two warm-up turns, then ``TTFA_TURNS`` measured one-sentence turns."""
    async with pipeline(svc.make(ws)) as (worker, cap):
        for n in range(2 + TTFA_TURNS):
            await worker.queue_frame(TTSSpeakFrame(TTFA_TEXT))
            await cap.stops(n + 1)
            if n >= 2:
                ctx = cap.contexts()[n]
                svc.add("ttfa", (cap.audio_times(ctx)[0] - chunk_writes(log_path, ctx)[0]) * 1000)


async def latency_round(svc: Service, ws: str, log_path: str) -> None:
    """Rows 2-3 in one pipeline: warm-up turns, a measured turn, a back-to-back pair.

    The server runs in its own process: a server thread here would compete with the
    pipeline for the GIL exactly when a chunk is in flight."""
    async with pipeline(svc.make(ws)) as (worker, cap):
        # Warm: a live service has spoken before. Two two-sentence turns also teach the
        # core's EndRule that this server sends one `complete` per context (until then a
        # multi-sentence utterance ends after a 0.5 s quiet window, to be safe).
        for n in (1, 2):
            await worker.queue_frame(TTSSpeakFrame(REPLY))
            await cap.stops(n)
        await worker.queue_frame(TTSSpeakFrame(REPLY))
        await cap.stops(3)
        ctx = cap.contexts()[2]
        writes = chunk_writes(log_path, ctx)
        stop_at = cap.of(TTSStoppedFrame)[-1][1]
        svc.add("end", (stop_at - writes[-1]) * 1000)
        await worker.queue_frames([TTSSpeakFrame(REPLY), TTSSpeakFrame(REPLY)])
        await cap.stops(5)
        first, second = cap.contexts()[3:5]
        svc.add("gap", (min(cap.audio_times(second)) - max(cap.audio_times(first))) * 1000)


async def barge_in_round(svc: Service, server: Server, suffix: str = "") -> None:
    """Rows 4-5 and 9: interrupt a long reply, then the next turn (row names get
    ``suffix``: the 150 ms handshake rows have none, the 0 ms ones ``0``)."""
    async with pipeline(svc.make(server.ws_url)) as (worker, cap):
        await worker.queue_frame(TTSSpeakFrame("Warming up."))
        await cap.stops(1)
        await worker.queue_frame(TTSSpeakFrame(LONG))
        await cap.until(
            lambda: len(cap.contexts()) > 1 and len(cap.audio_times(cap.contexts()[1])) >= 5
        )
        sockets = server.stats.ws_connections_total
        t0 = time.perf_counter()
        await worker.queue_frames([InterruptionFrame(), TTSSpeakFrame(REPLY)])
        await cap.until(lambda: bool(cap.of(InterruptionFrame)))
        irq_at = cap.of(InterruptionFrame)[0][1]
        svc.add("irq" + suffix, (irq_at - t0) * 1000)

        def next_audio() -> list[float]:
            return cap.audio_times(cap.contexts()[2]) if len(cap.contexts()) > 2 else []

        await cap.until(lambda: bool(next_audio()))
        svc.add("next_ttfa" + suffix, (min(next_audio()) - t0) * 1000)
        await cap.stops(len(cap.of(TTSStoppedFrame)) + 1)
        svc.add("sockets" + suffix, server.stats.ws_connections_total - sockets)
        after = b"".join(f.audio for f, at in cap.of(TTSAudioRawFrame) if at > irq_at)
        own = tag_value(server.stats.request_ids[-1])
        stale = sum(4 * n for tag, runs in describe(after).items() if tag != own for _, n in runs)
        svc.add("stale_bytes", stale)


async def sockets_round(svc: Service, server: Server) -> None:
    """Row 8: sockets opened over 10 plain turns, one after the other."""
    async with pipeline(svc.make(server.ws_url)) as (worker, cap):
        await worker.queue_frame(TTSSpeakFrame("Warming up."))
        await cap.stops(1)
        before = server.stats.ws_connections_total
        for n in range(2, 12):
            await worker.queue_frame(TTSSpeakFrame("Short turn."))
            await cap.stops(n)
        svc.add("sockets10", server.stats.ws_connections_total - before)


async def idle_round(svc: Service, ws: str) -> None:
    """Row 10: the server closes the idle socket during a pause; the next turn.

    The server (its own process) times every socket out after 1 s without a client
    message. The pause lasts 1.5 s: the socket of the first turn is closed during it,
    and whatever a service opens after that close is still open when the turn comes.
    """
    async with pipeline(svc.make(ws)) as (worker, cap):
        await worker.queue_frame(TTSSpeakFrame("Before the pause."))
        await cap.stops(1)
        await asyncio.sleep(IDLE_PAUSE_S)  # benchmark scenario: a pause in the conversation
        errors = len(cap.of(ErrorFrame))
        t0 = time.perf_counter()
        await worker.queue_frame(TTSSpeakFrame("After the pause."))
        await cap.until(
            lambda: len(cap.contexts()) > 1 and bool(cap.audio_times(cap.contexts()[1]))
        )
        svc.add("idle_ttfa", (min(cap.audio_times(cap.contexts()[1])) - t0) * 1000)
        await cap.stops(2)
        svc.add("idle_errors", len(cap.of(ErrorFrame)) - errors)


async def error_round(svc: Service, ws: str) -> None:
    """Row 11: the server answers with an error frame (a voice it rejects, a permanent
    error, as in bench/livekit.py); time until the pipeline sees an ErrorFrame."""
    async with pipeline(svc.make(ws, voice="no_such_voice")) as (worker, cap):
        t0 = time.perf_counter()
        await worker.queue_frame(TTSSpeakFrame(REPLY))
        seen = await cap.until(lambda: bool(cap.of(ErrorFrame)), timeout=10)
        svc.add("error_s", cap.of(ErrorFrame)[0][1] - t0 if seen else 10.0)


async def cpu_round(svc: Service, ws: str, turns: int) -> None:
    """Row 6: client CPU (this process) per second of audio, server in its own process."""
    async with pipeline(svc.make(ws)) as (worker, cap):
        await worker.queue_frame(TTSSpeakFrame("Warming up."))
        await cap.stops(1)
        cpu0 = time.process_time()
        n_audio = len(cap.of(TTSAudioRawFrame))
        await worker.queue_frames([TTSSpeakFrame(LONG) for _ in range(turns)])
        await cap.stops(1 + turns, timeout=TURN_WAIT_S * turns)
        cpu = time.process_time() - cpu0
        audio = sum(len(f.audio) for f, _ in cap.of(TTSAudioRawFrame)[n_audio:]) / 2 / RATE
    svc.add("cpu", cpu * 1000 / audio)


async def fault_round(svc: Service, server: Server) -> None:
    """Row 7: ten turns that each meet an error frame, then ten clean turns."""
    async with pipeline(svc.make(server.ws_url)) as (worker, cap):
        for _ in range(10):
            server.faults.error_frame(after_chunks=0)
            n = len(cap.of(TTSStoppedFrame))
            await worker.queue_frame(TTSSpeakFrame(REPLY))
            await cap.stops(n + 1, timeout=6)
        spoke = 0
        for _ in range(10):
            frames = len(cap.of(TTSAudioRawFrame))
            n = len(cap.of(TTSStoppedFrame))
            await worker.queue_frame(TTSSpeakFrame(REPLY))
            await cap.stops(n + 1, timeout=6)
            spoke += len(cap.of(TTSAudioRawFrame)) > frames
        server.faults.clear()
    svc.add("faults", spoke)


async def interleave(
    services: list[Service],
    rounds: int,
    fn: Callable[[Service], Awaitable[None]],
    label: str = "",
) -> None:
    t0 = time.perf_counter()
    for i in range(rounds):
        # each side goes first in half the rounds: what a turn leaves behind lands on
        # both sides alike
        for svc in services if i % 2 == 0 else services[::-1]:
            await fn(svc)
    print(
        f"  {label or fn.__name__}: {rounds} rounds, {time.perf_counter() - t0:.0f} s",
        file=sys.stderr,
        flush=True,
    )


def fmt(values: list[float], unit: str) -> str:
    if not values:
        return "n/a"
    if unit == "count":
        return f"{statistics.mean(values):.1f}"
    if unit == "turns":
        return f"{min(values):.0f}/10"
    return f"{statistics.median(values):.{2 if unit == 'ms CPU' else 1}f} ms"


ROWS = [
    # key, what, unit, target (ours), lower is better
    ("ttfa", "warm TTFA overhead over the server's first chunk (p50)", "ms", "≤ 1 ms", True),
    ("end", "end of utterance: last chunk written → `TTSStoppedFrame` (p50)", "ms", "≤ 5 ms", True),
    ("gap", "gap between back-to-back utterances (p50)", "ms", "≤ 10 ms", True),
    ("sockets", "new sockets per barge-in", "count", "0", True),
    ("next_ttfa", "next-turn TTFA after a barge-in, 150 ms handshake (p50)", "ms", "", True),
    ("irq", "`InterruptionFrame` held by the service (p50)", "ms", "", True),
    ("cpu", "client CPU per second of audio (p50)", "ms CPU", "", True),
    ("faults", "turns that speak after 10 consecutive faults", "turns", "10/10", False),
    ("sockets10", "sockets opened over 10 plain turns", "count", "0", True),
    ("next_ttfa0", "next-turn TTFA after a barge-in, 0 ms handshake (p50)", "ms", "", True),
    ("stale_bytes", "stale bytes after a barge-in", "count", "0", True),
    ("idle_ttfa", "first turn after an idle close: TTFA (p50)", "ms", "", True),
    ("idle_errors", "first turn after an idle close: `ErrorFrame`s", "count", "0", True),
    ("error_s", "error frame → `ErrorFrame` (s, 10 = never)", "count", "", True),
]


def ratio(a: list[float], b: list[float], lower_better: bool) -> str:
    """How many times better ours (a) is than the official service (b)."""
    if not a or not b:
        return "n/a"
    x, y = statistics.median(a), statistics.median(b)
    if not lower_better:
        x, y = y, x
    if x <= 0:
        return "∞" if y > 0 else "="
    return f"{y / x:.1f}×"


def table(a: Service, b: Service) -> str:
    lines = [
        "| what | pipecat_smallest | Pipecat 1.14 SmallestTTSService | ours better by | target |",
        "|---|---|---|---|---|",
    ]
    for key, what, unit, target, lower in ROWS:
        va, vb = a.rows.get(key, []), b.rows.get(key, [])
        lines.append(
            f"| {what} | **{fmt(va, unit)}** | {fmt(vb, unit)} | {ratio(va, vb, lower)} "
            f"| {target} |"
        )
    return "\n".join(lines)


async def main_async(rounds: int, json_path: str | None = None) -> str:
    services = [Service("ours", ours), Service("official", official)]
    a, b = services

    args = ("--engine", "tone", "--realtime-factor", "0.5", "--chunk-ms", "20")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "chunks.log")
        fifty = ("--first-chunk-ms", "50", "--chunk-log", log_path)
        with server_process(*args, *fifty) as (ws, _):
            await interleave(services, rounds, lambda s: ttfa_round(s, ws, log_path), "ttfa_round")
    with tempfile.TemporaryDirectory() as tmp:
        log_path = os.path.join(tmp, "chunks.log")
        with server_process(*args, "--chunk-log", log_path) as (ws, _):
            await interleave(
                services, rounds, lambda s: latency_round(s, ws, log_path), "latency_round"
            )

    server = Server(engine="tone", api_keys=(KEY,))
    server.set_latency(realtime_factor=1.0, chunk_ms=20)
    with server:
        await interleave(
            services, rounds, lambda s: barge_in_round(s, server, "0"), "barge_in_round"
        )
        await interleave(
            services, max(1, rounds // 2), lambda s: sockets_round(s, server), "sockets_round"
        )
        server.set_latency(connect_ms=150)
        await interleave(services, rounds, lambda s: barge_in_round(s, server), "barge_in_round")

    with server_process("--engine", "tone", "--chunk-ms", "20") as (ws, _):
        await interleave(
            services, max(rounds, CPU_ROUNDS), lambda s: cpu_round(s, ws, 3), "cpu_round"
        )

    server = Server(engine="tone", api_keys=(KEY,))
    with server:
        await interleave(services, 1, lambda s: fault_round(s, server), "fault_round")
    # latency rows: the server in its own process, as above
    # one sample per round, a few ms each: at least SHORT_ROW_ROUNDS for a median
    short = max(rounds, SHORT_ROW_ROUNDS)
    with server_process("--engine", "tone") as (ws, _):
        await interleave(services, short, lambda s: error_round(s, ws), "error_round")
    with server_process("--engine", "tone", "--idle-timeout", str(IDLE_S)) as (ws, _):
        await interleave(services, short, lambda s: idle_round(s, ws), "idle_round")
    if json_path:
        with open(json_path, "w") as f:
            sides = {
                "ours": {"name": "pipecat_smallest", "samples": a.rows},
                "theirs": {"name": "Pipecat 1.14 SmallestTTSService", "samples": b.rows},
            }
            json.dump({"framework": "pipecat", "rounds": rounds, "sides": sides}, f, indent=1)
    return table(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", metavar="PATH", help="also write every sample as JSON")
    parser.add_argument("--rounds", type=int, help="rounds per row (overrides --quick)")
    args = parser.parse_args()
    logger.remove()  # Pipecat's per-frame DEBUG lines would dominate the CPU row
    logger.add(sys.stderr, level="ERROR")
    logging.getLogger("smallest_core").setLevel(logging.ERROR)
    print("Pipecat A/B: pipecat_smallest vs Pipecat 1.14's SmallestTTSService")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(asyncio.run(main_async(args.rounds or (2 if args.quick else 5), args.json)))


if __name__ == "__main__":
    main()
