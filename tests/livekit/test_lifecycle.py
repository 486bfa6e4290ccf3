"""Lifecycles: use after ``aclose()`` raises one typed error on every path, and a TTS
used from a second event loop works (each loop gets its own pool and HTTP client)."""

from __future__ import annotations

import asyncio

import pytest
from livekit.agents import APIConnectOptions, APIError

from livekit_smallest import TTS
from smallest_core import ConnectionPool
from smallest_local import Server
from smallest_local.engines import ToneEngine, describe

FAST = APIConnectOptions(max_retry=0, timeout=5)
TONE = ToneEngine()
TEXT = "one two three"
#: Seconds one event loop's work may take here: a hang fails in seconds.
DEADLINE_S = 10


async def speak(tts: TTS) -> None:
    """One streamed turn and one HTTP synthesis, each exactly the audio of TEXT."""
    expected = TONE.pairs_per_word(24000) * len(TEXT.split())
    async with asyncio.timeout(DEADLINE_S):
        stream = tts.stream(conn_options=FAST)
        stream.push_text(TEXT)
        stream.end_input()
        pcm = b"".join([ev.frame.data.tobytes() async for ev in stream])
        await stream.aclose()
        assert [n for runs in describe(pcm).values() for _, n in runs] == [expected]
        async with tts.synthesize(TEXT, conn_options=FAST) as chunked:
            pcm = b"".join([ev.frame.data.tobytes() async for ev in chunked])
        assert [n for runs in describe(pcm).values() for _, n in runs] == [expected]


async def test_after_aclose_stream_and_synthesize_raise_the_same_typed_error(
    make_tts, smallest_server: Server
) -> None:
    tts = make_tts()
    await speak(tts)
    await tts.aclose()
    requests = smallest_server.stats.http_requests
    stream = tts.stream(conn_options=FAST)
    stream.push_text(TEXT)
    stream.end_input()
    with pytest.raises(APIError) as streamed:
        [ev async for ev in stream]
    await stream.aclose()
    with pytest.raises(APIError) as synthesized:
        async with tts.synthesize(TEXT, conn_options=FAST) as chunked:
            [ev async for ev in chunked]
    assert type(streamed.value) is type(synthesized.value)
    assert streamed.value.message == synthesized.value.message == "the TTS is closed"
    assert not streamed.value.retryable and not synthesized.value.retryable
    assert smallest_server.stats.http_requests == requests  # nothing reached the server


def test_one_tts_from_two_event_loops(smallest_server: Server) -> None:
    """A script's two ``asyncio.run()`` calls (or two notebook cells) share one TTS."""
    tts = TTS(api_key=smallest_server.api_key, base_url=smallest_server.http_url)
    asyncio.run(speak(tts))
    asyncio.run(speak(tts))  # the first loop's sockets died with it: new ones here

    async def last() -> None:
        await speak(tts)
        await tts.aclose()

    asyncio.run(last())


def test_a_given_pool_from_another_event_loop_is_a_clear_error_at_once(
    smallest_server: Server,
) -> None:
    pool = ConnectionPool(api_key=smallest_server.api_key, base_url=smallest_server.ws_url)
    tts = TTS(api_key=smallest_server.api_key, base_url=smallest_server.http_url, pool=pool)

    async def first() -> None:
        await speak(tts)
        await pool.aclose()  # a given pool is its owner's to close

    asyncio.run(first())

    async def elsewhere() -> None:
        async with asyncio.timeout(DEADLINE_S):
            stream = tts.stream(conn_options=FAST)
            stream.push_text(TEXT)
            stream.end_input()
            with pytest.raises(APIError, match="another event loop"):
                [ev async for ev in stream]
            await stream.aclose()
            await tts.aclose()

    asyncio.run(elsewhere())
