"""The local server's own figures, so later benchmarks know it is not the bottleneck.

Prints:
1. time to first chunk at zero configured delay (tone engine), client-measured over a
   real WebSocket to a server in its own process: p50 / p99;
2. espeak synthesis speed in x real time (engine alone);
3. how many concurrent real-time WebSocket utterances one server process sustains on
   this machine (realtime_factor 1.0, espeak): the largest N for which every utterance
   completes and p99 chunk lateness stays under the threshold.

Run: ``make bench`` (or ``uv run python bench/server.py [--quick]``).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import json
import os
import statistics
import sys
import time

import websockets
from common import KEY, pct, server_process

WS_PATH = "/waves/v1/tts/live"
SENTENCE = "The quick brown fox jumps over the lazy dog while the band plays on."
LATENESS_LIMIT_MS = 50.0


def frame(text: str, rid: str, **extra: object) -> str:
    return json.dumps(
        {
            "voice_id": "meher",
            "model": "lightning_v3.1_pro",
            "sample_rate": 24000,
            "text": text,
            "request_id": rid,
            "complete_backoff_ms": 0,
            **extra,
        }
    )


async def first_chunk_latency(base: str, n: int) -> list[float]:
    """ms from sending a one-shot request to receiving its first chunk (one socket)."""
    out = []
    headers = {"Authorization": f"Bearer {KEY}"}
    async with websockets.connect(base + WS_PATH, additional_headers=headers) as ws:
        for i in range(n):
            t0 = time.perf_counter()
            await ws.send(frame("hello there", f"t{i}"))
            first = None
            while True:
                msg = json.loads(await ws.recv())
                if first is None and msg["status"] == "chunk":
                    first = (time.perf_counter() - t0) * 1000
                if msg["status"] == "complete":
                    break
            assert first is not None
            out.append(first)
    return out


def espeak_speed() -> tuple[float, float]:
    """(x real time, ms per sentence) for the espeak engine at 24 kHz."""
    from smallest_local.engines import EspeakEngine

    engine = EspeakEngine()
    engine.synthesize("warm up", voice_id="meher", sample_rate=24000)
    audio = 0.0
    t0 = time.perf_counter()
    runs = 30
    for _ in range(runs):
        audio += engine.synthesize(SENTENCE, voice_id="meher", sample_rate=24000).duration
    wall = time.perf_counter() - t0
    return audio / wall, wall / runs * 1000


async def one_realtime_utterance(
    base: str, rid: str, lateness: list[float], ttfc: list[float]
) -> bool:
    """One utterance; lateness = arrival minus when playback started at the first chunk
    needs it (negative: ahead of the listener), the first chunk's delay goes to ``ttfc``."""
    headers = {"Authorization": f"Bearer {KEY}"}
    async with websockets.connect(base + WS_PATH, additional_headers=headers) as ws:
        sent = time.perf_counter()
        await ws.send(frame(SENTENCE, rid))
        start = None
        audio_s = 0.0
        while True:
            msg = json.loads(await ws.recv())
            now = time.perf_counter()
            if msg["status"] == "chunk":
                if start is None:
                    start = now
                    ttfc.append((now - sent) * 1000)
                else:
                    lateness.append((now - (start + audio_s)) * 1000)
                audio_s += len(base64.b64decode(msg["data"]["audio"])) / 2 / 24000
            elif msg["status"] == "complete":
                return True
            elif msg["status"] == "error":
                return False


async def concurrent_realtime(base: str, n: int) -> tuple[bool, float, float, float]:
    """Run ``n`` real-time utterances at once: (all completed, lateness p50/p99, ttfc p99)."""
    lateness: list[float] = []
    ttfc: list[float] = []
    results = await asyncio.gather(
        *(one_realtime_utterance(base, f"c{n}-{i}", lateness, ttfc) for i in range(n)),
        return_exceptions=True,
    )
    ok = all(r is True for r in results)
    return ok, pct(lateness, 50), pct(lateness, 99), pct(ttfc, 99)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    n_ttfc = 50 if args.quick else 300

    print("smallest-local server benchmark")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")

    with server_process("--engine", "tone") as (base, _):
        ttfc = asyncio.run(first_chunk_latency(base, n_ttfc))
    print(
        f"\n1. first chunk at zero configured delay (tone engine, {n_ttfc} requests, "
        "one socket, server in its own process)"
    )
    print(
        f"   p50 {statistics.median(ttfc):.2f} ms   p99 {pct(ttfc, 99):.2f} ms   "
        f"max {max(ttfc):.2f} ms   (target p50 <= 5 ms)"
    )

    speed, ms = espeak_speed()
    print("\n2. espeak engine speed (24 kHz, one 13-word sentence)")
    print(f"   {speed:.0f}x real time, {ms:.1f} ms per sentence")

    print(
        "\n3. concurrent real-time WebSocket utterances (espeak, realtime_factor 1.0, "
        f"one server process; sustained = all complete, p99 lateness <= {LATENESS_LIMIT_MS:.0f} ms)"
    )
    levels = [25, 50, 100] if args.quick else [25, 50, 100, 150, 200]
    sustained = 0
    with server_process(
        "--engine", "espeak", "--realtime-factor", "1.0", "--concurrency", "1000"
    ) as (base, _):
        for n in levels:
            ok, p50, p99, first = asyncio.run(concurrent_realtime(base, n))
            good = ok and p99 <= LATENESS_LIMIT_MS
            print(
                f"   N={n:4d}  completed={'all' if ok else 'NOT all'}  chunk lateness p50 "
                f"{p50:6.1f} ms  p99 {p99:6.1f} ms  first chunk p99 {first:6.1f} ms  "
                f"{'ok' if good else 'over'}"
            )
            if not good:
                break
            sustained = n
    print(f"   sustained: >= {sustained} concurrent real-time utterances (target >= 50)")
    print(
        "   (lateness is measured from playback starting at each utterance's first chunk;"
        " negative = ahead of the listener)"
    )


if __name__ == "__main__":
    main()
