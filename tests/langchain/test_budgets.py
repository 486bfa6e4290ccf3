"""LangChain's time budget, the tools' ``timeout`` field, against a server that accepts
TCP and never answers: each attempt ends within the budget, the last one raises a
``ToolException`` within the budget + 10 % (also with a client of the caller's own,
whose default is 30 s), and ``with_fallbacks`` moves on to the next tool in that time."""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException

from langchain_smallest import SmallestSpeechToTextTool, SmallestTextToSpeechTool
from smallest_core import AsyncRestClient, RetryPolicy, pcm_to_wav
from smallest_local import Server
from tests.support.budget import Stopwatch, stopwatch
from tests.support.servers import silent_server

BUDGET = 1.0
HANG_GUARD = BUDGET * 5  # fails the test instead of hanging it; not the claim
KEY = "sk_budget_test"


def speak_tool(base_url: str, **kwargs: Any) -> SmallestTextToSpeechTool:
    settings: dict[str, Any] = {"api_key": KEY, "timeout": BUDGET, "max_retries": 0}
    return SmallestTextToSpeechTool(
        base_url=base_url, handle_tool_error=False, **(settings | kwargs)
    )


async def test_speech_tool_raises_within_the_budget() -> None:
    async with silent_server() as (base, accepted):
        tool = speak_tool(base)
        watches: list[Stopwatch] = []
        for _ in range(2):  # the first also pays the process's one-off costs (imports, TLS)
            with stopwatch() as watch, pytest.raises(ToolException):
                async with asyncio.timeout(HANG_GUARD):
                    await tool.ainvoke({"text": "Hello."})
            watches.append(watch)
    assert watches[1].within(BUDGET, BUDGET * 1.1), watches
    assert len(accepted) == 2  # one attempt per call


async def test_the_field_bounds_a_callers_own_client_too() -> None:
    async with (
        silent_server() as (base, accepted),
        AsyncRestClient(api_key=KEY, base_url=base, retry=RetryPolicy(max_attempts=1)) as client,
    ):  # its own default timeout: 30 s
        tool = speak_tool(base, async_client=client)
        watches: list[Stopwatch] = []
        for _ in range(2):  # the first also pays the one-off costs (the tool's first call)
            with stopwatch() as watch, pytest.raises(ToolException):
                async with asyncio.timeout(HANG_GUARD):
                    await tool.ainvoke({"text": "Hello."})
            watches.append(watch)
    # each call waited its budget, not the client's 30 s
    assert min(w.elapsed() for w in watches) >= BUDGET, watches
    assert watches[1].net() <= BUDGET * 1.1, watches
    assert len(accepted) == 2  # one attempt per call


async def test_sync_run_and_each_retry_get_the_budget() -> None:
    async with silent_server() as (base, accepted):
        tool = speak_tool(base, max_retries=1)
        tool.timeout = BUDGET / 2  # a live setting: the next call uses it

        def timed_run() -> Stopwatch:
            """One sync run, timed in its own thread: the claim is about ``invoke``, not
            about the hand-over back to this test's loop (which a loaded machine delays)."""
            with stopwatch() as watch, pytest.raises(ToolException):
                tool.invoke({"text": "Hi."})
            return watch

        watches = []
        for _ in range(2):  # the first also pays the sync path's one-off costs (its client)
            watches.append(await asyncio.wait_for(asyncio.to_thread(timed_run), HANG_GUARD))
        tool.close()
    assert len(accepted) == 4  # two attempts per call, one budget each
    assert min(w.elapsed() for w in watches) >= BUDGET, watches  # each call waited its budget
    assert watches[1].net() <= BUDGET * 1.1 + 0.2, watches  # + the policy's backoff


async def test_transcription_tool_raises_within_the_budget() -> None:
    async with silent_server() as (base, _accepted):
        tool = SmallestSpeechToTextTool(
            api_key=KEY, base_url=base, timeout=BUDGET, max_retries=0, handle_tool_error=False
        )
        audio = pcm_to_wav(b"\0\0" * 1600, 16000)
        watches: list[Stopwatch] = []
        for _ in range(2):  # the first also pays the process's one-off costs (imports, TLS)
            with stopwatch() as watch, pytest.raises(ToolException):
                async with asyncio.timeout(HANG_GUARD):
                    await tool.ainvoke({"audio": audio})
            watches.append(watch)
    assert watches[1].within(BUDGET, BUDGET * 1.1), watches


class _Starts(AsyncCallbackHandler):
    """When each tool run started (the fallback's is the second)."""

    def __init__(self) -> None:
        self.at: list[float] = []

    async def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.at.append(time.perf_counter())


async def test_with_fallbacks_moves_on_within_the_budget(smallest_server: Server) -> None:
    async with silent_server() as (base, _accepted):
        primary = speak_tool(base)
        backup = speak_tool(smallest_server.http_url, api_key=smallest_server.api_key)
        for tool in (primary, backup):  # the process's one-off costs (imports, TLS) first
            with contextlib.suppress(ToolException):
                async with asyncio.timeout(HANG_GUARD):
                    await tool.ainvoke({"text": "Hi."})
        chain = primary.with_fallbacks([backup])
        starts = _Starts()
        with stopwatch() as watch:
            async with asyncio.timeout(HANG_GUARD):
                call = {
                    "type": "tool_call",
                    "id": "t1",
                    "name": primary.name,
                    "args": {"text": "Hi."},
                }
                message = await chain.ainvoke(call, config={"callbacks": [starts]})
    assert len(starts.at) == 2
    assert watch.net(starts.at[1]) <= BUDGET * 1.1, (watch.elapsed(starts.at[1]), watch)
    assert isinstance(message, ToolMessage) and message.status == "success"
    assert message.artifact.audio  # the backup spoke
