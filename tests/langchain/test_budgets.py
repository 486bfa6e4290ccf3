"""LangChain's time budget, the tools' ``timeout`` field, against a server that accepts
TCP and never answers: each attempt ends within the budget, the last one raises a
``ToolException`` within the budget + 10 % (also with a client of the caller's own,
whose default is 30 s), and ``with_fallbacks`` moves on to the next tool in that time."""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Iterator
from typing import Any
from uuid import UUID

import pytest
from langchain_core.callbacks import AsyncCallbackHandler
from langchain_core.messages import ToolMessage
from langchain_core.tools import ToolException

from langchain_smallest import SmallestSpeechToTextTool, SmallestTextToSpeechTool
from smallest_core import AsyncRestClient, RetryPolicy, pcm_to_wav
from smallest_local import Server
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
        elapsed = []
        for _ in range(2):  # the first also pays the process's one-off costs (imports, TLS)
            started = time.monotonic()
            with pytest.raises(ToolException):
                async with asyncio.timeout(HANG_GUARD):
                    await tool.ainvoke({"text": "Hello."})
            elapsed.append(time.monotonic() - started)
    assert BUDGET <= elapsed[1] <= BUDGET * 1.1, elapsed
    assert len(accepted) == 2  # one attempt per call


async def test_the_field_bounds_a_callers_own_client_too() -> None:
    async with (
        silent_server() as (base, accepted),
        AsyncRestClient(api_key=KEY, base_url=base, retry=RetryPolicy(max_attempts=1)) as client,
    ):  # its own default timeout: 30 s
        tool = speak_tool(base, async_client=client)
        elapsed = []
        for _ in range(2):  # the first also pays the one-off costs (the tool's first call)
            started = time.monotonic()
            with pytest.raises(ToolException):
                async with asyncio.timeout(HANG_GUARD):
                    await tool.ainvoke({"text": "Hello."})
            elapsed.append(time.monotonic() - started)
    assert min(elapsed) >= BUDGET, elapsed  # each call waited its budget, not the client's 30 s
    assert elapsed[1] <= BUDGET * 1.1, elapsed
    assert len(accepted) == 2  # one attempt per call


async def test_sync_run_and_each_retry_get_the_budget() -> None:
    async with silent_server() as (base, accepted):
        tool = speak_tool(base, max_retries=1)
        tool.timeout = BUDGET / 2  # a live setting: the next call uses it

        def timed_run() -> tuple[float, float]:
            """One sync run, timed in its own thread: the claim is about ``invoke``, not
            about the hand-over back to this test's loop (which a loaded machine delays).
            Also the seconds the process spent collecting garbage meanwhile."""
            with garbage_collection() as collecting:
                started = time.monotonic()
                with pytest.raises(ToolException):
                    tool.invoke({"text": "Hi."})
                return time.monotonic() - started, sum(collecting)

        runs = []
        for _ in range(2):  # the first also pays the sync path's one-off costs (its client)
            runs.append(await asyncio.wait_for(asyncio.to_thread(timed_run), HANG_GUARD))
        tool.close()
    elapsed = [took for took, _ in runs]
    assert len(accepted) == 4  # two attempts per call, one budget each
    assert min(elapsed) >= BUDGET, runs  # each call waited its budget
    took, collecting = runs[1]  # (wall, of which garbage collection)
    assert took - collecting <= BUDGET * 1.1 + 0.2, runs  # + the policy's backoff


@contextlib.contextmanager
def garbage_collection() -> Iterator[list[float]]:
    """The seconds each garbage collection took while the block ran, in any thread.

    A full collection of a test worker's ~300,000 objects holds the GIL for ~0.2 s here
    (more on a loaded machine), so no thread of the process, the timed one included, runs
    meanwhile: the interpreter's time, not the tool's. The suspected cause (not caught in
    the act) of the two times a loaded ``make test-compat`` saw the second sync call take
    1.33 and 1.43 s against its usual ~1.1 s; the seconds collected are in the message.
    """
    spans: list[float] = []
    started: list[float] = []

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            started.append(time.perf_counter())
        elif started:
            spans.append(time.perf_counter() - started.pop())

    gc.callbacks.append(on_gc)
    try:
        yield spans
    finally:
        gc.callbacks.remove(on_gc)


async def test_transcription_tool_raises_within_the_budget() -> None:
    async with silent_server() as (base, _accepted):
        tool = SmallestSpeechToTextTool(
            api_key=KEY, base_url=base, timeout=BUDGET, max_retries=0, handle_tool_error=False
        )
        audio = pcm_to_wav(b"\0\0" * 1600, 16000)
        elapsed = []
        for _ in range(2):  # the first also pays the process's one-off costs (imports, TLS)
            started = time.monotonic()
            with pytest.raises(ToolException):
                async with asyncio.timeout(HANG_GUARD):
                    await tool.ainvoke({"audio": audio})
            elapsed.append(time.monotonic() - started)
    assert BUDGET <= elapsed[1] <= BUDGET * 1.1, elapsed


class _Starts(AsyncCallbackHandler):
    """When each tool run started (the fallback's is the second)."""

    def __init__(self) -> None:
        self.at: list[float] = []

    async def on_tool_start(
        self, serialized: dict[str, Any], input_str: str, *, run_id: UUID, **kwargs: Any
    ) -> None:
        self.at.append(time.monotonic())


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
        started = time.monotonic()
        async with asyncio.timeout(HANG_GUARD):
            call = {"type": "tool_call", "id": "t1", "name": primary.name, "args": {"text": "Hi."}}
            message = await chain.ainvoke(call, config={"callbacks": [starts]})
    assert len(starts.at) == 2
    assert starts.at[1] - started <= BUDGET * 1.1, starts.at[1] - started
    assert isinstance(message, ToolMessage) and message.status == "success"
    assert message.artifact.audio  # the backup spoke
