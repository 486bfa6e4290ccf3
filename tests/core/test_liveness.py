"""A server that stops answering, and the loose ends around a failing socket.

* a socket that owes frames and sends none past ``finish_timeout`` is retired (never
  handed out again) and the utterance is retried elsewhere when it has yielded no audio;
* a frozen server (SIGSTOP) is noticed by WebSocket pings within
  ``ping_interval + ping_timeout`` instead of waiting for a TCP timeout;
* after a malformed frame, closing is prompt (the reader keeps draining for the close
  handshake instead of leaving it to the close timeout);
* ``cancel()`` from another task wakes a consumer blocked in ``async for``;
* ``push_text(None)``/``end(None)`` are caller errors naming the field.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import subprocess
import sys

import pytest

from smallest_core import (
    AudioChunk,
    ConnectionLostError,
    ConnectionPool,
    InvalidOptionError,
    RequestTimeoutError,
    RetryPolicy,
    SmallestError,
    StreamConnection,
    TTSOptions,
)
from smallest_local import Server
from smallest_local.engines import describe, tag_value

RATE = 24000
PAIRS_PER_WORD = RATE // 5 // 2  # tone engine: 200 ms per word
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, deadline=10.0)
OPTS = TTSOptions(sample_rate=RATE, complete_backoff_ms=0)


def pool(server: Server, **kw: object) -> ConnectionPool:
    kw.setdefault("retry", FAST_RETRY)
    return ConnectionPool(api_key=server.api_key, base_url=server.ws_url, options=OPTS, **kw)  # type: ignore[arg-type]


async def collect(utt) -> bytes:
    return b"".join([e.audio async for e in utt if isinstance(e, AudioChunk)])


def only(pcm: bytes, rid: str, words: int) -> bool:
    return describe(pcm) == {tag_value(rid): [(0, words * PAIRS_PER_WORD)]}


class TestStalledSocket:
    @pytest.mark.parametrize("mode", ["continuations", "flush"])
    async def test_a_stalled_socket_is_retired_and_the_utterance_retried(
        self, smallest_server: Server, mode: str
    ):
        smallest_server.faults.stall(after_chunks=0)  # until the client goes away
        async with pool(smallest_server, mode=mode, warm_spare=False) as p:
            utt = await p.utterance("s", finish_timeout=0.3)
            stalled = utt.connection
            await utt.end("two words")
            assert only(await collect(utt), "s", 2)
            assert utt.connection is not stalled and stalled.closed
            assert stalled not in p.connections
            # the next utterances never go to the retired socket
            for n in range(3):
                nxt = await p.utterance(f"n{n}", finish_timeout=0.3)
                assert nxt.connection is not stalled
                await nxt.end("fine")
                assert only(await collect(nxt), f"n{n}", 1)

    async def test_a_stall_is_noticed_when_the_consumer_was_already_waiting(
        self, smallest_server: Server
    ):
        # the usual adapter shape: one task iterates while another sends, so the
        # iterator is already blocked when end() is called
        smallest_server.faults.stall(after_chunks=0)
        async with pool(smallest_server, warm_spare=False) as p:
            utt = await p.utterance("w", finish_timeout=0.3)
            stalled = utt.connection
            waiting = asyncio.Event()

            async def consume() -> bytes:
                waiting.set()  # runs on into the iterator's wait before the test resumes
                return await collect(utt)

            consumer = asyncio.create_task(consume())
            await waiting.wait()
            await utt.end("two words")
            assert only(await asyncio.wait_for(consumer, 5), "w", 2)
            assert stalled.closed and stalled not in p.connections

    async def test_a_stall_after_audio_is_a_typed_error_and_nothing_is_duplicated(
        self, smallest_server: Server
    ):
        smallest_server.faults.stall(after_chunks=2)
        async with pool(smallest_server) as p:
            utt = await p.utterance("late", finish_timeout=0.3)
            await utt.end("w " * 6)
            got = bytearray()
            with pytest.raises(ConnectionLostError) as info:
                async for event in utt:
                    if isinstance(event, AudioChunk):
                        got += event.audio
            assert isinstance(info.value.__cause__, RequestTimeoutError)
            assert describe(bytes(got)) == {tag_value("late"): [(0, len(got) // 4)]}
            nxt = await p.utterance("after")
            await nxt.end("fine")
            assert only(await collect(nxt), "after", 1)


#: a tone server on a free port, its store in memory (no file in the working tree)
SERVE_ARGS = ("--port", "0", "--engine", "tone", "--db", ":memory:")


def _serve() -> tuple[subprocess.Popen[str], str]:
    """A smallest-local server in its own process, so a test can freeze it (SIGSTOP)."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallest_local.cli", "serve", *SERVE_ARGS],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "SMALLEST_LOCAL_API_KEYS": "sk_frozen_test_key"},
    )
    assert proc.stdout is not None
    for line in proc.stdout:
        match = re.search(r"(http://\S+?)/waves/v1/tts", line)
        if match:
            return proc, match.group(1).replace("http://", "ws://")
    proc.kill()
    raise AssertionError("server did not start")


