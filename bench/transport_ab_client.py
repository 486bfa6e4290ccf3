"""One side of ``bench/transport_ab.py``: warm TTFA and client CPU through LiveKit and Pipecat.

Run by each environment's own python (the baseline tree at 85355a4 with websockets 15,
and today's tree), against a server someone else started; prints one JSON line. It
imports only public names (``livekit_smallest.TTS``, ``pipecat_smallest.
SmallestTTSService``, ``smallest_core``) and nothing from ``bench/``, so the same file
runs unchanged in both trees.

Measured per framework, after a prewarmed TTS / a started pipeline and warm-up turns:

* ``ttfa`` — time from the turn's last text being pushed (LiveKit: ``end_input()``;
  Pipecat: ``queue_frame(TTSSpeakFrame)``) to the first audio frame out of the framework;
* ``over_chunk`` — the first audio frame minus the server's write of the turn's first
  chunk (``--chunk-log``, CLOCK_MONOTONIC in both processes), the client-side part;
* ``cpu`` — this process's CPU milliseconds per second of audio received
  (``--cpu-turns`` turns of 4 s).

Usage: ``python bench/transport_ab_client.py --ws URL --key KEY --chunk-log PATH``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import sys
import time
from importlib.metadata import version

# bench/ holds livekit.py and pipecat.py: take it off the path so the frameworks import.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

from livekit.agents import APIConnectOptions  # noqa: E402
from loguru import logger  # noqa: E402
from pipecat.frames.frames import (  # noqa: E402
    EndFrame,
    Frame,
    TTSAudioRawFrame,
    TTSSpeakFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline  # noqa: E402
from pipecat.pipeline.worker import PipelineParams, PipelineWorker  # noqa: E402
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor  # noqa: E402
from pipecat.workers.runner import WorkerRunner  # noqa: E402

import livekit_smallest  # noqa: E402
import smallest_core  # noqa: E402
from pipecat_smallest import SmallestTTSService  # noqa: E402

RATE = 24000
FAST = APIConnectOptions(max_retry=0, timeout=10)
TTFA_TEXT = "Hello there."
LONG = " ".join(["word"] * 20)  # 4 s of tone audio


class ChunkLog:
    """The server's ``--chunk-log`` file, read forward: ``tag samples perf_counter_ns``."""

    def __init__(self, path: str) -> None:
        self.file = open(path)  # noqa: SIM115 - closed by the caller
        self.file.read()

    def new(self) -> list[tuple[str, float]]:
        rows = [line.split() for line in self.file.read().splitlines()]
        return [(r[0], int(r[2]) / 1e9) for r in rows if len(r) == 3]


async def livekit_side(
    http: str, key: str, log: ChunkLog, turns: int, cpu_turns: int
) -> dict[str, object]:
    engine = livekit_smallest.TTS(api_key=key, base_url=http, sample_rate=RATE)
    engine.prewarm()

    async def turn(text: str) -> tuple[float, float, float]:
        """(end_input time, first frame time, audio seconds)."""
        stream = engine.stream(conn_options=FAST)
        stream.push_text(text)
        stream.end_input()
        pushed = time.perf_counter()
        first = 0.0
        audio = 0.0
        async for ev in stream:
            first = first or time.perf_counter()
            audio += ev.frame.duration
        await stream.aclose()
        return pushed, first, audio

    await asyncio.sleep(0.3)  # let the prewarm finish: a live agent's TTS is warm
    await turn("Warm up.")
    log.new()
    ttfa: list[float] = []
    over: list[float] = []
    for _ in range(turns):
        pushed, first, _audio = await turn(TTFA_TEXT)
        ttfa.append((first - pushed) * 1000)
        writes = log.new()  # every chunk of the turn was written before it ended
        if writes:
            over.append((first - writes[0][1]) * 1000)
    cpu0 = time.process_time()
    audio = 0.0
    for _ in range(cpu_turns):
        audio += (await turn(LONG))[2]
    cpu = (time.process_time() - cpu0) * 1000 / audio
    await engine.aclose()
    log.new()
    return {"ttfa": ttfa, "over_chunk": over, "cpu": cpu}


