"""``smallest_local`` under attack (issue 7): every attack gets its documented answer, the
server's work and memory stay bounded, and a normal request is served promptly after.

Real sockets only: ``websockets``/``httpx`` for clients that behave, a raw TCP socket for a
client that never reads (it does the WebSocket handshake by hand, then stops reading).
Each test also checks that the server logged no traceback.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
import re
import select
import socket
import struct
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from smallest_local import Server
from smallest_local.engines import describe, tag_value
from smallest_local.synth import PronunciationIndex
from smallest_local.wire import ECHO_CHARS, MAX_JSON_DEPTH

from .wsclient import (
    RATE,
    TLS,
    TTS_PATH,
    WS_PATH,
    audio,
    auth,
    body,
    connect,
    frame,
    recv,
    until_complete,
)

DICTS = "/waves/v1/pronunciation-dicts"
WORD_BYTES = RATE * 2 // 5  # tone engine: 200 ms per word
PROMPT_S = 2.0  # "served promptly": a one-word request, end to end, on a loaded CI box
MB = 1024 * 1024


# -- helpers -----------------------------------------------------------------------------------
@pytest.fixture(autouse=True)
def no_tracebacks(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """No attack may make the server log a traceback (the issue's 'done when')."""
    caplog.set_level(logging.INFO)
    yield
    tracebacks = [r for r in caplog.records if r.exc_info]
    assert not tracebacks, [r.getMessage() for r in tracebacks]


async def assert_served(server: Server) -> None:
    """A normal WS request and a normal HTTP request both complete within PROMPT_S."""
    async with asyncio.timeout(PROMPT_S):
        async with await connect(server) as ws:
            await ws.send(frame("fine", request_id="ok", complete_backoff_ms=0))
            frames = await until_complete(ws, value="ok")
        assert describe(audio(frames)) == {tag_value("ok"): [(0, WORD_BYTES // 4)]}
        async with httpx.AsyncClient(
            verify=TLS, base_url=server.http_url, timeout=PROMPT_S
        ) as client:
            r = await client.post(
                TTS_PATH, json=body("fine", request_id="okh"), headers=auth(server.api_key)
            )
        assert r.status_code == 200 and len(r.content) == WORD_BYTES


def http(server: Server, method: str, path: str, **kwargs: Any) -> httpx.Response:
    with httpx.Client(
        verify=TLS, base_url=server.http_url, headers=auth(server.api_key), timeout=10
    ) as c:
        return c.request(method, path, **kwargs)


def make_dict(server: Server, items: list[tuple[str, str]]) -> str:
    payload = {"items": [{"word": w, "pronunciation": p} for w, p in items]}
    r = http(server, "POST", DICTS, json=payload)
    assert r.status_code == 200, r.text
    return r.json()["id"]


async def error_frame(ws: Any) -> dict[str, Any]:
    msg = await recv(ws)
    assert msg["status"] == "error", msg
    return msg


def rss_kib(field: str = "VmRSS") -> int:
    status = open("/proc/self/status").read()  # noqa: SIM115 - tiny procfs read
    match = re.search(rf"{field}:\s+(\d+)", status)
    assert match
    return int(match.group(1))


def reset_peak_rss() -> None:
    """Start a new VmHWM (peak RSS) measurement (Linux ``clear_refs`` 5)."""
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")


def peak_growth_mb(before_kib: int) -> float:
    return (rss_kib("VmHWM") - before_kib) / 1024


# -- a raw client that stops reading -----------------------------------------------------------
def _masked(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x80 | opcode, 0x80 | n])
    elif n < 65536:
        head = bytes([0x80 | opcode, 0x80 | 126]) + struct.pack("!H", n)
    else:
        head = bytes([0x80 | opcode, 0x80 | 127]) + struct.pack("!Q", n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def _raw_socket(server: Server) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a small window, set before connect
    sock.settimeout(10)
    sock.connect(("127.0.0.1", server.port))
    return sock


def _read_head(sock: socket.socket) -> bytes:
    head = b""
    while b"\r\n\r\n" not in head:  # byte by byte: nothing after the headers is consumed
        byte = sock.recv(1)
        assert byte, head
        head += byte
    return head


def raw_ws(server: Server, query: str = "") -> socket.socket:
    """A WebSocket opened by hand; after the 101 it reads nothing unless told to."""
    sock = _raw_socket(server)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {WS_PATH}{query} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
            f"Authorization: Bearer {server.api_key}\r\n\r\n"
        ).encode()
    )
    head = _read_head(sock)
    assert head.startswith(b"HTTP/1.1 101"), head
    return sock


def raw_post(server: Server, payload: dict[str, Any]) -> socket.socket:
    """A sync TTS POST whose response is never read."""
    sock = _raw_socket(server)
    data = json.dumps(payload).encode()
    sock.sendall(
        (
            f"POST {TTS_PATH} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
            f"Authorization: Bearer {server.api_key}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        ).encode()
        + data
    )
    return sock


def wait_hangup(sock: socket.socket, timeout: float) -> float:
    """Block (without reading) until the server closes or resets the connection."""
    poller = select.poll()
    poller.register(sock, select.POLLRDHUP | select.POLLHUP | select.POLLERR)
    start = time.monotonic()
    events = poller.poll(timeout * 1000)
    assert events, f"the server kept the connection of a non-reading client for {timeout} s"
    return time.monotonic() - start


def drain_to_end(sock: socket.socket) -> None:
    """Read what is left; the connection must end (EOF or reset), not hang."""
    sock.settimeout(5)
    try:
        while sock.recv(1 << 16):
            pass
    except ConnectionResetError:
        pass


LONG = "w " * 1500  # 1500 words: 300 s of tone audio, 14 MB of PCM at 24 kHz


# -- 1. unbounded work from a small request ----------------------------------------------------
class TestExpansion:
    @pytest.fixture
    def two_level(self, smallest_server: Server) -> tuple[str, str]:
        """``aa`` → 100 × ``bb``, ``bb`` → 100 × ``cc`` (in one dictionary and across two)."""
        one = make_dict(smallest_server, [("aa", "bb " * 100), ("bb", "cc " * 100)])
        first = make_dict(smallest_server, [("aa", "bb " * 100)])
        second = make_dict(smallest_server, [("bb", "cc " * 100)])
        return one, f"{first},{second}"

    @pytest.mark.parametrize("which", [0, 1], ids=["one-dict", "two-dicts"])
    async def test_expansions_are_not_re_expanded(
        self, smallest_server: Server, two_level: tuple[str, str], which: int
    ):
        dicts = two_level[which].split(",")
        reset_peak_rss()
        before = rss_kib()
        r = http(
            smallest_server,
            "POST",
            TTS_PATH,
            json=body("aa aa aa aa aa", pronunciation_dicts=dicts),
        )
        assert r.status_code == 200
        assert len(r.content) == 500 * WORD_BYTES  # 5 × 100 "bb", never 50,000 "cc"
        assert peak_growth_mb(before) < 100
        await assert_served(smallest_server)

    async def test_text_over_the_limit_after_dictionaries_is_refused(
        self, smallest_server: Server, two_level: tuple[str, str]
    ):
        dicts = two_level[0].split(",")
        text = "aa " * 100  # 300 characters that would speak 30,000
        reset_peak_rss()
        before = rss_kib()
        r = http(smallest_server, "POST", TTS_PATH, json=body(text, pronunciation_dicts=dicts))
        assert r.status_code == 400
        assert "'text'" in r.json()["message"] and "after pronunciation" in r.json()["message"]
        async with await connect(smallest_server) as ws:
            await ws.send(frame(text, pronunciation_dicts=dicts, request_id="x"))
            err = await error_frame(ws)
        assert "'text'" in err["message"] and err["external_request_id"] == "x"
        assert peak_growth_mb(before) < 100
        assert smallest_server.stats.frames_sent == 1  # the error, no audio
        await assert_served(smallest_server)

    async def test_continue_fragments_count_together(self, smallest_server: Server):
        fragment = "w " * 2499  # 4998 characters, no sentence end: all stays buffered
        async with await connect(smallest_server) as ws:
            await ws.send(frame(fragment, request_id="big", **{"continue": True}))
            await ws.send(frame(fragment, request_id="big", **{"continue": True}))
            err = await error_frame(ws)
            assert err["external_request_id"] == "big"
            assert "'text'" in err["message"] and "9996" in err["message"]
            await ws.send(frame(fragment, context_id="ctx", **{"continue": True}))
            await ws.send(frame(fragment, context_id="ctx", **{"continue": True}))
            err = await error_frame(ws)
            assert err["context_id"] == "ctx" and "'text'" in err["message"]
            await ws.send(frame("ok", request_id="after", complete_backoff_ms=0))
            frames = await until_complete(ws, value="after")
        assert all(f["status"] != "chunk" or f["external_request_id"] == "after" for f in frames)
        assert smallest_server.stats.syntheses_started == 1  # only "after" was synthesized
        await assert_served(smallest_server)

    async def test_a_big_dictionary_costs_one_pass(self, smallest_server: Server):
        items = [(f"word{i}", f"said{i}") for i in range(10_000)]
        dict_id = make_dict(smallest_server, items)
        text = " ".join(f"word{i * 7}" for i in range(500))  # ~4300 characters
        async with httpx.AsyncClient(
            verify=TLS, base_url=smallest_server.http_url, timeout=10
        ) as client:
            start = time.process_time()  # CPU (the server is this process's thread):
            r = await client.post(  # a loaded machine stretches wall time, not work
                TTS_PATH,
                json=body(text, pronunciation_dicts=[dict_id]),
                headers=auth(smallest_server.api_key),
            )
            elapsed = time.process_time() - start
        assert r.status_code == 200 and len(r.content) == 500 * WORD_BYTES
        assert elapsed < 1.5  # 10,000 re.sub calls over 5000 characters took seconds
        await assert_served(smallest_server)

    def test_upload_limits(self, smallest_server: Server):
        too_many = [{"word": f"w{i}", "pronunciation": "x"} for i in range(10_001)]
        r = http(smallest_server, "POST", DICTS, json={"items": too_many})
        assert r.status_code == 400
        assert r.json()["details"][0]["code"] == "too_big"
        assert r.json()["details"][0]["path"] == ["items"]
        long_word = [{"word": "w" * 101, "pronunciation": "x"}]
        r = http(smallest_server, "POST", DICTS, json={"items": long_word})
        assert r.status_code == 400 and r.json()["details"][0]["path"] == ["items", 0, "word"]
        long_said = [{"word": "w", "pronunciation": "x" * 501}]
        r = http(smallest_server, "PUT", DICTS, json={"id": "nope", "items": long_said})
        assert r.status_code == 400
        assert r.json()["details"][0]["path"] == ["items", 0, "pronunciation"]


class TestPronunciationIndex:
    """The one-pass dictionary semantics the server promises (§7)."""

    def test_whole_words_case_insensitive_longest_first_literal(self):
        index = PronunciationIndex(
            [("new york", "nyc"), ("new", "old"), ("SQL", r"se\1quel"), ("new", "ignored")]
        )
        text = "New York is new; renew sql, SQLite. $new"
        assert index.apply(text) == r"nyc is old; renew se\1quel, SQLite. $old"

    def test_replacements_are_not_rescanned(self):
        index = PronunciationIndex([("a", "b b"), ("b", "c")])
        assert index.apply("a b") == "b b c"


# -- 2. clients that never read ----------------------------------------------------------------
class TestNonReadingClients:
    @pytest.mark.smallest_server(write_timeout_s=0.5, concurrency_limit=1)
    async def test_ws_client_that_never_reads_is_dropped_and_its_slot_freed(
        self, smallest_server: Server
    ):
        reset_peak_rss()
        before = rss_kib()
        sock = raw_ws(smallest_server)
        try:
            sock.sendall(_masked(0x1, frame(LONG, request_id="stuck").encode()))
            elapsed = await asyncio.to_thread(wait_hangup, sock, 10)
            drain_to_end(sock)
        finally:
            sock.close()
        assert elapsed < 0.5 + 1.0 + 2.0  # write timeout + close grace + scheduling slack
        assert smallest_server.stats.slow_clients_dropped == 1
        assert peak_growth_mb(before) < 150
        await assert_served(smallest_server)  # concurrency_limit=1: the unit was freed

    @pytest.mark.smallest_server(write_timeout_s=0.5, concurrency_limit=1)
    async def test_http_client_that_never_reads_is_dropped_and_its_slot_freed(
        self, smallest_server: Server
    ):
        sock = raw_post(smallest_server, body(LONG, request_id="stuck"))
        try:
            elapsed = await asyncio.to_thread(wait_hangup, sock, 10)
            drain_to_end(sock)
        finally:
            sock.close()
        assert elapsed < 0.5 + 2.0
        assert smallest_server.stats.slow_clients_dropped == 1
        await assert_served(smallest_server)

    @pytest.mark.smallest_server(write_timeout_s=60, concurrency_limit=1)
    async def test_idle_timeout_fires_while_a_send_is_blocked(self, smallest_server: Server):
        sock = raw_ws(smallest_server, "?timeout=1")
        try:
            sock.sendall(_masked(0x1, frame(LONG, request_id="stuck").encode()))
            elapsed = await asyncio.to_thread(wait_hangup, sock, 10)
            drain_to_end(sock)
        finally:
            sock.close()
        assert elapsed < 1 + 2 * 1.0 + 2.0  # idle + frame and close graces + slack
        assert smallest_server.stats.slow_clients_dropped == 0  # it was the idle timeout
        await assert_served(smallest_server)


# -- 3. one bad request must not kill a socket -------------------------------------------------
class TestNoDeadSockets:
    async def test_lone_surrogate_is_refused_and_the_socket_serves_on(
        self, smallest_server: Server
    ):
        raw = json.dumps(body("\ud800 hi", request_id="bad"))  # json escapes it as \\ud800
        async with await connect(smallest_server) as ws:
            await ws.send(raw)
            err = await error_frame(ws)
            assert "'text'" in err["message"] and "surrogate" in err["message"]
            await ws.send(frame("ok", request_id="ok2", complete_backoff_ms=0))
            frames = await until_complete(ws, value="ok2")
        assert describe(audio(frames)) == {tag_value("ok2"): [(0, WORD_BYTES // 4)]}
        r = http(
            smallest_server,
            "POST",
            TTS_PATH,
            content=raw.encode(),
            headers={"Content-Type": "application/json"},
        )
        assert r.status_code == 400 and "surrogate" in r.json()["message"]
        await assert_served(smallest_server)

    async def test_backslash_pronunciation_is_literal(self, smallest_server: Server):
        dict_id = make_dict(smallest_server, [("x", r"a\1 b\g<0>")])
        async with await connect(smallest_server) as ws:
            await ws.send(frame("x", pronunciation_dicts=[dict_id], request_id="d"))
            await ws.send(frame("ok", request_id="after", complete_backoff_ms=0))
            frames = await until_complete(ws, value="after")
        assert len(audio(frames, external_request_id="d")) == 2 * WORD_BYTES
        assert len(audio(frames, external_request_id="after")) == WORD_BYTES
        await assert_served(smallest_server)

    @pytest.mark.parametrize("mode", ["flush", "context"])
    async def test_a_failing_synthesis_is_an_error_frame_and_the_socket_serves_on(
        self,
        smallest_server: Server,
        monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture,
        mode: str,
    ):
        engine = smallest_server.state.engine
        real = engine.synthesize

        def failing(text: str, **kwargs: Any) -> Any:
            if "boom" in text:
                raise RuntimeError("engine exploded")
            return real(text, **kwargs)

        monkeypatch.setattr(engine, "synthesize", failing)
        extra = {"context_id": "c1"} if mode == "context" else {}
        async with await connect(smallest_server) as ws:
            await ws.send(frame("boom", request_id="r1", complete_backoff_ms=0, **extra))
            err = await error_frame(ws)
            await ws.send(frame("fine", request_id="r2", complete_backoff_ms=0))
            frames = await until_complete(ws, value="r2")
        assert err["external_request_id"] == "r1" and err["error"]["code"] == "INTERNAL_ERROR"
        assert describe(audio(frames)) == {tag_value("r2"): [(0, WORD_BYTES // 4)]}
        logged = [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert len(logged) == 1 and "r1" in logged[0].getMessage()
        assert smallest_server.stats.internal_errors == 1
        r = http(smallest_server, "POST", TTS_PATH, json=body("boom"))
        assert r.status_code == 500 and r.json()["error"] == "InternalServerError"
        await assert_served(smallest_server)


# -- 4.-6. strict types, nesting, numbers, echoes, open contexts -------------------------------
class TestStrictInput:
    @pytest.mark.parametrize("fmt", ["wav", "mp3", "pcm"])
    @pytest.mark.parametrize("rate", [24000.0, True, "24000"])
    def test_sample_rate_must_be_an_integer(self, smallest_server: Server, fmt: str, rate: Any):
        r = http(
            smallest_server, "POST", TTS_PATH, json=body("hi", sample_rate=rate, output_format=fmt)
        )
        assert r.status_code == 400 and "'sample_rate'" in r.json()["message"]

    async def test_sample_rate_float_on_ws(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(frame("hi", sample_rate=24000.0))
            err = await error_frame(ws)
        assert "'sample_rate'" in err["message"]
        await assert_served(smallest_server)

    @pytest.mark.parametrize(
        "raw",
        [
            "[" * 100_000,
            '{"a":' * 50_000,  # 250 kB: under the WS frame limit
            '{"text": "hi", "voice_id": "meher", "x": ' + "[" * 33 + "]" * 33 + "}",
            '{"text": "hi", "voice_id": "meher", "speed": 1' + "0" * 5000 + "}",
            '{"text": "hi", "voice_id": "meher", "speed": 1e999}',
            '{"text": "hi", "voice_id": "meher", "speed": NaN}',
        ],
        ids=["deep-array", "deep-object", "depth-34", "5000-digit", "1e999", "NaN"],
    )
    async def test_hostile_json_is_a_400_and_an_error_frame(
        self, smallest_server: Server, raw: str
    ):
        headers = {"Content-Type": "application/json"}
        for path in (TTS_PATH, WS_PATH):  # sync and SSE
            r = http(smallest_server, "POST", path, content=raw.encode(), headers=headers)
            assert r.status_code == 400, r.text
            assert "JSON" in r.json()["message"]
        r = http(smallest_server, "POST", DICTS, content=raw.encode(), headers=headers)
        assert r.status_code == 400 and "Malformed JSON" in r.json()["details"][0]["message"]
        async with await connect(smallest_server) as ws:
            await ws.send(raw)
            err = await error_frame(ws)
            assert "JSON" in err["message"]
            await ws.send(frame("ok", request_id="same", complete_backoff_ms=0))
            await until_complete(ws, value="same")  # the same socket serves on
        await assert_served(smallest_server)

    def test_depth_limit_is_exact(self, smallest_server: Server):
        nested: Any = 1
        for _ in range(MAX_JSON_DEPTH - 1):
            nested = [nested]
        r = http(smallest_server, "POST", TTS_PATH, json=body("hi", x=nested))
        assert r.status_code == 200  # object + 31 arrays = 32 levels

    @pytest.mark.parametrize("timeout", ["9" * 5000, "9" * 400, "86401", "0", "1.5"])
    def test_absurd_idle_timeouts_are_a_400(self, smallest_server: Server, timeout: str):
        r = httpx.get(
            f"{smallest_server.http_url}{WS_PATH}?timeout={timeout}",
            headers={
                **auth(smallest_server.api_key),
                "Upgrade": "websocket",
                "Connection": "Upgrade",
                "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
                "Sec-WebSocket-Version": "13",
            },
            verify=TLS,
        )
        assert r.status_code == 400 and "'timeout'" in r.json()["message"]
        assert len(r.json()["message"]) < 200

    async def test_unknown_voice_is_echoed_short(self, smallest_server: Server):
        voice = "v" * 200_000
        r = http(smallest_server, "POST", TTS_PATH, json={"text": "hi", "voice_id": voice})
        assert r.status_code == 400 and "'voice_id'" in r.json()["message"]
        assert len(r.content) < 300
        async with await connect(smallest_server) as ws:
            await ws.send(json.dumps({"text": "hi", "voice_id": "v" * 200_000}))
            err = await error_frame(ws)
        assert "'voice_id'" in err["message"] and len(json.dumps(err)) < 500
        assert "v" * (ECHO_CHARS + 1) not in err["message"]
        await assert_served(smallest_server)

    def test_big_bodies_and_documents_are_refused_cheaply(self, smallest_server: Server):
        r = http(smallest_server, "POST", TTS_PATH, json=body("hi", junk="z" * 1_000_000))
        assert r.status_code == 400 and "too large" in r.json()["message"]
        # CPU seconds of this process (the server is its thread), not wall time: a loaded
        # machine stretches the wall clock, not the work (~1.3 s here, client included)
        start = time.process_time()
        r = http(smallest_server, "POST", DICTS, json={"items": [1] * 1_000_000})  # 3 MB
        assert r.status_code == 400 and "values" in r.json()["details"][0]["message"]
        assert time.process_time() - start < 5.0  # bounded walk; unbounded took far longer

    def test_no_field_is_echoed_whole(self, smallest_server: Server):
        for name in ("model", "language", "speed", "word_timestamps", "request_id"):
            r = http(smallest_server, "POST", TTS_PATH, json=body("hi", **{name: "z" * 100_000}))
            assert r.status_code == 400 and f"'{name}'" in r.json()["message"]
            assert len(r.content) < 400, name

    @pytest.mark.smallest_server(max_open_requests=4)
    async def test_open_contexts_per_socket_are_capped(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            for i in range(4):
                await ws.send(frame("w", context_id=f"c{i}", **{"continue": True}))
            await ws.send(frame("w", context_id="c4", **{"continue": True}))
            err = await error_frame(ws)
            assert err["error"]["code"] == "TOO_MANY_REQUESTS" and err["context_id"] == "c4"
            # cancelling one makes room again
            await ws.send(frame("", context_id="c0", cancel_request=True))
            await ws.send(frame("ok", context_id="c5", request_id="c5", complete_backoff_ms=0))
            frames = await until_complete(ws, value="c5")
        assert describe(audio(frames, external_request_id="c5")) == {
            tag_value("c5"): [(0, WORD_BYTES // 4)]
        }
        await assert_served(smallest_server)

    async def test_thousands_of_empty_contexts_stay_bounded(self, smallest_server: Server):
        reset_peak_rss()
        before = rss_kib()
        async with await connect(smallest_server) as ws:
            for i in range(2000):
                await ws.send(frame("", context_id=f"c{i}", **{"continue": True}))
            errors = 0
            while errors < 2000 - 128:  # the default cap: 128 open per socket
                msg = await error_frame(ws)
                assert msg["error"]["code"] == "TOO_MANY_REQUESTS"
                errors += 1
        assert peak_growth_mb(before) < 50
        await assert_served(smallest_server)