class TestFrozenServer:
    async def test_pings_notice_a_frozen_server_within_their_bound(self):
        proc, base = _serve()
        try:
            conn = StreamConnection(
                api_key="sk_frozen_test_key",
                base_url=base,
                options=OPTS,
                ping_interval=0.2,
                ping_timeout=0.2,
                close_timeout=0.2,
            )
            await conn.connect()
            utt = conn.utterance("f", finish_timeout=30)  # the ping, not this, must fire
            os.kill(proc.pid, signal.SIGSTOP)
            await utt.end("never spoken")
            # bounded: pings fail the socket long before the 30 s finish timeout
            async with asyncio.timeout(5):
                with pytest.raises(SmallestError) as info:
                    await collect(utt)
            assert isinstance(info.value, ConnectionLostError | RequestTimeoutError)
            assert conn.closed
            async with asyncio.timeout(5):
                await conn.aclose()
        finally:
            os.kill(proc.pid, signal.SIGCONT)
            proc.kill()
            proc.wait(timeout=10)

    async def test_pings_notice_a_frozen_socket_and_a_retry_speaks(self, smallest_server: Server):
        # the server's FREEZE fault stops one socket like a stopped process: no frames,
        # no pongs. Pings fail it (the 30 s finish timeout is not what fires); nothing
        # was spoken yet, so the utterance is retried on a fresh socket and speaks.
        smallest_server.faults.freeze(after_chunks=0)
        p = ConnectionPool(
            api_key=smallest_server.api_key,
            base_url=smallest_server.ws_url,
            options=OPTS,
            retry=FAST_RETRY,
            warm_spare=False,
            ping_interval=0.2,
            ping_timeout=0.2,
        )
        async with p:
            utt = await p.utterance("z", finish_timeout=30)
            frozen = utt.connection
            await utt.end("two words")
            async with asyncio.timeout(5):
                assert only(await collect(utt), "z", 2)
            assert frozen.closed and utt.connection is not frozen


class TestClosing:
    async def test_aclose_after_a_malformed_frame_is_prompt(self, smallest_server: Server):
        smallest_server.faults.malformed_frame(after_chunks=1)
        p = pool(smallest_server, retry=RetryPolicy(max_attempts=1))
        utt = await p.utterance("m")
        await utt.end("w " * 20)
        with pytest.raises(SmallestError):
            await collect(utt)
        # before: ~10 s (the reader stopped reading, the close waited out its timeout)
        async with asyncio.timeout(3):
            await p.aclose()

    async def test_the_idle_timeout_frame_is_not_a_warning(
        self, smallest_server: Server, caplog: pytest.LogCaptureFixture
    ):
        smallest_server.faults.idle_close(0.2)
        caplog.set_level(logging.DEBUG, logger="smallest_core")
        closed = asyncio.Event()
        conn = StreamConnection(
            api_key=smallest_server.api_key,
            base_url=smallest_server.ws_url,
            options=OPTS,
            on_closed=lambda _conn, _error: closed.set(),
        )
        await conn.connect()
        async with asyncio.timeout(5):
            await closed.wait()
        await conn.aclose()
        assert conn.closed
        warnings = [r for r in caplog.records if r.levelno >= logging.WARNING]
        assert warnings == []
        assert any("timed the socket out" in r.getMessage() for r in caplog.records)


class TestCallerSide:
    async def test_cancel_from_another_task_wakes_the_consumer(self, smallest_server: Server):
        smallest_server.faults.stall(after_chunks=1)  # audio starts, then nothing more
        async with pool(smallest_server) as p:
            utt = await p.utterance("c", finish_timeout=30)
            await utt.end("w " * 6)
            first = asyncio.Event()

            async def consume() -> int:
                n = 0
                async for event in utt:
                    if isinstance(event, AudioChunk):
                        n += 1
                        first.set()
                return n

            task = asyncio.create_task(consume())
            await first.wait()
            utt.cancel()  # from this task, while consume() waits in __anext__
            async with asyncio.timeout(5):
                assert await task == 1

    @pytest.mark.parametrize("call", ["push_text", "end"])
    @pytest.mark.parametrize("bad", [None, "a lone \ud800 surrogate"])
    async def test_bad_text_names_the_field(self, smallest_server: Server, call: str, bad):
        async with pool(smallest_server) as p:
            utt = await p.utterance("t")
            with pytest.raises(InvalidOptionError, match="text"):
                await getattr(utt, call)(bad)
            await utt.end("still usable")
            assert only(await collect(utt), "t", 2)


class TestFlushModeQueue:
    @pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=100)
    async def test_waiting_behind_a_cancelled_request_is_not_a_stall(self, smallest_server: Server):
        """Flush mode has no cancel (§5.4): the server speaks the abandoned request to the
        end before the next one, so a wait longer than ``finish_timeout`` is legitimate."""
        conn = StreamConnection(
            api_key=smallest_server.api_key,
            base_url=smallest_server.ws_url,
            options=OPTS,
            mode="flush",
        )
        async with conn:
            old = conn.utterance("old")
            await old.end("w " * 8)  # 1.6 s of real-time audio
            async for event in old:
                if isinstance(event, AudioChunk):
                    break
            old.cancel()
            assert conn.draining
            new = conn.utterance("new", finish_timeout=0.3)
            await new.end("fine")
            assert only(await collect(new), "new", 1)
            assert not conn.closed  # the socket was not retired
