"""StreamConnection, Utterance and ConnectionPool against smallest_local over real sockets.

The tone engine marks every sample with the request that produced it, so "each utterance
gets exactly its own audio, in order, nothing lost or duplicated" is checked byte for byte
with ``describe`` (one contiguous run per request id).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest

from smallest_core import (
    AudioChunk,
    AuthenticationError,
    ConnectionLostError,
    ConnectionPool,
    InvalidRequestError,
    InvalidState,
    RateLimitError,
    RetryPolicy,
    ServerError,
    StreamConnection,
    TTSOptions,
    Utterance,
    WordTimestamp,
)
from smallest_core.transport import WebSocket, open_websocket
from smallest_local import Server
from smallest_local.engines import describe, tag_value

RATE = 24000
PAIRS_PER_WORD = RATE // 5 // 2  # tone engine: 200 ms per word
FAST_RETRY = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, deadline=10.0)


def options(**changes: object) -> TTSOptions:
    return TTSOptions(sample_rate=RATE, complete_backoff_ms=0, **changes)  # type: ignore[arg-type]


def connection(server: Server, **kw: object) -> StreamConnection:
    return StreamConnection(api_key=server.api_key, base_url=server.ws_url, options=options(), **kw)  # type: ignore[arg-type]


def pool(server: Server, **kw: object) -> ConnectionPool:
    kw.setdefault("retry", FAST_RETRY)
    return ConnectionPool(api_key=server.api_key, base_url=server.ws_url, options=options(), **kw)  # type: ignore[arg-type]


async def collect(utt: Utterance) -> bytes:
    return b"".join([e.audio async for e in utt if isinstance(e, AudioChunk)])


def only(pcm: bytes, rid: str, words: int) -> bool:
    return describe(pcm) == {tag_value(rid): [(0, words * PAIRS_PER_WORD)]}


class TestStreamConnection:
    async def test_one_utterance_streams_text_in_and_audio_out(self, smallest_server: Server):
        async with connection(smallest_server) as conn:
            utt = conn.utterance("u-1")
            for word in ("Hello ", "there, ", "how are ", "you"):
                await utt.push_text(word)
            await utt.end()
            pcm = await collect(utt)
        assert only(pcm, "u-1", 5)

    async def test_fifty_interleaved_utterances_each_get_exactly_their_own_audio(
        self, smallest_server: Server
    ):
        async with connection(smallest_server) as conn:
            utts = [conn.utterance(f"i-{n}") for n in range(50)]
            for word in ("one ", "two ", "three"):
                for utt in utts:
                    await utt.push_text(word)
            for utt in utts:
                await utt.end()
            results = await asyncio.gather(*(collect(u) for u in utts))
        for n, pcm in enumerate(results):
            assert only(pcm, f"i-{n}", 3), n
        assert smallest_server.stats.ws_connections_total == 1

    async def test_a_full_write_buffer_holds_the_next_text_until_it_drains(
        self, smallest_server: Server
    ):
        """Back-pressure: while the socket's write buffer is over its limit, push_text
        waits for the drain (texts are written straight to the socket when nothing
        stands in the way; never past a full buffer); once it drains the text goes out
        in its place and the utterance speaks every word, in order."""
        sockets: list[WebSocket] = []

        async def connect(*args: Any, **kw: Any) -> WebSocket:
            ws = await open_websocket(*args, **kw)
            sockets.append(ws)
            return ws

        async with connection(smallest_server, connect=connect) as conn:
            utt = conn.utterance("bp", options=options(word_timestamps=True))
            await utt.push_text("one ")
            (ws,) = sockets
            ws.pause_writing()  # what the transport calls when its buffer passes the limit
            pushing = asyncio.create_task(utt.push_text("two "))
            done, _ = await asyncio.wait({pushing}, timeout=0.3)  # bound: it must not end
            assert not done, "push_text wrote past a full write buffer"
            ws.resume_writing()  # the buffer drained
            await pushing
            await utt.end("three")
            words = [e.word async for e in utt if isinstance(e, WordTimestamp)]
        assert words == ["one", "two", "three"]

    async def test_word_timestamps_are_routed_with_their_utterance(self, smallest_server: Server):
        async with connection(smallest_server) as conn:
            utt = conn.utterance("w", options=options(word_timestamps=True))
            await utt.end("Pay $100 today")
            words = [e for e in [e async for e in utt] if isinstance(e, WordTimestamp)]
        assert [w.word for w in words] == ["Pay", "$100", "today"]
        assert all(w.request_id == "w" for w in words)
        assert [w.start for w in words] == pytest.approx([0.0, 0.2, 0.4])

    @pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=50)
    async def test_cancel_mid_utterance_delivers_nothing_more_and_keeps_the_socket(
        self, smallest_server: Server
    ):
        async with connection(smallest_server) as conn:
            utt = conn.utterance("gone")
            await utt.end("w " * 40)  # 8 s of real-time audio
            first = await anext(utt)
            assert isinstance(first, AudioChunk)
            utt.cancel()
            after = [e async for e in utt]  # returns at once, yields nothing
            assert after == []
            nxt = conn.utterance("next")
            await nxt.end("fresh words")
            pcm = await collect(nxt)
        assert only(pcm, "next", 2)  # no byte of the cancelled utterance leaks into it
        assert smallest_server.stats.ws_connections_total == 1
        assert smallest_server.stats.syntheses_cancelled == 1

    async def test_flush_mode_runs_utterances_one_after_another(self, smallest_server: Server):
        async with connection(smallest_server, mode="flush") as conn:
            for n in range(3):
                utt = conn.utterance(f"f-{n}")
                await utt.push_text("a b ")
                await utt.flush()
                await utt.end("c")
                assert only(await collect(utt), f"f-{n}", 3)
        assert smallest_server.stats.ws_connections_total == 1

    async def test_flush_mode_refuses_a_second_open_utterance(self, smallest_server: Server):
        async with connection(smallest_server, mode="flush") as conn:
            conn.utterance("a")
            with pytest.raises(InvalidState):
                conn.utterance("b")

    async def test_empty_utterance_completes_without_a_server_round_trip(
        self, smallest_server: Server
    ):
        async with connection(smallest_server) as conn:
            utt = conn.utterance("empty")
            await utt.push_text("   ")
            await utt.end()
            assert [e async for e in utt] == []

    async def test_misuse_is_invalid_state(self, smallest_server: Server):
        async with connection(smallest_server) as conn:
            utt = conn.utterance("m")
            await utt.end("x")
            with pytest.raises(InvalidState):
                await utt.push_text("more")
            await collect(utt)

    async def test_bad_key_is_authentication_error(self, smallest_server: Server):
        conn = StreamConnection(api_key="sk_wrong_key_xxxxx", base_url=smallest_server.ws_url)
        with pytest.raises(AuthenticationError) as info:
            await conn.connect()
        assert "sk_wrong_key_xxxxx" not in str(info.value)

    async def test_invalid_voice_is_a_typed_error_not_a_hang(self, smallest_server: Server):
        async with connection(smallest_server) as conn:
            utt = conn.utterance("v", options=options(voice_id="nobody_here"))
            await utt.end("hello")
            with pytest.raises(InvalidRequestError) as info:
                await collect(utt)
            assert "voice_id" in str(info.value)
            ok = conn.utterance("ok")
            await ok.end("still works")
            assert only(await collect(ok), "ok", 2)


class TestPool:
    async def test_prewarmed_socket_serves_the_first_utterance(self, smallest_server: Server):
        async with pool(smallest_server, warm_spare=False) as p:
            await p.prewarm()
            assert smallest_server.stats.ws_connections_total == 1
            utt = await p.utterance("first")
            await utt.end("hi")
            assert only(await collect(utt), "first", 1)
        assert smallest_server.stats.ws_connections_total == 1

    async def test_prewarm_opens_the_first_utterances_spare_too(self, smallest_server: Server):
        async with pool(smallest_server) as p:
            await p.prewarm()
            assert smallest_server.stats.ws_connections_total == 2
            first = await p.utterance("first")
            # the spare was already there: no handshake runs beside the first request,
            # and a retry of it would find a socket open
            assert p.connections_opened == 2
            await first.end("x")
            assert only(await collect(first), "first", 1)
        assert smallest_server.stats.ws_connections_total == 2

    async def test_warm_spare_is_opened_after_the_first_audio_on_the_last_idle_socket(
        self, smallest_server: Server
    ):
        async with pool(smallest_server, max_utterances_per_connection=1) as p:
            third = asyncio.Event()
            p.add_socket_listener(on_open=lambda _c: p.connections_opened >= 3 and third.set())
            await p.prewarm()
            held = [await p.utterance(f"h{n}") for n in range(2)]  # both sockets busy
            assert held[0].connection is not held[1].connection
            await held[1].push_text("the last idle socket", flush=True)  # still open after
            first = await anext(held[1])
            assert isinstance(first, AudioChunk)
            # no handshake ran beside that request: the spare comes after its first audio
            assert smallest_server.stats.ws_connections_total == 2
            await asyncio.wait_for(third.wait(), 5)  # a new spare, in the background
            extra = await p.utterance("extra")  # takes it: no handshake to wait for
            assert p.connections_opened == 3
            assert extra.connection not in {u.connection for u in held}
            for utt in [*held, extra]:
                await utt.end("x")
                await collect(utt)

    async def test_the_refresher_never_closes_a_socket_still_streaming_audio(
        self, smallest_server: Server
    ):
        """An utterance whose audio plays on past the point where the refresher replaces
        idle sockets (1.5 s after the client's last frame here; the server's own idle
        clock, 3 s, also counts client frames only, §5.1): the socket is busy, not idle.
        The refresher replaces idle sockets only — every sample arrives and no socket is
        closed under it."""
        smallest_server.set_latency(realtime_factor=1.0, chunk_ms=20)
        words = 12  # 2.4 s of real-time audio after the client's last frame
        async with pool(smallest_server, idle_timeout=3, refresh_margin=1.5) as p:
            closed: list[object] = []  # idle spares may be replaced meanwhile: that is right
            p.add_socket_listener(on_close=lambda conn, _err: closed.append(conn))
            utt = await p.utterance("long")
            busy = utt.connection
            await utt.end(" ".join(["word"] * words))
            pcm = await collect(utt)
            assert only(pcm, "long", words)
            assert utt.connection is busy  # no retry moved it
            assert busy not in closed

    @pytest.mark.smallest_server(idle_timeout_s=60)
    async def test_idle_sockets_are_refreshed_before_the_server_timeout(
        self, smallest_server: Server
    ):
        async with pool(smallest_server, idle_timeout=2, warm_spare=False) as p:
            await p.prewarm()
            await asyncio.sleep(3)  # the scenario: 3 s idle against a 2 s server timeout
            utt = await p.utterance("after-idle")
            await utt.end("still here")
            assert only(await collect(utt), "after-idle", 2)
        assert smallest_server.stats.ws_connections_total >= 2  # refreshed, not junk-kept

    async def test_idle_refresh_happens_before_the_server_times_the_socket_out(
        self, smallest_server: Server, caplog: pytest.LogCaptureFixture
    ):
        """The pool replaces an idle socket ``refresh_margin`` early: the server's idle
        timeout (§5.1) never fires. Without the early refresh it would, at 2 s."""
        caplog.set_level(logging.INFO, logger="smallest_core")
        async with pool(smallest_server, idle_timeout=2, warm_spare=False) as p:
            await p.prewarm()
            first = p.connections[0]
            await asyncio.sleep(2.6)  # the scenario: idle past the server's 2 s timeout
            assert first not in p.connections and first.closed
            utt = await p.utterance("after")  # on a fresh socket, opened on demand
            await utt.end("fine")
            assert only(await collect(utt), "after", 1)
            assert smallest_server.stats.ws_connections_total == 2
        messages = [r.getMessage() for r in caplog.records]
        assert not any("timed the socket out" in m for m in messages), messages

    async def test_socket_listeners_hear_every_open_and_close(self, smallest_server: Server):
        smallest_server.faults.close_after_complete(times=None)
        opened: list[StreamConnection] = []
        closed: list[tuple[StreamConnection, Exception]] = []
        all_closed = asyncio.Event()
        async with pool(smallest_server, warm_spare=False) as p:

            def on_close(conn: StreamConnection, err: Exception) -> None:
                closed.append((conn, err))
                if len(closed) == 2:
                    all_closed.set()

            remove = p.add_socket_listener(on_open=opened.append, on_close=on_close)
            for n in range(2):
                utt = await p.utterance(f"l{n}")
                await utt.end("hi")
                await collect(utt)
            async with asyncio.timeout(5):
                await all_closed.wait()  # the server closes after each complete
            assert len(opened) == 2 and [c for c, _ in closed] == opened
            assert all(isinstance(err, ConnectionLostError) for _, err in closed)
            remove()
            utt = await p.utterance("unheard")
            await utt.end("hi")
            await collect(utt)
        assert len(opened) == 2  # removed: the third socket was not reported

    async def test_server_closing_after_every_complete(self, smallest_server: Server):
        smallest_server.faults.close_after_complete(times=None)
        async with pool(smallest_server) as p:
            for n in range(5):
                utt = await p.utterance(f"c{n}")
                await utt.end("one two")
                assert only(await collect(utt), f"c{n}", 2)

    async def test_bounded_concurrency_waits_for_room(self, smallest_server: Server):
        async with pool(
            smallest_server, max_connections=1, max_utterances_per_connection=2, warm_spare=False
        ) as p:
            a = await p.utterance("a")
            b = await p.utterance("b")
            waiting = asyncio.ensure_future(p.utterance("c"))
            await a.end("x")
            await collect(a)  # frees a place
            c = await waiting
            await b.end("y")
            await c.end("z")
            assert only(await collect(c), "c", 1) and only(await collect(b), "b", 1)
        assert smallest_server.stats.ws_connections_total == 1

    async def test_aclose_fails_nothing_silently_and_leaks_no_task(self, smallest_server: Server):
        p = pool(smallest_server)
        await p.prewarm()
        utt = await p.utterance("z")
        await utt.end("x")
        await collect(utt)
        before = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        sockets = p.connections
        await p.aclose()
        assert sockets and all(c.closed for c in sockets)
        assert p.connections == []
        leftover = {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}
        assert not [t for t in leftover if t in before and not t.done()]
        with pytest.raises(InvalidState):
            await p.utterance()


class TestFaults:
    """Item 4: retry transparently before audio; ConnectionLostError after audio."""

    async def test_a_close_on_purpose_before_audio_is_retried_without_backoff(
        self, smallest_server: Server
    ):
        # The server closes the socket (1000, as at its idle timeout) just as a request
        # arrives. A backoff of 30 s would pass the 10 s deadline and give up; the close
        # says there is nothing to back off from, so the retry goes at once.
        patient = RetryPolicy(max_attempts=3, base_delay=30.0, max_delay=30.0, deadline=10.0)
        async with pool(smallest_server, retry=patient) as p:
            await p.prewarm()
            smallest_server.faults.close_after(0, code=1000)
            utt = await p.utterance("r")
            await utt.end("retry me please")
            assert only(await collect(utt), "r", 3)
        assert smallest_server.stats.request_ids == ["r", "r"]

    @pytest.mark.parametrize(
        "script",
        [
            lambda f: f.refuse_upgrade(503),
            lambda f: f.close_after(0, code=1011),
            lambda f: f.abort_after(0),
            lambda f: f.error_frame("worker crashed", code="INTERNAL_ERROR"),
            lambda f: f.malformed_frame(),
            lambda f: f.binary_frame(),
        ],
        ids=[
            "refuse-503",
            "close-before-audio",
            "abort-before-audio",
            "error-frame-5xx",
            "malformed-frame",
            "binary-frame",
        ],
    )
    async def test_failure_before_audio_is_retried_transparently(
        self, smallest_server: Server, script
    ):
        async with pool(smallest_server) as p:
            await p.prewarm()  # the fault hits a real utterance, not the prewarm
            script(smallest_server.faults)
            utt = await p.utterance("r")
            await utt.end("retry me please")
            assert only(await collect(utt), "r", 3)

    async def test_retries_never_reopen_an_id_on_a_socket_that_used_it(
        self, smallest_server: Server
    ):
        # an error frame leaves its socket healthy (it stays in the pool), but the id it
        # carried cannot be opened there again: the third attempt must not go back to
        # the first socket
        smallest_server.faults.error_frame(after_chunks=0, times=2, request_id="again")
        async with pool(smallest_server) as p:
            utt = await p.utterance("again")
            await utt.end("three more words")
            assert only(await collect(utt), "again", 3)
        assert smallest_server.stats.request_ids.count("again") == 3

    async def test_log_records_hold_no_exception_objects(
        self, smallest_server: Server, caplog: pytest.LogCaptureFixture
    ):
        # a handler that keeps records (pytest's, a ring buffer) must not keep errors
        # alive, and with them their tracebacks and everything those frames reference
        caplog.set_level(logging.DEBUG, logger="smallest_core")
        smallest_server.faults.error_frame(after_chunks=0, times=1, request_id="logged")
        async with pool(smallest_server) as p:
            utt = await p.utterance("logged")
            await utt.end("two words")
            assert only(await collect(utt), "logged", 2)
            p.connections[0].retire(ConnectionLostError("retired by the test"))
        core = [r for r in caplog.records if r.name.startswith("smallest_core")]
        assert any("retrying" in r.getMessage() for r in core)
        assert any("retiring" in r.getMessage() for r in core)
        held = [
            (r.getMessage(), a)
            for r in core
            for a in (r.args if isinstance(r.args, tuple) else ())
            if isinstance(a, BaseException)
        ]
        assert held == []

    async def test_stall_before_audio_times_out_and_is_retried(self, smallest_server: Server):
        smallest_server.faults.stall(after_chunks=0)
        async with pool(smallest_server) as p:
            utt = await p.utterance("s", finish_timeout=0.5)  # keep the scenario short
            await utt.end("slow start")
            assert only(await collect(utt), "s", 2)

    @pytest.mark.parametrize(
        "script",
        [
            lambda f: f.close_after(2, code=1011),
            lambda f: f.abort_after(2),
            lambda f: f.malformed_frame(after_chunks=2),
        ],
        ids=["close", "abort", "malformed"],
    )
    async def test_failure_after_audio_raises_connection_lost_without_duplicates(
        self, smallest_server: Server, script
    ):
        script(smallest_server.faults)
        async with pool(smallest_server) as p:
            utt = await p.utterance("late")
            await utt.end("w " * 10)
            got = bytearray()
            with pytest.raises(ConnectionLostError):
                async for event in utt:
                    if isinstance(event, AudioChunk):
                        got += event.audio
            runs = describe(bytes(got))
            assert runs == {tag_value("late"): [(0, len(got) // 4)]}  # a prefix, no duplicates
            assert 0 < len(got) < 10 * PAIRS_PER_WORD * 4
            nxt = await p.utterance("after")  # the pool recovers
            await nxt.end("fine")
            assert only(await collect(nxt), "after", 1)

    async def test_non_retryable_error_frame_is_raised_once(self, smallest_server: Server):
        fault = smallest_server.faults.error_frame(
            "Invalid 'voice_id'", code="INVALID_REQUEST", times=None
        )
        async with pool(smallest_server) as p:
            utt = await p.utterance("bad")
            await utt.end("x")
            with pytest.raises(InvalidRequestError):
                await collect(utt)
        assert fault.fired == 1

    async def test_unauthorized_upgrade_is_not_retried(self, smallest_server: Server):
        smallest_server.faults.refuse_upgrade(401, times=None)
        async with pool(smallest_server) as p:
            with pytest.raises(AuthenticationError):
                await p.utterance("u")
        assert smallest_server.stats.rejected_upgrades == 1

    @pytest.mark.parametrize("status", [429, 500, 503])
    async def test_a_refused_upgrade_is_retried_when_retryable(
        self, smallest_server: Server, status: int
    ):
        smallest_server.faults.refuse_upgrade(status, times=2)
        async with pool(smallest_server, warm_spare=False) as p:
            utt = await p.utterance("again")
            await utt.end("fine")
            assert only(await collect(utt), "again", 1)
        assert smallest_server.stats.rejected_upgrades == 2

    async def test_a_refused_upgrade_reads_the_body_as_text(self, smallest_server: Server):
        smallest_server.faults.refuse_upgrade(503, times=None)
        async with pool(smallest_server, retry=RetryPolicy(max_attempts=2, base_delay=0)) as p:
            with pytest.raises(ServerError) as info:
                await p.utterance("u")
        assert "bytearray" not in str(info.value) and "HTTP 503" in str(info.value)
        assert smallest_server.stats.rejected_upgrades == 2  # the policy's two attempts

    async def test_retries_give_up_within_the_policy(self, smallest_server: Server):
        smallest_server.faults.close_after(0, times=None)
        policy = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, deadline=5.0)
        async with pool(smallest_server, retry=policy) as p:
            utt = await p.utterance("doomed")
            await utt.end("x")
            with pytest.raises(ConnectionLostError):
                await collect(utt)

    async def test_a_per_utterance_policy_overrides_the_pools(self, smallest_server: Server):
        smallest_server.faults.close_after(0, times=2)
        async with pool(smallest_server, retry=RetryPolicy(max_attempts=1)) as p:
            utt = await p.utterance("once")  # the pool's policy: no retry
            await utt.end("x")
            with pytest.raises(ConnectionLostError):
                await collect(utt)
            utt = await p.utterance("thrice", retry=FAST_RETRY)  # this one's own
            await utt.end("two words")
            assert only(await collect(utt), "thrice", 2)

    @pytest.mark.smallest_server(concurrency_limit=1, realtime_factor=1.0, chunk_ms=50)
    async def test_account_concurrency_limit_is_a_rate_limit_error(self, smallest_server: Server):
        policy = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0, deadline=5.0)
        async with pool(smallest_server, retry=policy) as p:
            busy = await p.utterance("busy")
            await busy.end("w " * 20)
            assert isinstance(await anext(busy), AudioChunk)  # holds the account's one unit
            over = await p.utterance("over")
            await over.end("x")
            with pytest.raises(RateLimitError):
                await collect(over)
            busy.cancel()
        assert smallest_server.stats.concurrency_rejections == 2  # tried, retried, gave up

    @pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=50)
    async def test_one_utterances_error_leaves_its_neighbours_streaming(
        self, smallest_server: Server
    ):
        smallest_server.faults.error_frame("worker crashed", request_id="victim")
        async with pool(smallest_server, warm_spare=False) as p:
            bystander = await p.utterance("bystander")
            await bystander.end("one two three")
            victim = await p.utterance("victim")
            assert victim.connection is bystander.connection
            await victim.end("retry me")
            pcm_b, pcm_v = await asyncio.gather(collect(bystander), collect(victim))
        assert only(pcm_b, "bystander", 3)
        assert only(pcm_v, "victim", 2)
        assert smallest_server.stats.ws_connections_total == 2  # the retry took a fresh socket


class TestFlushModePool:
    @pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=50)
    async def test_barge_in_moves_to_another_socket_while_the_old_one_drains(
        self, smallest_server: Server
    ):
        async with pool(smallest_server, mode="flush", warm_spare=False) as p:
            old = await p.utterance("old")
            await old.end("w " * 40)  # 8 s at real time
            assert isinstance(await anext(old), AudioChunk)
            old.cancel()
            new = await p.utterance("new")
            assert new.connection is not old.connection  # not queued behind 8 s of audio
            await new.end("go ahead")
            assert only(await collect(new), "new", 2)

    @pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=50)
    async def test_a_full_pool_waits_for_the_drain_then_reuses_the_socket(
        self, smallest_server: Server
    ):
        async with pool(smallest_server, mode="flush", max_connections=1, warm_spare=False) as p:
            old = await p.utterance("old")
            await old.end("w w")  # 400 ms at real time
            assert isinstance(await anext(old), AudioChunk)
            old.cancel()
            new = await p.utterance("new")  # waits for the old request's complete
            assert new.connection is old.connection
            await new.end("go")
            assert only(await collect(new), "new", 1)
        assert smallest_server.stats.ws_connections_total == 1
