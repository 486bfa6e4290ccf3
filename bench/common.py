"""Shared bits of the benchmarks: a server in its own process, percentiles, the official
LiveKit plugin pointed at a local server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

KEY = "sk_bench_key_0001"


def official_livekit_tts(http: str, ws: str, session: Any, sample_rate: int, **kw: Any) -> Any:
    """``livekit-plugins-smallestai``'s TTS against a local server's base URLs (it wants
    the API's ``/waves/v1`` prefix and the full WebSocket path). Imported here, not at the
    top: the Pipecat benchmarks share this module and never load LiveKit."""
    from livekit.plugins import smallestai

    return smallestai.TTS(
        api_key=KEY,
        base_url=f"{http}/waves/v1",
        ws_url=f"{ws}/waves/v1/tts/live",
        sample_rate=sample_rate,
        http_session=session,
        **kw,
    )


def pct(values: list[float], q: float) -> float:
    """The q-th percentile (nearest rank) of ``values``."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds used so far by process ``pid`` (``/proc/<pid>/stat``)."""
    with open(f"/proc/{pid}/stat") as f:
        # the command name (field 2) may hold spaces: split after its closing parenthesis
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


@contextmanager
def server_process(*args: str) -> Iterator[tuple[str, str]]:
    """Run ``smallest-local serve`` in its own process; yield its (ws, http) base URLs."""
    with server_process_pid(*args) as (ws, http, _pid):
        yield ws, http


@contextmanager
def server_process_pid(*args: str) -> Iterator[tuple[str, str, int]]:
    """:func:`server_process`, also yielding the server's pid (for its CPU figures)."""
    env = {**os.environ, "SMALLEST_LOCAL_API_KEYS": KEY}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "smallest_local.cli",
            "serve",
            "--port",
            "0",
            "--db",
            ":memory:",
            "--log-level",
            "WARNING",
            *args,
        ],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            match = re.search(r"(ws://\S+?)/waves", line)
            if match:
                ws = match.group(1)
                yield ws, "http://" + ws[len("ws://") :], proc.pid
                break
        else:
            raise RuntimeError("server did not start")
    finally:
        proc.terminate()
        proc.wait(timeout=10)
