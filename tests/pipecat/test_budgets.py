"""Pipecat's time budget, the services' ``connect_timeout``, against a server that
accepts TCP and never answers: the WebSocket service's socket open and each HTTP attempt
end with a ``RequestTimeoutError`` ``ErrorFrame`` within the budget + 10 %, and a
``ServiceSwitcher`` moves on to the next service in that time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any

import pytest
from pipecat.frames.frames import ErrorFrame, TTSAudioRawFrame, TTSSpeakFrame
from pipecat.pipeline.service_switcher import ServiceSwitcher, ServiceSwitcherStrategyFailover
from pipecat.processors.frame_processor import FrameProcessor
from pipecat.services.tts_service import TTSService

from pipecat_smallest import SmallestHttpTTSService, SmallestTTSService
from smallest_core import AsyncRestClient, ConnectionPool, RequestTimeoutError, RetryPolicy
from tests.support.budget import stopwatch
from tests.support.pipecat import running
from tests.support.servers import silent_server

BUDGET = 1.0
KEY = "sk_budget_test"
NO_RETRY = RetryPolicy(max_attempts=1)  # one attempt: its budget is the whole wait


def ws_service(base: str) -> SmallestTTSService:
    # the pool's own open (its prewarm at setup) gets the same budget
    pool = ConnectionPool(api_key=KEY, base_url=base, retry=NO_RETRY, open_timeout=BUDGET)
    return SmallestTTSService(api_key=KEY, base_url=base, pool=pool, connect_timeout=BUDGET)


def http_service(base: str) -> SmallestHttpTTSService:
    client = AsyncRestClient(api_key=KEY, base_url=base, retry=NO_RETRY)
    return SmallestHttpTTSService(api_key=KEY, base_url=base, client=client, connect_timeout=BUDGET)


@pytest.mark.parametrize("make", [ws_service, http_service], ids=["websocket", "http"])
async def test_error_frame_within_the_budget(make: Callable[[str], TTSService]) -> None:
    async with silent_server() as (base, accepted):
        service = make(base)
        async with running(service) as run:
            with stopwatch() as watch:
                await run.send(TTSSpeakFrame("Hello there."))
                await run.up.wait_count(ErrorFrame, 1, timeout=BUDGET * 5)  # a hang guard
            seen = run.up.seen[-1].at  # when the capture saw it
        if isinstance(service, SmallestTTSService):
            await service.pool.aclose()
    error = run.errors()[0]  # (Pipecat may add its own "no audio" later, at the end)
    assert isinstance(error.exception, RequestTimeoutError)
    assert watch.within(BUDGET, BUDGET * 1.1, until=seen), (watch.elapsed(seen), watch)
    assert accepted


class _SwitchOnAnyError(ServiceSwitcherStrategyFailover):
    """Fails over on any error the active service reports, transient ones included (what
    ``handle_error`` is documented to be overridden for): a timeout moves on at once."""

    async def handle_error(self, error: ErrorFrame) -> FrameProcessor | None:
        current = self.services.index(self.active_service)
        following = self.services[current + 1 :] + self.services[:current]
        for candidate in following:
            if candidate.is_usable:
                return await self._set_active_if_available(candidate)
        return None


@pytest.mark.parametrize("make", [ws_service, http_service], ids=["websocket", "http"])
async def test_service_switcher_moves_on_within_the_budget(
    make: Callable[[str], TTSService], make_tts: Callable[..., Any]
) -> None:
    async with silent_server() as (base, _accepted):
        primary = make(base)
        backup = make_tts()
        switcher = ServiceSwitcher(services=[primary, backup], strategy_type=_SwitchOnAnyError)
        switched = asyncio.Event()
        at: list[float] = []

        @switcher.strategy.event_handler("on_service_switched")
        async def _switched(_strategy: Any, service: FrameProcessor) -> None:
            at.append(time.perf_counter())
            switched.set()

        async with running(switcher) as run:
            with stopwatch() as watch:
                await run.send(TTSSpeakFrame("Hello there."))
                async with asyncio.timeout(BUDGET * 5):  # a hang guard
                    await switched.wait()
            await run.send(TTSSpeakFrame("The backup speaks."))
            await run.down.wait_count(TTSAudioRawFrame, 1)
        if isinstance(primary, SmallestTTSService):
            await primary.pool.aclose()
    assert switcher.strategy.active_service is backup
    assert watch.net(at[0]) <= BUDGET * 1.1, (watch.elapsed(at[0]), watch)
    assert run.audio()
