"""Pipecat A/B: ``pipecat_smallest`` vs Pipecat 1.14's own ``SmallestTTSService``.

Both services run inside real Pipecat pipelines (``PipelineWorker`` + ``WorkerRunner``)
in this process, against the same local server (tone engine), rounds interleaved
(A, B, A, B, ...) so drift in machine load hits both alike. Rows:

1. warm TTFA overhead — first ``TTSAudioRawFrame`` out of the service minus the server's
   write of the first chunk (the server thread logs ``perf_counter_ns()`` before each
   chunk write);
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
   ten turns in a row), out of 10 clean turns that follow.

Run: ``uv run --no-sync python bench/pipecat.py [--quick]``.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

# This file is named pipecat.py: take its folder off the path so `pipecat` is Pipecat's.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from loguru import logger  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    EndFrame,
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
from pipecat.workers.runner import WorkerRunner  # noqa: E402

from pipecat_smallest import SmallestTTSService  # noqa: E402
from smallest_local import Server  # noqa: E402

sys.path.insert(0, _HERE)
from common import KEY, server_process  # noqa: E402

RATE = 24000
REPLY = "Hello there, how are you today? I hope all is well with you."
LONG = " ".join(["word"] * 40)  # 8 s of tone audio
TURN_WAIT_S = 20.0


@dataclass
class Service:
    """One side of the A/B and the figures measured for it."""

    name: str
    make: Callable[[str], TTSService]
    rows: dict[str, list[float]] = field(default_factory=dict)

    def add(self, row: str, value: float) -> None:
        self.rows.setdefault(row, []).append(value)


def ours(ws: str) -> TTSService:
    return SmallestTTSService(api_key=KEY, base_url=ws)


def official(ws: str) -> TTSService:
    return OfficialService(
        api_key=KEY, base_url=ws, settings=OfficialService.Settings(voice="meher")
    )


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
        if direction == FrameDirection.DOWNSTREAM or isinstance(frame, ErrorFrame):
            now = time.perf_counter()
            self.seen.append((frame, now))
            self.by_type.setdefault(type(frame), []).append((frame, now))
            if isinstance(frame, TTSAudioRawFrame):
                self.audio.setdefault(frame.context_id, []).append(now)
            async with self.changed:
                self.changed.notify_all()
        await self.push_frame(frame, direction)

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


@asynccontextmanager
async def pipeline(tts: TTSService) -> AsyncIterator[tuple[PipelineWorker, Capture]]:
    """``tts`` then a capture, under Pipecat's own worker and runner."""
    capture = Capture()
    worker = PipelineWorker(
        Pipeline([tts, capture]),
        params=PipelineParams(audio_out_sample_rate=RATE),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    started = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker: PipelineWorker, _frame: Frame) -> None:
        started.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(10):
            await started.wait()
        yield worker, capture
        await worker.queue_frame(EndFrame())
        async with asyncio.timeout(60):
            await task
    finally:
        if not task.done():
            await worker.cancel()
            await asyncio.gather(task, return_exceptions=True)


def chunk_writes(server: Server, ctx: str) -> list[float]:
    """perf_counter seconds at which the server wrote each chunk of ``ctx``."""
    log = server.stats.chunk_log or []
    return [t / 1e9 for tag, _samples, t in log if tag == ctx]


async def latency_round(svc: Service, server: Server) -> None:
    """Rows 1-3 in one pipeline: a warm-up turn, a measured turn, a back-to-back pair."""
    async with pipeline(svc.make(server.ws_url)) as (worker, cap):
        # Warm: a live service has spoken before. Two two-sentence turns also teach the
        # core's EndRule that this server sends one `complete` per context (until then a
        # multi-sentence utterance ends after a 0.5 s quiet window, to be safe).
        for n in (1, 2):
            await worker.queue_frame(TTSSpeakFrame(REPLY))
            await cap.stops(n)
        await worker.queue_frame(TTSSpeakFrame(REPLY))
        await cap.stops(3)
        ctx = cap.contexts()[2]
        writes = chunk_writes(server, ctx)
        audio = cap.audio_times(ctx)
        stop_at = cap.of(TTSStoppedFrame)[-1][1]
        svc.add("ttfa", (audio[0] - writes[0]) * 1000)
        svc.add("end", (stop_at - writes[-1]) * 1000)
        await worker.queue_frames([TTSSpeakFrame(REPLY), TTSSpeakFrame(REPLY)])
        await cap.stops(5)
        first, second = cap.contexts()[3:5]
        svc.add("gap", (min(cap.audio_times(second)) - max(cap.audio_times(first))) * 1000)


async def barge_in_round(svc: Service, server: Server) -> None:
    """Rows 4-5: interrupt a long reply, then the next turn, with a 150 ms handshake."""
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
        svc.add("irq", (cap.of(InterruptionFrame)[0][1] - t0) * 1000)

        def next_audio() -> list[float]:
            return cap.audio_times(cap.contexts()[2]) if len(cap.contexts()) > 2 else []

        await cap.until(lambda: bool(next_audio()))
        svc.add("next_ttfa", (min(next_audio()) - t0) * 1000)
        await cap.stops(len(cap.of(TTSStoppedFrame)) + 1)
        svc.add("sockets", server.stats.ws_connections_total - sockets)


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
    services: list[Service], rounds: int, fn: Callable[[Service], Awaitable[None]]
) -> None:
    for _ in range(rounds):
        for svc in services:
            await fn(svc)


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


async def main_async(rounds: int) -> str:
    services = [Service("ours", ours), Service("official", official)]
    a, b = services

    server = Server(engine="tone", api_keys=(KEY,))
    server.set_latency(realtime_factor=0.5, chunk_ms=20)
    server.stats.chunk_log = []
    with server:
        await interleave(services, rounds, lambda s: latency_round(s, server))

    server = Server(engine="tone", api_keys=(KEY,))
    server.set_latency(realtime_factor=1.0, chunk_ms=20, connect_ms=150)
    with server:
        await interleave(services, rounds, lambda s: barge_in_round(s, server))

    with server_process("--engine", "tone", "--chunk-ms", "20") as (ws, _):
        await interleave(services, rounds, lambda s: cpu_round(s, ws, 3))

    server = Server(engine="tone", api_keys=(KEY,))
    with server:
        await interleave(services, 1, lambda s: fault_round(s, server))
    return table(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    logger.remove()  # Pipecat's per-frame DEBUG lines would dominate the CPU row
    logger.add(sys.stderr, level="ERROR")
    logging.getLogger("smallest_core").setLevel(logging.ERROR)
    print("Pipecat A/B: pipecat_smallest vs Pipecat 1.14's SmallestTTSService")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(asyncio.run(main_async(2 if args.quick else 5)))


if __name__ == "__main__":
    main()
