"""Runs a Smallest service inside a real Pipecat pipeline, driven by events (no sleeps).

``Pipeline([upstream capture, tts, downstream capture])`` under Pipecat's own
``PipelineWorker`` and ``WorkerRunner``. Each capture records every frame it sees with
its arrival time; tests ``await capture.wait_for(...)`` instead of sleeping.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass

from pipecat.frames.frames import (
    EndFrame,
    ErrorFrame,
    Frame,
    TTSAudioRawFrame,
    TTSStartedFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

WAIT_S = 10.0


@dataclass
class Seen:
    """One frame as a capture saw it."""

    frame: Frame
    at: float


class Capture(FrameProcessor):
    """Records the frames travelling in one direction and lets tests wait for them."""

    def __init__(self, direction: FrameDirection) -> None:
        super().__init__(enable_direct_mode=True)
        self.direction = direction
        self.seen: list[Seen] = []
        self._changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if direction == self.direction:
            self.seen.append(Seen(frame, time.perf_counter()))
            async with self._changed:
                self._changed.notify_all()
        await self.push_frame(frame, direction)

    def frames(self, kind: type | tuple[type, ...] = Frame) -> list:
        return [s.frame for s in self.seen if isinstance(s.frame, kind)]

    def count(self, kind: type | tuple[type, ...]) -> int:
        return len(self.frames(kind))

    async def wait_for(self, predicate: Callable[[Capture], bool], timeout: float = WAIT_S) -> None:
        """Wait until ``predicate(self)`` holds (re-checked at every new frame)."""
        async with asyncio.timeout(timeout):
            async with self._changed:
                await self._changed.wait_for(lambda: predicate(self))

    async def wait_count(self, kind: type, n: int, timeout: float = WAIT_S) -> None:
        await self.wait_for(lambda c: c.count(kind) >= n, timeout)


@dataclass
class Run:
    """A running pipeline: queue frames into it, read what came out."""

    worker: PipelineWorker
    up: Capture
    down: Capture

    async def send(self, *frames: Frame) -> None:
        await self.worker.queue_frames(list(frames))

    async def turns_done(self, n: int) -> None:
        """Wait for the n-th ``TTSStoppedFrame`` downstream."""
        await self.down.wait_count(TTSStoppedFrame, n)

    def audio(self) -> bytes:
        return b"".join(f.audio for f in self.down.frames(TTSAudioRawFrame))

    def audio_by_context(self) -> dict[str, bytes]:
        out: dict[str, bytes] = {}
        for f in self.down.frames(TTSAudioRawFrame):
            out[f.context_id] = out.get(f.context_id, b"") + f.audio
        return out

    def errors(self) -> list[ErrorFrame]:
        return self.up.frames(ErrorFrame)

    def context_ids(self) -> list[str]:
        return [f.context_id for f in self.down.frames(TTSStartedFrame)]


@asynccontextmanager
async def running(
    tts: FrameProcessor,
    *,
    sample_rate: int = 24000,
    in_sample_rate: int = 16000,
    metrics: bool = False,
    tracing: bool = False,
    end: bool = True,
) -> AsyncIterator[Run]:
    """Run ``tts`` in a pipeline; on exit send ``EndFrame`` (drains) and wait for the end."""
    up = Capture(FrameDirection.UPSTREAM)
    down = Capture(FrameDirection.DOWNSTREAM)
    worker = PipelineWorker(
        Pipeline([up, tts, down]),
        params=PipelineParams(
            audio_in_sample_rate=in_sample_rate,
            audio_out_sample_rate=sample_rate,
            enable_metrics=metrics,
            enable_usage_metrics=metrics,
        ),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
        enable_tracing=tracing,
    )
    async with started(worker, end=end):
        yield Run(worker, up, down)


@asynccontextmanager
async def started(
    worker: PipelineWorker, *, end: bool = True, end_wait_s: float = WAIT_S
) -> AsyncIterator[PipelineWorker]:
    """``worker`` under Pipecat's own ``WorkerRunner``, from its ``on_pipeline_started``
    to its end (the tests' harnesses and the benches share this).

    On leaving the block: an ``EndFrame`` (the pipeline drains; ``end=False``: the block
    ended or cancelled it itself), then a wait of up to ``end_wait_s`` for the runner; a
    worker still running after that, or after an exception, is cancelled.
    """
    ready = asyncio.Event()

    @worker.event_handler("on_pipeline_started")
    async def _started(_worker: PipelineWorker, _frame: Frame) -> None:
        ready.set()

    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    task = asyncio.create_task(runner.run())
    try:
        async with asyncio.timeout(WAIT_S):
            await ready.wait()
        yield worker
        if end:
            await worker.queue_frame(EndFrame())
        async with asyncio.timeout(end_wait_s):
            await task
    finally:
        if not task.done():
            await worker.cancel()
            await asyncio.gather(task, return_exceptions=True)
