"""Concurrent real-time streams and memory per stream: ours vs the official LiveKit plugin.

For one plugin and one N, in a fresh process (so memory figures do not mix): N
``tts.stream()`` segments at once against a server in its own process (tone engine,
realtime_factor 1.0, 20 ms chunks), each 3 s of audio. Lateness of a frame = its arrival
minus when it would play if playback started at the stream's first frame; a level passes
when every stream completes and p99 lateness ≤ 20 ms (best of two tries per level).
Memory per stream = (RSS while all N streams are running − RSS after one warm-up turn) / N.

Run one level: ``uv run --no-sync python bench/streams.py --side ours --n 50 --ws URL``;
``--ladder`` runs the whole ladder (10 to 500 streams) for both sides, alternating, and
prints JSON (``bench/report.py`` does this); a side stops climbing after the first level
it fails, which is the level where its p99 crosses 20 ms.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import math
import os
import subprocess
import sys
import time

_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import aiohttp  # noqa: E402
from livekit.agents import APIConnectOptions, tts  # noqa: E402

import livekit_smallest  # noqa: E402
from smallest_core import ConnectionPool, TTSOptions  # noqa: E402

sys.path.insert(0, _HERE)
from common import KEY, official_livekit_tts, pct, server_process  # noqa: E402

RATE = 24000
TEXT = " ".join(["word"] * 15)  # 3 s of tone audio
LIMIT_MS = 20.0
CONN = APIConnectOptions(max_retry=0, timeout=30)
LEVELS = (10, 25, 50, 75, 100, 150, 200, 300, 400, 500)


def rss_kb() -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


async def level(side: str, n: int, ws: str) -> dict[str, object]:
    http = "http://" + ws[len("ws://") :]
    session = aiohttp.ClientSession()
    pool = None
    if side == "ours":
        # a pool sized for n streams (the default suits one agent: a few sockets)
        pool = ConnectionPool(
            api_key=KEY,
            base_url=ws,
            options=TTSOptions(sample_rate=RATE),
            max_connections=max(16, math.ceil(n / 16)),
            max_utterances_per_connection=16,
        )
        engine: tts.TTS = livekit_smallest.TTS(
            api_key=KEY, base_url=http, sample_rate=RATE, pool=pool
        )
    else:
        engine = official_livekit_tts(http, ws, session, RATE)
    lateness: list[float] = []
    all_started = asyncio.Event()
    started = 0

    async def one() -> bool:
        nonlocal started
        stream = engine.stream(conn_options=CONN)
        stream.push_text(TEXT)
        stream.end_input()
        first = None
        audio = 0.0
        async for ev in stream:
            now = time.perf_counter()
            if first is None:
                first = now
                started += 1
                if started == n:
                    all_started.set()
            else:
                lateness.append((now - (first + audio)) * 1000)
            audio += ev.frame.duration
        await stream.aclose()
        return audio > 2.9

    async def sample_rss() -> int:
        await all_started.wait()
        return rss_kb()

    # warm-up: one turn, so imports, sockets and buffers exist before the baseline
    warm = engine.stream(conn_options=CONN)
    warm.push_text("Warm up.")
    warm.end_input()
    async for _ in warm:
        pass
    await warm.aclose()
    # Imports, the engine and the warm-up stay for the process's life: both sides get
    # them frozen out of the collector's full passes (LiveKit's import heap is large
    # enough that one full collection mid-level paused the loop for tens of ms, a
    # spike that landed on whichever side it hit).
    gc.collect()
    gc.freeze()
    base = rss_kb()
    sampler = asyncio.create_task(sample_rss())
    cpu0 = time.process_time()
    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    cpu_s = time.process_time() - cpu0
    peak = await sampler if all_started.is_set() else rss_kb()
    sampler.cancel()
    await engine.aclose()
    if pool is not None:
        await pool.aclose()
    await session.close()
    ok = all(r is True for r in results)
    return {
        "side": side,
        "n": n,
        "ok": ok,
        "p50": pct(lateness, 50) if lateness else None,
        "p99": pct(lateness, 99) if lateness else None,
        "kb_per_stream": (peak - base) / n,
        "cpu_s": cpu_s,  # this process's CPU while the n streams ran (imports excluded)
    }


def one_level(side: str, n: int, ws: str) -> dict[str, object]:
    """One level for one side, in a fresh process."""
    run = subprocess.run(
        [sys.executable, __file__, "--side", side, "--n", str(n), "--ws", ws],
        capture_output=True,
        text=True,
        timeout=180,
    )
    try:
        return json.loads(run.stdout.strip().splitlines()[-1])
    except (IndexError, json.JSONDecodeError):
        return {
            "side": side,
            "n": n,
            "ok": False,
            "p50": None,
            "p99": None,
            "kb_per_stream": None,
            "error": run.stderr[-500:],
        }


def ladder(levels: tuple[int, ...] = LEVELS, tries: int = 2) -> list[dict[str, object]]:
    """Every level for both sides (A, B, A, B, ...), each try in a fresh process; a level's
    figure is its best try (load from other jobs on a shared machine only ever adds
    lateness), a level passes when every stream of that try completed; a side stops
    climbing after its first failed level."""
    out: list[dict[str, object]] = []
    args = (
        "--engine",
        "tone",
        "--realtime-factor",
        "1.0",
        "--chunk-ms",
        "20",
        "--concurrency",
        "2000",
    )
    with server_process(*args) as (ws, _http):
        failed: set[str] = set()
        for n in levels:
            runs: dict[str, list[dict[str, object]]] = {"ours": [], "theirs": []}
            for _ in range(tries):
                for side in ("ours", "theirs"):
                    if side not in failed:
                        runs[side].append(one_level(side, n, ws))
            for side, tried in runs.items():
                if not tried:
                    continue
                good = [r for r in tried if r["ok"] and r["p99"] is not None]
                row = dict(min(good, key=lambda r: r["p99"]) if good else tried[0])
                row["tries_p99"] = [r["p99"] for r in tried]
                print(
                    f"  streams {side:6} N={n:4d} ok={row['ok']} p99 of tries {row['tries_p99']}",
                    file=sys.stderr,
                    flush=True,
                )
                out.append(row)
                if not row["ok"] or row["p99"] is None or row["p99"] > LIMIT_MS:
                    failed.add(side)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--side", choices=("ours", "theirs"))
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--ws", help="server base URL (ws://host:port)")
    parser.add_argument("--ladder", action="store_true", help="every level, both sides")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)
    if args.ladder:
        print(json.dumps(ladder()))
    else:
        print(json.dumps(asyncio.run(level(args.side, args.n, args.ws))))


if __name__ == "__main__":
    main()
