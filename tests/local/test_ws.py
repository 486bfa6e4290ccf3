"""The local server's WebSocket ``/waves/v1/tts/live`` against PROTOCOL.md §5, §9 and §12.

Plain ``websockets`` client, tone engine: every received sample names the request that
produced it, so routing, order and loss are checked byte for byte.
"""

from __future__ import annotations

import asyncio
import json
import threading

import pytest
import websockets

from smallest_local import Server
from smallest_local.engines import describe, tag_value

from .wsclient import (
    RATE,
    audio,
    body,
    connect,
    frame,
    recv,
    statuses,
    until_complete,
)

WORD_BYTES = RATE * 2 // 5  # tone engine: 200 ms per word at speed 1.0


def pairs(n_words: int) -> int:
    return n_words * WORD_BYTES // 4


class TestOneShot:
    """§5.2 one-shot pattern and §5.3 frame shapes."""

    async def test_chunks_then_complete_with_correlation_ids(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(
                frame("one two three", request_id="r-1", session_id="s.1", complete_backoff_ms=0)
            )
            frames = await until_complete(ws)
        assert statuses(frames)[-1] == "complete"
        assert set(statuses(frames[:-1])) == {"chunk"}
        server_session = frames[0]["session_id"]
        server_request = frames[0]["request_id"]
        assert server_session.startswith("ws_")
        for f in frames:
            assert f["session_id"] == server_session
            assert f["request_id"] == server_request
            assert f["external_request_id"] == "r-1"
            assert f["external_session_id"] == "s.1"
        # §5.3: complete carries no data, message or done
        assert set(frames[-1]) == {
            "session_id",
            "request_id",
            "external_request_id",
            "external_session_id",
            "status",
        }
        pcm = audio(frames)
        assert len(pcm) == 3 * WORD_BYTES
        assert describe(pcm) == {tag_value("r-1"): [(0, pairs(3))]}

    async def test_external_ids_omitted_when_not_sent(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(frame("hello", complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert all(
            "external_request_id" not in f and "external_session_id" not in f for f in frames
        )
        assert len(audio(frames)) == WORD_BYTES

    async def test_several_requests_on_one_socket_each_get_their_own_audio(
        self, smallest_server: Server
    ):
        async with await connect(smallest_server) as ws:
            for i in range(5):
                await ws.send(frame("a b", request_id=f"q{i}", complete_backoff_ms=0))
                frames = await until_complete(ws, value=f"q{i}")
                assert describe(audio(frames)) == {tag_value(f"q{i}"): [(0, pairs(2))]}
        assert smallest_server.stats.ws_connections_total == 1

    @pytest.mark.parametrize("rate", [8000, 16000, 24000, 44100])
    async def test_sample_rates(self, smallest_server: Server, rate: int):
        async with await connect(smallest_server) as ws:
            await ws.send(
                json.dumps({**body("x y"), "sample_rate": rate, "complete_backoff_ms": 0})
            )
            frames = await until_complete(ws)
        assert len(audio(frames)) == 2 * (rate // 5) * 2

    async def test_output_format_is_ignored_on_ws(self, smallest_server: Server):
        """§9.7: WS chunks are always PCM s16le."""
        async with await connect(smallest_server) as ws:
            await ws.send(frame("x", output_format="mp3", request_id="m", complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert describe(audio(frames)) == {tag_value("m"): [(0, pairs(1))]}

    async def test_unknown_fields_are_ignored(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(frame("x", enhancement=1, similarity=0.2, complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert statuses(frames)[-1] == "complete"


class TestFlushMode:
    """§5.2 continue/flush, §5.4 lifecycle, §9.2-9.3."""

    async def test_fragments_are_one_request(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            for word in ("Hello, ", "how ", "are ", "you"):
                await ws.send(frame(word, request_id="f", **{"continue": True}))
            await ws.send(
                frame("", request_id="f", flush=True, complete_backoff_ms=0, **{"continue": False})
            )
            frames = await until_complete(ws)
        assert describe(audio(frames)) == {tag_value("f"): [(0, pairs(4))]}

    async def test_flush_releases_buffer_before_the_request_ends(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(frame("no sentence end", request_id="f", **{"continue": True}))
            await ws.send(frame("", request_id="f", flush=True, **{"continue": True}))
            first = await recv(ws)
            assert first["status"] == "chunk"
            await ws.send(frame("", request_id="f", complete_backoff_ms=0, **{"continue": False}))
            frames = [first, *await until_complete(ws)]
        assert len(audio(frames)) == 3 * WORD_BYTES

    async def test_sentence_end_releases_without_flush(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(frame("First sentence. And more", request_id="f", **{"continue": True}))
            first = await recv(ws)
            assert first["status"] == "chunk"
            await ws.send(frame("", request_id="f", complete_backoff_ms=0, **{"continue": False}))
            frames = [first, *await until_complete(ws)]
        assert len(audio(frames)) == 4 * WORD_BYTES

    async def test_max_buffer_flush_ms_releases_buffered_text(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(
                frame("no end yet", request_id="f", max_buffer_flush_ms=50, **{"continue": True})
            )
            first = await recv(ws)  # arrives with no further client message
        assert first["status"] == "chunk"

    async def test_complete_waits_for_complete_backoff_and_a_burst_gets_one(
        self, smallest_server: Server
    ):
        """§9.2: back-to-back requests inside the backoff window → one complete (latest ids)."""
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a", request_id="b1", complete_backoff_ms=300))
            await ws.send(frame("b", request_id="b2", complete_backoff_ms=300))
            frames = await until_complete(ws)
        completes = [f for f in frames if f["status"] == "complete"]
        assert len(completes) == 1 and completes[0]["external_request_id"] == "b2"
        assert describe(audio(frames)) == {
            tag_value("b1"): [(0, pairs(1))],
            tag_value("b2"): [(0, pairs(1))],
        }

    async def test_empty_final_frame_produces_no_frames(self, smallest_server: Server):
        """§5.4: a final frame with nothing buffered produces nothing; the next one works."""
        async with await connect(smallest_server) as ws:
            await ws.send(frame("", request_id="empty", flush=True, **{"continue": False}))
            await ws.send(frame("   ", request_id="blank", complete_backoff_ms=0))
            await ws.send(frame("x", request_id="real", complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert {f.get("external_request_id") for f in frames} == {"real"}

    async def test_pipelined_requests_are_processed_in_order(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            for i in range(3):
                await ws.send(frame("w " * (i + 1), request_id=f"p{i}", complete_backoff_ms=100))
            frames = await until_complete(ws, value="p2")
        order = [f["external_request_id"] for f in frames if f["status"] == "chunk"]
        assert order == sorted(order)
        assert describe(audio(frames)) == {
            tag_value(f"p{i}"): [(0, pairs(i + 1))] for i in range(3)
        }


class TestWordTimestamps:
    """§5.3 word_timestamp frames, §9.6 time base."""

    async def test_words_are_verbatim_indexed_and_timed(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(
                frame(
                    "Pay $100 on the 25th",
                    word_timestamps=True,
                    request_id="w",
                    complete_backoff_ms=0,
                )
            )
            frames = await until_complete(ws)
        words = [f["data"] for f in frames if f["status"] == "word_timestamp"]
        assert [w["word"] for w in words] == ["Pay", "$100", "on", "the", "25th"]
        assert [w["id"] for w in words] == [0, 1, 2, 3, 4]
        assert words[0]["start"] == 0.0
        assert [w["start"] for w in words] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
        assert all(w["end"] > w["start"] for w in words)
        assert all(f["external_request_id"] == "w" for f in frames)

    async def test_no_word_frames_unless_asked(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a b c", complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert "word_timestamp" not in statuses(frames)

    async def test_times_restart_for_each_request(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            for rid in ("t1", "t2"):
                await ws.send(
                    frame("a b", word_timestamps=True, request_id=rid, complete_backoff_ms=0)
                )
                frames = await until_complete(ws, value=rid)
                starts = [f["data"]["start"] for f in frames if f["status"] == "word_timestamp"]
                assert starts == pytest.approx([0.0, 0.2])


class TestContinuations:
    """PROTOCOL.md §12: context_id, max_buffer_delay_ms, cancel_request."""

    async def test_interleaved_contexts_each_get_their_own_audio_and_complete(
        self, smallest_server: Server
    ):
        async with await connect(smallest_server) as ws:
            for word in ("one ", "two ", "three"):
                for ctx in ("c1", "c2"):
                    await ws.send(frame(word, context_id=ctx, request_id=ctx, **{"continue": True}))
            for ctx in ("c1", "c2"):
                await ws.send(
                    frame(
                        "",
                        context_id=ctx,
                        request_id=ctx,
                        complete_backoff_ms=0,
                        **{"continue": False},
                    )
                )
            frames: list[dict] = []
            done: set[str] = set()
            while done != {"c1", "c2"}:
                msg = await recv(ws)
                frames.append(msg)
                if msg["status"] == "complete":
                    assert msg["context_id"] not in done, "one complete per context"
                    done.add(msg["context_id"])
        for ctx in ("c1", "c2"):
            mine = [f for f in frames if f["context_id"] == ctx]
            assert all(f["external_request_id"] == ctx for f in mine)
            assert describe(audio(mine)) == {tag_value(ctx): [(0, pairs(3))]}
            assert mine[-1]["status"] == "complete"

    async def test_sentence_boundary_is_released_while_context_stays_open(
        self, smallest_server: Server
    ):
        async with await connect(smallest_server) as ws:
            await ws.send(
                frame("Hi there. Then", context_id="c", request_id="c", **{"continue": True})
            )
            first = await recv(ws)
            assert first["status"] == "chunk" and first["context_id"] == "c"
            await ws.send(
                frame(
                    " more",
                    context_id="c",
                    request_id="c",
                    complete_backoff_ms=0,
                    **{"continue": False},
                )
            )
            frames = [first, *await until_complete(ws, key="context_id", value="c")]
        # two releases, one contiguous run of the request's audio
        assert describe(audio(frames)) == {tag_value("c"): [(0, pairs(4))]}

    async def test_max_buffer_delay_releases_text_without_a_boundary(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(
                frame("no boundary", context_id="c", max_buffer_delay_ms=50, **{"continue": True})
            )
            first = await recv(ws)
        assert first["status"] == "chunk"

    @pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=50)
    async def test_cancel_request_stops_the_context_and_keeps_the_socket(
        self, smallest_server: Server
    ):
        async with await connect(smallest_server) as ws:
            await ws.send(
                frame("w " * 40, context_id="gone", request_id="gone", **{"continue": False})
            )  # 8 s of audio at real time
            first = await recv(ws)
            assert first["external_request_id"] == "gone"
            await ws.send(frame("", context_id="gone", request_id="gone", cancel_request=True))
            await ws.send(
                frame(
                    "next",
                    context_id="next",
                    request_id="next",
                    complete_backoff_ms=0,
                    **{"continue": False},
                )
            )
            frames = await until_complete(ws, value="next")
        # Only the chunks sent before the server read the cancel, never a complete: the
        # socket reads frames in order, so each of them comes before the next context's
        # first frame. (How many that is depends on how fast this loop sent the cancel: 1-2
        # idle, 8 on a loaded clean clone, so it is not counted.)
        starts = next(i for i, f in enumerate(frames) if f.get("context_id") == "next")
        gone = [(i, f["status"]) for i, f in enumerate(frames) if f.get("context_id") == "gone"]
        assert all(i < starts and status == "chunk" for i, status in gone), (starts, gone)
        assert describe(audio(frames, context_id="next")) == {tag_value("next"): [(0, pairs(1))]}
        assert smallest_server.stats.syntheses_cancelled == 1
        assert smallest_server.stats.ws_connections_total == 1

    async def test_text_for_a_closed_context_is_an_error(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(
                frame("a", context_id="c", complete_backoff_ms=500, **{"continue": False})
            )
            await ws.send(frame("b", context_id="c", **{"continue": False}))
            seen = []
            while True:
                msg = await recv(ws)
                seen.append(msg["status"])
                if msg["status"] == "complete":
                    break
        assert "error" in seen


class TestIdleTimeout:
    """§5.1: ``?timeout=N`` and the documented error frame."""

    async def test_idle_socket_gets_timeout_frame_and_close(self, smallest_server: Server):
        async with await connect(smallest_server, query="?timeout=1") as ws:
            msg = await recv(ws, timeout=5)
            assert msg["status"] == "error"
            assert msg["message"] == "Connection timed out after 1 seconds of inactivity"
            assert msg["error"]["message"] == msg["message"]
            with pytest.raises(websockets.ConnectionClosed):
                await recv(ws, timeout=5)
        assert ws.close_code == 1000

    async def test_messages_reset_the_idle_clock(self, smallest_server: Server):
        async with await connect(smallest_server, query="?timeout=1") as ws:
            for i in range(3):  # each round trip restarts the clock
                await ws.send(frame("x", request_id=f"k{i}", complete_backoff_ms=300))
                frames = await until_complete(ws)
                assert statuses(frames)[-1] == "complete"

    @pytest.mark.parametrize("value", ["0", "-3", "abc", "1.5", "%C2%B9"])
    async def test_bad_timeout_is_refused(self, smallest_server: Server, value: str):
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(smallest_server, query=f"?timeout={value}")
        assert info.value.response.status_code == 400


class TestErrorsAndBadInput:
    """§5.3 error frames (both shapes), §8; the socket and server survive bad input."""

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"text": None}, "text"),
            ({"voice_id": None}, "voice_id"),
            ({"model": "lightning-large"}, "model"),
            ({"sample_rate": 22050}, "sample_rate"),
            ({"speed": 3}, "speed"),
            ({"language": "xx"}, "language"),
            ({"text": "word " * 2000}, "text"),
            ({"request_id": "bad id!"}, "request_id"),
            ({"voice_id": "nobody"}, "voice_id"),
            ({"complete_backoff_ms": 20000}, "complete_backoff_ms"),
            ({"max_buffer_flush_ms": 5000}, "max_buffer_flush_ms"),
            ({"max_buffer_delay_ms": 9000}, "max_buffer_delay_ms"),
        ],
    )
    async def test_invalid_field_gets_error_frame_naming_it(
        self, smallest_server: Server, change: dict, field: str
    ):
        msg = {k: v for k, v in {**body("hello"), **change}.items() if v is not None}
        async with await connect(smallest_server) as ws:
            await ws.send(json.dumps(msg))
            err = await recv(ws)
            assert err["status"] == "error"
            assert f"'{field}'" in err["message"]
            assert err["error"]["message"] == err["message"] and err["error"]["code"]
            await ws.send(frame("still alive", complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert statuses(frames)[-1] == "complete"

    async def test_error_names_allowed_values(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(json.dumps({**body("x"), "sample_rate": 22050}))
            err = await recv(ws)
        assert "8000, 16000, 24000, 44100" in err["message"]

    async def test_error_frame_echoes_request_id(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(json.dumps({**body("x"), "speed": 9, "request_id": "e1"}))
            err = await recv(ws)
        assert err["external_request_id"] == "e1"

    async def test_malformed_json_frame(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send("{not json")
            err = await recv(ws)
            assert err["status"] == "error" and "JSON" in err["message"]
            await ws.send(frame("ok", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"

    async def test_binary_frame(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(b"\x00\x01\x02")
            err = await recv(ws)
            assert err["status"] == "error" and "Binary" in err["message"]
            await ws.send(frame("ok", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"

    async def test_one_megabyte_frame_closes_that_socket_only(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(json.dumps(body("x" * 1_000_000)))
            with pytest.raises(websockets.ConnectionClosed):
                await recv(ws)
        assert ws.close_code == 1009
        async with await connect(smallest_server) as ws:
            await ws.send(frame("next client", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"


class TestAuth:
    """§1 Bearer auth on the upgrade; §8 401/403."""

    @pytest.mark.parametrize("key", ["", "sk_wrong_key_123456"])
    async def test_bad_key_refuses_upgrade_with_401(self, smallest_server: Server, key: str):
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(smallest_server, key=key)
        assert info.value.response.status_code == 401
        assert json.loads(info.value.response.body)["error"] == "Unauthorized"
        assert smallest_server.stats.ws_connections_total == 0

    @pytest.mark.smallest_server(forbidden_keys=("sk_forbidden_key_1",))
    async def test_forbidden_key_gets_403(self, smallest_server: Server):
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(smallest_server, key="sk_forbidden_key_1")
        assert info.value.response.status_code == 403


class TestConcurrencyLimit:
    """§5.4/§9.10: the account limit across sockets; excess gets an error frame."""

    @pytest.mark.smallest_server(concurrency_limit=1, realtime_factor=1.0, chunk_ms=50)
    async def test_second_socket_over_the_limit_gets_error_frame(self, smallest_server: Server):
        async with await connect(smallest_server) as busy, await connect(smallest_server) as ws:
            await busy.send(frame("w " * 20, request_id="busy"))
            assert (await recv(busy))["status"] == "chunk"  # the unit is taken now
            await ws.send(frame("x", request_id="over"))
            err = await recv(ws)
        assert err["status"] == "error" and err["error"]["code"] == "CONCURRENCY_LIMIT"
        assert err["external_request_id"] == "over"
        assert smallest_server.stats.concurrency_rejections == 1


class TestFaults:
    """Every scripted WebSocket fault of smallest_local.faults."""

    async def test_refuse_upgrade(self, smallest_server: Server):
        smallest_server.faults.refuse_upgrade(503, retry_after=2)
        with pytest.raises(websockets.InvalidStatus) as info:
            await connect(smallest_server)
        assert info.value.response.status_code == 503
        assert info.value.response.headers["Retry-After"] == "2"
        async with await connect(smallest_server) as ws:  # only once
            await ws.send(frame("x", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"

    @pytest.mark.parametrize("code", [1011, 1013, 1001])
    async def test_close_after_n_chunks_with_code(self, smallest_server: Server, code: int):
        smallest_server.faults.close_after(2, code=code)
        async with await connect(smallest_server) as ws:
            await ws.send(frame("w " * 10, complete_backoff_ms=0))
            got = []
            with pytest.raises(websockets.ConnectionClosed) as info:
                while True:
                    got.append(await recv(ws))
        assert statuses(got) == ["chunk", "chunk"]
        assert info.value.rcvd is not None and info.value.rcvd.code == code

    async def test_abort_after_n_chunks(self, smallest_server: Server):
        smallest_server.faults.abort_after(1)
        async with await connect(smallest_server) as ws:
            await ws.send(frame("w " * 10, complete_backoff_ms=0))
            got = []
            with pytest.raises(websockets.ConnectionClosedError) as info:
                while True:
                    got.append(await recv(ws))
        assert statuses(got) == ["chunk"]
        assert info.value.rcvd is None  # no close frame: TCP dropped

    async def test_a_frozen_socket_does_not_hold_the_server_open(self):
        # a FREEZE holds its socket for a minute; stopping the server must not wait for
        # it (stop() gives its thread 10 s, then leaves it running: a leaked server)
        server = Server(engine="tone")
        before = set(threading.enumerate())
        server.start()
        [thread] = [t for t in threading.enumerate() if t not in before]
        try:
            server.faults.freeze(after_chunks=1, seconds=60)
            ws = await connect(server)
            await ws.send(frame("w " * 10, complete_backoff_ms=0))
            assert (await recv(ws))["status"] == "chunk"  # then the socket freezes
        finally:
            await asyncio.to_thread(server.stop)
        assert not thread.is_alive()
        with pytest.raises(websockets.ConnectionClosed):  # dropped, not left hanging
            await asyncio.wait_for(ws.recv(), 10)

    async def test_error_frame_instead_of_audio(self, smallest_server: Server):
        smallest_server.faults.error_frame("voice unavailable", code="VOICE_ERROR", request_id="e")
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a b", request_id="e", complete_backoff_ms=0))
            err = await recv(ws)
            assert err["status"] == "error" and err["external_request_id"] == "e"
            assert err["error"] == {"code": "VOICE_ERROR", "message": "voice unavailable"}
            assert err["message"] == "voice unavailable"
            await ws.send(frame("ok", request_id="f", complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert {f["external_request_id"] for f in frames} == {"f"}

    async def test_fault_targets_only_its_request_id(self, smallest_server: Server):
        smallest_server.faults.error_frame(request_id="target")
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a", request_id="other", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"
            await ws.send(frame("a", request_id="target", complete_backoff_ms=0))
            assert (await recv(ws))["status"] == "error"

    async def test_malformed_frame_then_normal_service(self, smallest_server: Server):
        smallest_server.faults.malformed_frame(after_chunks=1)
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a b", complete_backoff_ms=0))
            raw = []
            async with asyncio.timeout(10):
                while True:
                    msg = await ws.recv()
                    raw.append(msg)
                    if '"complete"' in msg:
                        break
        bad = [m for m in raw if not m.endswith("}")]
        assert len(bad) == 1
        with pytest.raises(json.JSONDecodeError):
            json.loads(bad[0])
        assert raw.index(bad[0]) == 1

    async def test_binary_frame_from_server(self, smallest_server: Server):
        smallest_server.faults.binary_frame()
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a", complete_backoff_ms=0))
            first = await ws.recv()
        assert isinstance(first, bytes)

    async def test_stall_holds_audio_until_the_client_leaves(self, smallest_server: Server):
        smallest_server.faults.stall(after_chunks=1)
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a b c", complete_backoff_ms=0))
            assert (await recv(ws))["status"] == "chunk"
            with pytest.raises(TimeoutError):
                await recv(ws, timeout=0.3)
        # the server is still serving others
        async with await connect(smallest_server) as ws:
            await ws.send(frame("ok", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"

    async def test_timed_stall_then_the_rest(self, smallest_server: Server):
        smallest_server.faults.stall(after_chunks=1, seconds=0.2)
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a b c", request_id="s", complete_backoff_ms=0))
            frames = await until_complete(ws)
        assert describe(audio(frames)) == {tag_value("s"): [(0, pairs(3))]}

    async def test_close_after_every_complete(self, smallest_server: Server):
        smallest_server.faults.close_after_complete(times=None)
        for _ in range(2):
            async with await connect(smallest_server) as ws:
                await ws.send(frame("a", complete_backoff_ms=0))
                assert statuses(await until_complete(ws))[-1] == "complete"
                with pytest.raises(websockets.ConnectionClosedOK):
                    await recv(ws)
            assert ws.close_code == 1000
        assert smallest_server.stats.ws_connections_total == 2

    async def test_idle_close_fault(self, smallest_server: Server):
        smallest_server.faults.idle_close(0.2)
        async with await connect(smallest_server) as ws:
            msg = await recv(ws)
        assert msg["status"] == "error" and "inactivity" in msg["message"]

    async def test_idle_clock_counts_client_messages_only(self, smallest_server: Server):
        """§5.1: a synthesis outlasting the timeout after the last message loses its socket."""
        smallest_server.set_latency(realtime_factor=1.0, chunk_ms=20)
        smallest_server.faults.idle_close(0.2)
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a b c", complete_backoff_ms=0))  # 600 ms of audio, paced
            frames = []
            with pytest.raises(websockets.ConnectionClosedOK):
                while True:
                    frames.append(await recv(ws))
        assert "complete" not in statuses(frames)
        assert "inactivity" in frames[-1]["message"]
        assert 0 < len(audio(frames)) < 3 * WORD_BYTES

    async def test_idle_close_between_requests_spares_a_busy_socket(self, smallest_server: Server):
        """``between_requests``: the same paced synthesis completes, then the socket idles out."""
        smallest_server.set_latency(realtime_factor=1.0, chunk_ms=20)
        smallest_server.faults.idle_close(0.2, between_requests=True)
        async with await connect(smallest_server) as ws:
            await ws.send(frame("a b c", complete_backoff_ms=0))
            frames = await until_complete(ws)
            assert len(audio(frames)) == 3 * WORD_BYTES
            msg = await recv(ws)
        assert msg["status"] == "error" and "inactivity" in msg["message"]
        assert ws.close_code == 1000

    async def test_fault_fires_only_times(self, smallest_server: Server):
        fault = smallest_server.faults.error_frame(times=2)
        async with await connect(smallest_server) as ws:
            for _ in range(2):
                await ws.send(frame("a", complete_backoff_ms=0))
                assert (await recv(ws))["status"] == "error"
            await ws.send(frame("a", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"
        assert fault.fired == 2


class TestLatencyModel:
    """The latency model shapes timing without changing content."""

    async def test_first_chunk_delay_and_realtime_pacing(self, smallest_server: Server):
        smallest_server.set_latency(first_chunk_ms=100, realtime_factor=1.0, chunk_ms=100)
        loop = asyncio.get_running_loop()
        async with await connect(smallest_server) as ws:
            start = loop.time()
            await ws.send(frame("a b", complete_backoff_ms=0))  # 400 ms of audio
            first = await recv(ws)
            t_first = loop.time() - start
            frames = [first, *await until_complete(ws)]
            t_done = loop.time() - start
        assert len(audio(frames)) == 2 * WORD_BYTES
        # Lower bounds only (timing upper bounds belong in bench/): the server did wait.
        assert t_first >= 0.1
        assert t_done >= 0.1 + 0.3


class TestOptionalFields:
    """§1 content expiry on the upgrade, §2 optional fields, §7/§9.8 pronunciation dicts."""

    async def test_expire_content_header_on_upgrade_is_accepted(self, smallest_server: Server):
        async with websockets.connect(
            f"{smallest_server.ws_url}/waves/v1/tts/live",
            additional_headers={"Authorization": f"Bearer {smallest_server.api_key}",
                                "x-expire-content": "true", "X-Source": "tests"},
        ) as ws:  # fmt: skip
            await ws.send(frame("x", complete_backoff_ms=0))
            assert statuses(await until_complete(ws))[-1] == "complete"

    async def test_number_language_and_math_notation_are_accepted(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(frame("5 x 3", number_pronunciation_language="hi", math_notation=True,
                                language="auto", complete_backoff_ms=0))  # fmt: skip
            assert statuses(await until_complete(ws))[-1] == "complete"

    async def test_pronunciation_dicts_are_honoured_on_ws(self, smallest_server: Server):
        assert smallest_server.state.store is not None
        d = smallest_server.state.store.create_dict([("AI", "artificial intelligence")])
        async with await connect(smallest_server) as ws:
            await ws.send(frame("AI rocks", pronunciation_dicts=[d["id"]], request_id="d",
                                complete_backoff_ms=0))  # fmt: skip
            frames = await until_complete(ws)
        assert len(audio(frames)) == 3 * WORD_BYTES  # "artificial intelligence rocks"
