"""pipecat_smallest offline: a Pipeline speaks one frame through SmallestTTSService."""

import asyncio

from pipecat.frames.frames import EndFrame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.workers.runner import WorkerRunner

from pipecat_smallest import SmallestTTSService
from smallest_local import Server


class Collect(FrameProcessor):  # stands in for transport.output()
    audio = bytearray()

    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, TTSAudioRawFrame):
            self.audio += frame.audio
        await self.push_frame(frame, direction)


async def main(base_url: str, api_key: str) -> None:
    tts = SmallestTTSService(
        api_key=api_key,  # default: $SMALLEST_API_KEY
        base_url=base_url,  # default: $SMALLEST_BASE_URL or wss://api.smallest.ai
        settings=SmallestTTSService.Settings(voice="meher", speed=1.1),
    )
    out = Collect()
    worker = PipelineWorker(
        Pipeline([tts, out]),
        params=PipelineParams(audio_out_sample_rate=24000),
        cancel_on_idle_timeout=False,
    )
    await worker.queue_frames([TTSSpeakFrame("Hello from Smallest."), EndFrame()])
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()
    print(f"{len(out.audio) / 2 / 24000:.2f} s of audio")


with Server(engine="espeak") as server:  # a local Smallest-compatible server
    asyncio.run(main(server.ws_url, server.api_key))
