"""Time budgets: a caller's budget for reaching the API bounds the whole wait.

Against a server that accepts the TCP connection and never answers (no upgrade response,
no HTTP response): the socket open under ``ConnectionPool.utterance(connect_timeout=...)``
and each REST attempt under ``timeout=`` end with a typed, retryable
:class:`RequestTimeoutError` within the budget + 10 %, and a retry policy gets one budget
per attempt. Frameworks hand their budgets to these (LiveKit's
``APIConnectOptions.timeout``, Pipecat's and LangChain's timeouts).
"""

from __future__ import annotations

import asyncio

import pytest

from smallest_core import AsyncRestClient, ConnectionPool, RequestTimeoutError, RetryPolicy
from tests.support.budget import stopwatch
from tests.support.servers import silent_server

BUDGET = 1.0
NO_RETRY = RetryPolicy(max_attempts=1)


async def test_a_socket_open_the_server_never_answers_ends_within_the_budget() -> None:
    async with silent_server() as (base, accepted):
        pool = ConnectionPool(api_key="sk_budget_test", base_url=base, retry=NO_RETRY)
        try:
            with stopwatch() as watch, pytest.raises(RequestTimeoutError) as info:
                async with asyncio.timeout(BUDGET * 5):  # a hang guard, not the claim
                    await pool.utterance("b", connect_timeout=BUDGET)
        finally:
            await pool.aclose()
    assert watch.within(BUDGET, BUDGET * 1.1), watch
    assert info.value.retryable
    assert accepted == [1]


async def test_each_attempt_gets_the_budget_and_the_policy_retries() -> None:
    async with silent_server() as (base, accepted):
        retry = RetryPolicy(max_attempts=2, base_delay=0.0, jitter=0.0)
        pool = ConnectionPool(api_key="sk_budget_test", base_url=base, retry=retry)
        try:
            with pytest.raises(RequestTimeoutError):
                async with asyncio.timeout(BUDGET * 5):
                    await pool.utterance("b", connect_timeout=BUDGET / 2)
        finally:
            await pool.aclose()
    assert len(accepted) == 2  # two attempts, each its own socket and budget


async def test_a_rest_attempt_the_server_never_answers_ends_within_the_budget() -> None:
    async with (
        silent_server() as (base, accepted),
        AsyncRestClient(api_key="sk_budget_test", base_url=base) as client,
    ):
        with stopwatch() as watch, pytest.raises(RequestTimeoutError):
            async with asyncio.timeout(BUDGET * 5):
                await client.synthesize("Hello.", timeout=BUDGET, retry=NO_RETRY)
    assert watch.within(BUDGET, BUDGET * 1.1), watch
    assert accepted == [1]
