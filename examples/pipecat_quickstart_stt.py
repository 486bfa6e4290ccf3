"""pipecat_smallest offline: a Pipeline transcribes one user turn with SmallestSTTService."""

import asyncio

from pipecat.frames.frames import (
    EndFrame,
    InputAudioRawFrame,
    TranscriptionFrame,
    VADUserStartedSpeakingFrame,
    VADUserStoppedSpeakingFrame,
)
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineParams, PipelineWorker
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.workers.runner import WorkerRunner

from pipecat_smallest import SmallestSTTService
from smallest_core import RestClient, TTSOptions
from smallest_local import Server


class Collect(FrameProcessor):  # stands in for the LLM context aggregator
    async def process_frame(self, frame, direction):
        await super().process_frame(frame, direction)
        if isinstance(frame, TranscriptionFrame):
            print("heard:", frame.text)
        await self.push_frame(frame, direction)


async def main(base_url: str, api_key: str, pcm: bytes) -> None:
    stt = SmallestSTTService(
        api_key=api_key,  # default: $SMALLEST_API_KEY
        base_url=base_url,  # default: $SMALLEST_BASE_URL or wss://api.smallest.ai
        settings=SmallestSTTService.Settings(language="en"),
    )
    worker = PipelineWorker(
        Pipeline([stt, Collect()]),
        params=PipelineParams(audio_in_sample_rate=16000),
        cancel_on_idle_timeout=False,
    )
    step = 16000 // 50 * 2  # 20 ms frames, as a transport delivers them
    audio = [InputAudioRawFrame(pcm[i : i + step], 16000, 1) for i in range(0, len(pcm), step)]
    # What a VAD and a transport would send: the user speaks, then stops.
    await worker.queue_frames(
        [VADUserStartedSpeakingFrame(), *audio, VADUserStoppedSpeakingFrame(), EndFrame()]
    )
    runner = WorkerRunner(handle_sigint=False)
    await runner.add_workers(worker)
    await runner.run()


with Server(engine="espeak") as server:  # a local Smallest-compatible server
    with RestClient(api_key=server.api_key, base_url=server.http_url) as rest:  # the "user"
        speech = rest.synthesize("Please call me back tomorrow morning.", options=TTSOptions(
            voice_id="magnus", sample_rate=16000, speed=0.8, output_format="pcm"))  # fmt: skip
    asyncio.run(main(server.ws_url, server.api_key, speech + bytes(32000)))