class Capture(FrameProcessor):
    """Timestamps every downstream frame after the service (as bench/pipecat.py does)."""

    def __init__(self) -> None:
        super().__init__(enable_direct_mode=True)
        self.started: list[str] = []
        self.stops = 0
        self.audio: dict[str | None, list[float]] = {}
        self.audio_bytes = 0
        self.changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == FrameDirection.DOWNSTREAM:
            now = time.perf_counter()
            if isinstance(frame, TTSAudioRawFrame):
                self.audio.setdefault(frame.context_id, []).append(now)
                self.audio_bytes += len(frame.audio)
            elif isinstance(frame, TTSStartedFrame):
                self.started.append(frame.context_id)
            elif isinstance(frame, TTSStoppedFrame):
                self.stops += 1
            async with self.changed:
                self.changed.notify_all()
        await self.push_frame(frame, direction)

    async def until_stops(self, n: int, timeout: float = 30.0) -> None:
        async with asyncio.timeout(timeout), self.changed:
            await self.changed.wait_for(lambda: self.stops >= n)


async def pipecat_side(ws: str, key: str, log: ChunkLog, turns: int, cpu_turns: int) -> dict:
    tts = SmallestTTSService(
        api_key=key, base_url=ws, settings=SmallestTTSService.Settings(voice="meher")
    )
    cap = Capture()
    worker = PipelineWorker(
        Pipeline([tts, cap]),
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
    ttfa: list[float] = []
    over: list[float] = []
    try:
        async with asyncio.timeout(10):
            await started.wait()
        # two warm-up turns (the second also teaches the core's EndRule the server)
        for n in (1, 2):
            await worker.queue_frame(TTSSpeakFrame("Warm up."))
            await cap.until_stops(n)
        log.new()
        for n in range(3, 3 + turns):
            pushed = time.perf_counter()
            await worker.queue_frame(TTSSpeakFrame(TTFA_TEXT))
            await cap.until_stops(n)
            ctx = cap.started[n - 1]
            first = cap.audio[ctx][0]
            ttfa.append((first - pushed) * 1000)
            writes = [t for tag, t in log.new() if tag == ctx]
            if writes:
                over.append((first - writes[0]) * 1000)
        cpu0 = time.process_time()
        bytes0 = cap.audio_bytes
        await worker.queue_frames([TTSSpeakFrame(LONG) for _ in range(cpu_turns)])
        await cap.until_stops(2 + turns + cpu_turns, timeout=30.0 * cpu_turns)
        cpu = (time.process_time() - cpu0) * 1000 / ((cap.audio_bytes - bytes0) / 2 / RATE)
        await worker.queue_frame(EndFrame())
        async with asyncio.timeout(30):
            await task
    finally:
        if not task.done():
            await worker.cancel()
            await asyncio.gather(task, return_exceptions=True)
    log.new()
    return {"ttfa": ttfa, "over_chunk": over, "cpu": cpu}


async def main_async(args: argparse.Namespace) -> dict[str, object]:
    http = "http://" + args.ws[len("ws://") :]
    log = ChunkLog(args.chunk_log)
    out: dict[str, object] = {
        "websockets": version("websockets"),
        "smallest_core": os.path.dirname(smallest_core.__file__),
    }
    out["livekit"] = await livekit_side(http, args.key, log, args.turns, args.cpu_turns)
    out["pipecat"] = await pipecat_side(args.ws, args.key, log, args.turns, args.cpu_turns)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ws", required=True, help="server base URL (ws://host:port)")
    parser.add_argument("--key", required=True)
    parser.add_argument("--chunk-log", required=True, help="the server's --chunk-log file")
    parser.add_argument("--turns", type=int, default=10, help="TTFA turns per framework")
    parser.add_argument("--cpu-turns", type=int, default=2, help="4 s turns for the CPU row")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    logging.getLogger("smallest_core").setLevel(logging.ERROR)
    logger.remove()  # Pipecat's per-frame DEBUG lines would dominate the CPU row
    logger.add(sys.stderr, level="ERROR")
    print(json.dumps(asyncio.run(main_async(args))))


if __name__ == "__main__":
    main()
