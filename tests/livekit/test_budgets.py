"""LiveKit's time budget, ``APIConnectOptions.timeout``, against a server that accepts
TCP and never answers: ``stream()``'s socket open and each ``synthesize()`` attempt end
with a typed error within the budget + 10 %, and ``tts.FallbackAdapter`` moves on to the
next TTS in that time (not after the socket's own 10 s or the REST client's 30 s)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from livekit.agents import APIConnectionError, APIConnectOptions, APITimeoutError, tts

from livekit_smallest import TTS
from smallest_local.engines import describe
from tests.support.budget import Stopwatch, stopwatch
from tests.support.servers import silent_server

BUDGET = 1.0
CONN = APIConnectOptions(max_retry=0, timeout=BUDGET)
HANG_GUARD = BUDGET * 5  # fails the test instead of hanging it; not the claim


async def test_stream_socket_open_ends_within_the_budget(make_tts: Callable[..., TTS]) -> None:
    async with silent_server() as (base, accepted):
        ours = make_tts(base_url=base)
        stream = ours.stream(conn_options=CONN)
        with stopwatch() as watch:
            stream.push_text("Hello there.")
            stream.end_input()
            with pytest.raises(APITimeoutError) as info:
                async with asyncio.timeout(HANG_GUARD):
                    async for _ in stream:
                        pass
        await stream.aclose()
    assert watch.within(BUDGET, BUDGET * 1.1), watch
    assert not info.value.retryable  # one retry owner: the core's policy had its turn
    assert "connect timeout" in info.value.message
    assert len(accepted) == 1  # max_retry=0: one attempt


async def test_synthesize_attempt_ends_within_the_budget(make_tts: Callable[..., TTS]) -> None:
    async with silent_server() as (base, accepted):
        ours = make_tts(base_url=base)
        watches: list[Stopwatch] = []
        for _ in range(2):  # the first also pays the one-off costs (the REST client, TLS setup)
            with stopwatch() as watch, pytest.raises(APITimeoutError) as info:
                async with (
                    asyncio.timeout(HANG_GUARD),
                    ours.synthesize("Hi.", conn_options=CONN) as s,
                ):
                    await s.collect()
            watches.append(watch)
            assert not info.value.retryable
    # each call waited its budget, not httpx's 30 s
    assert min(w.elapsed() for w in watches) >= BUDGET, watches
    assert watches[1].net() <= BUDGET * 1.1, watches
    assert len(accepted) == 2  # one attempt per call


async def test_each_retry_gets_its_own_budget(make_tts: Callable[..., TTS]) -> None:
    conn = APIConnectOptions(max_retry=1, timeout=BUDGET / 2, retry_interval=0.0)
    async with silent_server() as (base, accepted):
        ours = make_tts(base_url=base)
        with stopwatch() as watch, pytest.raises(APIConnectionError):
            async with asyncio.timeout(HANG_GUARD), ours.synthesize("Hi.", conn_options=conn) as s:
                await s.collect()
    assert len(accepted) == 2  # the core retried once, LiveKit never
    assert watch.within(BUDGET, BUDGET * 1.1), watch


@pytest.mark.parametrize("mode", ["synthesize", "stream"])
async def test_fallback_adapter_moves_on_within_the_budget(
    make_tts: Callable[..., TTS], mode: str
) -> None:
    async with silent_server() as (base, _accepted):
        primary = make_tts(base_url=base)
        backup = make_tts()  # the real local server
        fallback = tts.FallbackAdapter([primary, backup], max_retry_per_tts=0)
        switched: list[float] = []
        fallback.on(
            "tts_availability_changed",
            lambda ev: switched.append(time.perf_counter()) if not ev.available else None,
        )
        try:
            with stopwatch() as watch:
                async with asyncio.timeout(HANG_GUARD):
                    if mode == "synthesize":
                        async with fallback.synthesize("Hello there.", conn_options=CONN) as s:
                            events = [ev async for ev in s]
                    else:
                        async with fallback.stream(conn_options=CONN) as s:
                            s.push_text("Hello there.")
                            s.end_input()
                            events = [ev async for ev in s]
        finally:
            await fallback.aclose()
    assert switched, "the primary was never marked unavailable"
    assert watch.net(until=switched[0]) <= BUDGET * 1.1, (watch.elapsed(switched[0]), watch)
    pcm = b"".join(ev.frame.data.tobytes() for ev in events)
    assert describe(pcm)  # the backup's tone audio: it spoke the text
