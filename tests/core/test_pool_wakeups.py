"""Callers waiting for room in a full pool: woken as room appears, and never stranded.

The pool wakes as many waiters as a newly opened socket holds, and one per utterance
that leaves (it woke all of them each time: hundreds of callers starting at once each
re-checked every socket per wake-up). A waiter that leaves without taking the room it
was woken for (cancelled, timed out) passes the wake-up on. These hold both.
"""

from __future__ import annotations

import asyncio

import pytest

from smallest_core import AudioChunk, ConnectionPool, TTSOptions, Utterance
from smallest_local import Server

OPTS = TTSOptions(sample_rate=16000, complete_backoff_ms=0)


def _pool(server: Server, **kwargs: object) -> ConnectionPool:
    kwargs.setdefault("warm_spare", False)
    return ConnectionPool(
        api_key=server.api_key,
        base_url=server.ws_url,
        options=OPTS,
        **kwargs,  # type: ignore[arg-type]
    )


async def _speak(utt: Utterance, text: str = "one two") -> int:
    await utt.end(text)
    return sum(len(e.audio) for e in [e async for e in utt] if isinstance(e, AudioChunk))


async def test_a_burst_fills_every_socket_it_opens(smallest_server: Server) -> None:
    """60 callers at once on a cold pool of 4 sockets x 16: all are served, no socket
    carries more than 16, and the pool opened exactly the sockets it needed."""
    async with _pool(smallest_server, max_connections=4, max_utterances_per_connection=16) as p:
        held = await asyncio.wait_for(
            asyncio.gather(*(p.utterance(f"b{i}") for i in range(60))), 10
        )
        active = [c.active for c in p.connections]
        assert sum(active) == 60 and max(active) <= 16
        assert p.connections_opened == 4
        got = await asyncio.gather(*(_speak(u) for u in held))
        assert all(n > 0 for n in got)


async def test_each_utterance_that_ends_lets_one_waiter_in(smallest_server: Server) -> None:
    """A one-place pool and five callers: each gets in when the one before ends."""
    async with _pool(smallest_server, max_connections=1, max_utterances_per_connection=1) as p:
        order: list[int] = []

        async def caller(i: int) -> None:
            utt = await p.utterance(f"w{i}")
            order.append(i)
            assert await _speak(utt) > 0

        await asyncio.wait_for(asyncio.gather(*(caller(i) for i in range(5))), 10)
        assert sorted(order) == list(range(5))
        assert p.connections_opened == 1


async def test_a_waiter_that_times_out_strands_nobody(smallest_server: Server) -> None:
    """B gives up waiting (its connect timeout); C, behind it, still gets the place when
    A's utterance ends."""
    async with _pool(smallest_server, max_connections=1, max_utterances_per_connection=1) as p:
        a = await p.utterance("a")
        b = asyncio.create_task(p.utterance("b", connect_timeout=0.05))
        c = asyncio.create_task(p.utterance("c", connect_timeout=5))
        with pytest.raises(Exception, match="connect timeout"):
            await b
        assert await _speak(a) > 0
        utt = await asyncio.wait_for(c, 5)
        assert await _speak(utt) > 0


async def test_a_waiter_cancelled_after_its_wake_up_passes_it_on(
    smallest_server: Server,
) -> None:
    """A's utterance ends and wakes B; B is cancelled before it runs. The wake-up must
    reach C (nothing else would wake it: no other utterance is running)."""
    async with _pool(smallest_server, max_connections=1, max_utterances_per_connection=1) as p:
        a = await p.utterance("a")
        b = asyncio.create_task(p.utterance("b"))
        c = asyncio.create_task(p.utterance("c"))
        while p._waiting < 2:  # both are waiting for room now
            await asyncio.sleep(0)
        condition = p._changed
        notify = condition.notify

        def notify_then_cancel_b(n: int = 1) -> None:
            notify(n)
            if not b.done():
                b.cancel()  # lands after B was woken, before it runs

        condition.notify = notify_then_cancel_b  # type: ignore[method-assign]
        try:
            assert await _speak(a) > 0
            with pytest.raises(asyncio.CancelledError):
                await b
        finally:
            condition.notify = notify  # type: ignore[method-assign]
        utt = await asyncio.wait_for(c, 5)
        assert await _speak(utt) > 0
