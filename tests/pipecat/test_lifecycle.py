"""A service run again: in a second pipeline on the same event loop it speaks again
(with a new pool or HTTP client: the last run closed its own); on another event loop
(a script's second ``asyncio.run()``) it says at once, clearly, that it cannot — Pipecat's
own frame queues stay bound to the first loop, for every Pipecat service."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from loguru import logger
from pipecat.frames.frames import TTSSpeakFrame
from pipecat.pipeline.pipeline import Pipeline
from pipecat.pipeline.worker import PipelineWorker
from pipecat.workers.runner import WorkerRunner

from pipecat_smallest import SmallestHttpTTSService, SmallestTTSService
from smallest_local import Server
from smallest_local.engines.tone import describe, tag_value
from tests.support.pipecat import running

#: Seconds one run may take here: a hang fails in seconds.
DEADLINE_S = 10


def build(server: Server, kind: str) -> SmallestTTSService | SmallestHttpTTSService:
    if kind == "streaming":
        return SmallestTTSService(api_key=server.api_key, base_url=server.ws_url)
    return SmallestHttpTTSService(api_key=server.api_key, base_url=server.http_url)


async def speak_once(tts: SmallestTTSService | SmallestHttpTTSService) -> None:
    async with asyncio.timeout(DEADLINE_S), running(tts) as run:
        await run.send(TTSSpeakFrame("One two three."))
        await run.turns_done(1)
    assert run.errors() == []
    (ctx,) = run.context_ids()
    audio = run.audio()
    assert audio
    if isinstance(tts, SmallestTTSService):  # streaming: our context id is the request id
        assert set(describe(audio)) == {tag_value(ctx)}


@pytest.mark.parametrize("kind", ["streaming", "http"])
async def test_a_second_pipeline_on_the_same_loop_speaks(smallest_server: Server, kind: str):
    tts = build(smallest_server, kind)
    await speak_once(tts)
    await speak_once(tts)


@pytest.mark.parametrize("kind", ["streaming", "http"])
def test_another_event_loop_is_a_clear_error_at_once(smallest_server: Server, kind: str):
    """Pipecat cannot start the pipeline there (its queues are the first loop's, for
    any service); ours says why at once, as the pipeline sets up."""
    tts = build(smallest_server, kind)
    asyncio.run(speak_once(tts))

    async def elsewhere() -> None:
        said = asyncio.Event()
        loop = asyncio.get_running_loop()

        def sink(message: Any) -> None:
            if "ran on another event loop" in str(message):
                loop.call_soon_threadsafe(said.set)

        handle = logger.add(sink, level="ERROR", format="{message}")
        worker = PipelineWorker(Pipeline([tts]), cancel_on_idle_timeout=False)
        runner = WorkerRunner(handle_sigint=False)
        await runner.add_workers(worker)
        task = asyncio.create_task(runner.run())
        try:
            async with asyncio.timeout(DEADLINE_S / 2):
                await said.wait()
        finally:
            logger.remove(handle)
            await worker.cancel()
            await asyncio.gather(task, return_exceptions=True)

    asyncio.run(elsewhere())
