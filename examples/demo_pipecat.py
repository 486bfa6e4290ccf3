"""Demo scene: pipecat_smallest in a real Pipecat ``Pipeline``, two LLM-style turns.

``Pipeline([SmallestTTSService, Collect])`` under Pipecat's ``PipelineWorker`` and
``WorkerRunner``: each turn is what an LLM service emits (``LLMFullResponseStartFrame``,
one ``LLMTextFrame`` per token, ``LLMFullResponseEndFrame``); the service speaks each
sentence as soon as it is complete, on the socket it prewarmed.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from demo_common import RATE, SceneResult, SocketCounter, progress, write_wav
from pipecat.frames.frames import (
    EndFrame,
    Frame,
    LLMFullResponseEndFrame,
    LLMFullResponseStartFrame,
    LLMTextFrame,
    TTSAudioRawFrame,
    TTSStoppedFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameDirection, FrameProcessor
from pipecat.workers.runner import WorkerRunner

from pipecat_smallest import SmallestTTSService

SCENE = "pipecat two turns"
TURNS = [
    "Hello! Thanks for calling the museum. We open at nine o'clock.",
    "Tickets are twelve dollars. Children under five go in for free.",
]


class Collect(FrameProcessor):
    """Stands in for ``transport.output()``: keeps the audio, counts finished turns."""

    def __init__(self) -> None:
        super().__init__()
        self.pcm = bytearray()
        self.first_audio_at: float | None = None
        self.stopped = 0
        self.changed = asyncio.Condition()

    async def process_frame(self, frame: Frame, direction: FrameDirection) -> None:
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.pcm += frame.audio
            self.first_audio_at = self.first_audio_at or time.perf_counter()
        elif isinstance(frame, TTSStoppedFrame):
            self.stopped += 1
            async with self.changed:
                self.changed.notify_all()
        await self.push_frame(frame, direction)

    async def turns_done(self, n: int) -> None:
        async with asyncio.timeout(30), self.changed:
            await self.changed.wait_for(lambda: self.stopped >= n)


def llm_turn(text: str) -> list[Frame]:
    """The frames an LLM service pushes for one reply, one per token."""
    words = text.split(" ")
    tokens = [words[0], *(" " + w for w in words[1:])]
    return [
        LLMFullResponseStartFrame(),
        *(LLMTextFrame(t) for t in tokens),
        LLMFullResponseEndFrame(),
    ]


async def scene(base_url: str | None, api_key: str | None, out: Path) -> SceneResult:
    """Run the scene; write ``out/pipecat.wav``."""
    tts = SmallestTTSService(api_key=api_key, base_url=base_url)
    sockets = SocketCounter(tts.pool)
    collect = Collect()
    worker = PipelineWorker(
        Pipeline([tts, collect]),
        params=PipelineParams(audio_out_sample_rate=RATE),
        cancel_on_idle_timeout=False,
        enable_rtvi=False,
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    running = asyncio.create_task(runner.run())
    try:
        progress(SCENE, "pipeline running; LLM turn 1 streams token by token")
        first_token = time.perf_counter()
        await worker.queue_frames(llm_turn(TURNS[0]))
        await collect.turns_done(1)
        assert collect.first_audio_at is not None
        ttfa = (collect.first_audio_at - first_token) * 1000
        opened_after_first = sockets.opened
        progress(SCENE, "turn 1 spoken; LLM turn 2")
        await worker.queue_frames(llm_turn(TURNS[1]))
        await collect.turns_done(2)
        await worker.queue_frame(EndFrame())
        async with asyncio.timeout(30):
            await running
    finally:
        if not running.done():
            await worker.cancel()
            await asyncio.gather(running, return_exceptions=True)
        sockets.remove()
    seconds = write_wav(out / "pipecat.wav", bytes(collect.pcm))
    progress(
        SCENE,
        f"wrote {out / 'pipecat.wav'} ({seconds:.1f} s); "
        f"turn 2 opened {sockets.opened - opened_after_first} new sockets",
    )
    return SceneResult(
        SCENE, str(out / "pipecat.wav"), ttfa, seconds, sockets.opened, None, " ".join(TURNS)
    )
