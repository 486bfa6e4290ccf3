"""``smallest-local serve``: prints its URLs, serves, and stops cleanly on SIGINT/SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys

import httpx
import pytest
import websockets

from .wsclient import TLS, TTS_PATH, WS_PATH, auth, body, frame, recv

KEY = "sk_cli_test_key_01"


def start(*args: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallest_local.cli", "serve", "--port", "0", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "SMALLEST_LOCAL_API_KEYS": KEY},
    )
    assert proc.stdout is not None
    for line in proc.stdout:  # blocks until the server announces itself (or exits)
        match = re.search(r"(http://\S+?)/waves/v1/tts", line)
        if match:
            return proc, match.group(1)
    proc.wait(timeout=10)
    raise AssertionError(f"server exited: {proc.stderr.read() if proc.stderr else ''}")


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_serve_prints_urls_serves_and_stops_cleanly(tmp_path, sig):
    proc, base = start("--engine", "tone", "--db", str(tmp_path / "db.sqlite3"))
    try:
        r = httpx.post(
            base + TTS_PATH, json=body("hello there"), headers=auth(KEY), verify=TLS, timeout=10
        )
        assert r.status_code == 200 and len(r.content) == 2 * 2 * 4800
        assert (
            httpx.post(base + TTS_PATH, json=body("x"), verify=TLS, timeout=10).status_code == 401
        )
    finally:
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=15)
    assert proc.returncode == 0, err
    assert "stopped" in out


def test_port_in_use_is_a_clear_error():
    proc, base = start("--engine", "tone", "--db", ":memory:")
    try:
        port = base.rsplit(":", 1)[1]
        second = subprocess.run(
            [
                sys.executable,
                "-m",
                "smallest_local.cli",
                "serve",
                "--port",
                port,
                "--db",
                ":memory:",
            ],
            capture_output=True,
            text=True,
            timeout=30,
        )
        assert second.returncode == 1
        assert "cannot serve" in second.stderr
    finally:
        proc.terminate()
        proc.communicate(timeout=15)


async def test_dialect_flags_reach_the_websocket():
    proc, base = start("--engine", "tone", "--db", ":memory:", "--dialect", "release-bare")
    try:
        async with websockets.connect(
            base.replace("http", "ws", 1) + WS_PATH, additional_headers=auth(KEY)
        ) as ws:
            await ws.send(frame("One. Two.", context_id="c", complete_backoff_ms=0))
            frames = []
            while sum(f["status"] == "complete" for f in frames) < 2:
                frames.append(await recv(ws))
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    assert len({f["request_id"] for f in frames}) == 2  # one server request per release
    assert all("context_id" not in f for f in frames)


async def test_chunk_log_records_each_chunk_before_it_is_written(tmp_path):
    """``--chunk-log``: benchmarks in another process compare these times to their own."""
    import time

    path = tmp_path / "chunks.log"
    proc, base = start(
        "--engine", "tone", "--db", ":memory:", "--chunk-ms", "100", "--chunk-log", str(path)
    )
    try:
        async with websockets.connect(
            base.replace("http", "ws", 1) + WS_PATH, additional_headers=auth(KEY)
        ) as ws:
            before = time.perf_counter_ns()
            await ws.send(frame("one two three", request_id="logged"))
            frames = []
            while not frames or frames[-1]["status"] != "complete":
                frames.append(await recv(ws))
            after = time.perf_counter_ns()
    finally:
        proc.terminate()
        proc.communicate(timeout=15)
    lines = [line.split() for line in path.read_text().splitlines()]
    chunks = [f for f in frames if f["status"] == "chunk"]
    assert len(lines) == len(chunks) == 6  # 0.6 s of tone audio in 100 ms chunks
    assert [rid for rid, _, _ in lines] == ["logged"] * 6
    assert [int(n) for _, n, _ in lines] == [i * 2400 for i in range(6)]  # samples before
    assert all(before <= int(t) <= after for _, _, t in lines)  # one clock across processes
