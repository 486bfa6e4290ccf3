"""LiveKit A/B: ``livekit_smallest`` vs the official ``livekit-plugins-smallestai`` 1.8.9.

Both plugins run in this process against the same local server (tone engine), rounds
interleaved (A, B, B, A, A, B, ...) so drift in machine load hits both alike and each
goes first in half the rounds. Each row uses the plugins the way ``AgentSession`` does:
one ``stream()`` per segment, ``end_input()``, and ``aclose()`` (a cancel) on barge-in.
Rows:

1. warm TTFA overhead — first frame out of the stream minus the server's write of the
   first chunk (the server, in its own process, logs ``perf_counter_ns()`` — the
   machine's monotonic clock — before each chunk write: ``--chunk-log``). Measured on
   ``TTFA_TURNS`` one-sentence turns per plugin and round, one turn per side at a
   time, with the server's first chunk 50 ms after the text (a real service takes
   longer still): both clients are idle when it arrives, as in production. With a 0 ms
   first chunk the figure mostly says whether a client happened to be still busy with
   its own send path when the chunk came (then it is awake: no wake-up from the OS to
   pay);
2. segment end — the stream's last frame minus the server's write of the last chunk
   (what is left is the wait for ``complete``, or a silence timer);
3. sockets opened over 10 turns, and per barge-in (cancel mid-reply, then the next turn);
4. next-turn TTFA after a barge-in, with the server's connect delay at 150 ms;
5. first turn after the server closed idle sockets: TTFA and failed attempts;
6. client CPU per second of audio (server in its own process);
7. a rejected voice (error frame): time until the stream fails, with LiveKit's default
   ``APIConnectOptions`` (max_retry=3);
8. gap between back-to-back segments (the next ``stream()`` opened as the last one ends:
   its first frame minus the previous one's last frame);
9. next-turn TTFA after a barge-in at 0 ms connect delay, and stale bytes: audio of the
   cancelled reply that reaches the next turn (tone tags name each byte's request);
10. turns that still speak after 10 consecutive faults (an error frame before audio,
    ten turns in a row), out of 10 clean turns that follow.

Run: ``uv run --no-sync python bench/livekit.py [--quick] [--json PATH]`` (``--json``
also writes every sample, per plugin and row, for ``bench/report.py``).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

# This file is named livekit.py: take its folder off the path so `livekit` is LiveKit's.
_HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _HERE]

import aiohttp  # noqa: E402
from livekit.agents import (  # noqa: E402
    DEFAULT_API_CONNECT_OPTIONS,
    APIConnectOptions,
    APIError,
    tts,
)

import livekit_smallest  # noqa: E402
from smallest_local import Server  # noqa: E402
from smallest_local.engines import describe, tag_value  # noqa: E402

sys.path.insert(0, _HERE)
from common import KEY, official_livekit_tts, server_process  # noqa: E402

RATE = 24000
FAST = APIConnectOptions(max_retry=0, timeout=10)
REPLY = "Hello there, how are you today? I hope all is well with you."
TTFA_TEXT = "Hello there."
#: turns per plugin and round; row 1 is a median over rounds x TTFA_TURNS turns, taken
#: one turn per side at a time (A, B, B, A, ...): the machine's load drifts, and medians
#: of 20-turn blocks (12 s) moved by ±50 µs, more than the sides differ
TTFA_TURNS = 20
LONG = " ".join(["word"] * 40)  # 8 s of tone audio


@dataclass
class Plugin:
    """One side of the A/B: a factory for a TTS and what it needs closed."""

    name: str
    make: Callable[[str, str], tts.TTS]
    session: aiohttp.ClientSession | None = None
    samples: dict[str, list[float]] = field(default_factory=dict)

    def add(self, row: str, value: float) -> None:
        self.samples.setdefault(row, []).append(value)


def ours(http: str, ws: str, **kw: object) -> tts.TTS:
    return livekit_smallest.TTS(api_key=KEY, base_url=http, sample_rate=RATE, **kw)  # type: ignore[arg-type]


def make_official(session: aiohttp.ClientSession) -> Callable[..., tts.TTS]:
    def make(http: str, ws: str, **kw: object) -> tts.TTS:
        engine: tts.TTS = official_livekit_tts(http, ws, session, RATE, **kw)
        return engine

    return make


async def turn(
    engine: tts.TTS, text: str, conn: APIConnectOptions = FAST, pcm: bytearray | None = None
) -> tuple[float, float, float, float]:
    """(start, first frame, last frame, audio seconds) of one streamed segment; its audio
    is appended to ``pcm`` when given."""
    stream = engine.stream(conn_options=conn)
    start = time.perf_counter()
    stream.push_text(text)
    stream.end_input()
    first = last = 0.0
    audio = 0.0
    async for ev in stream:
        last = time.perf_counter()
        first = first or last
        audio += ev.frame.duration
        if pcm is not None:
            pcm += ev.frame.data.tobytes()
    await stream.aclose()
    return start, first, last, audio


async def barge_in(engine: tts.TTS) -> None:
    """Start a long reply, cancel it at its first frame (what AgentSession does)."""
    stream = engine.stream(conn_options=FAST)
    stream.push_text(LONG)
    stream.end_input()
    async for _ev in stream:
        break
    await stream.aclose()


async def interleave(
    plugins: list[Plugin], rounds: int, body: Callable[[Plugin], Awaitable[None]]
) -> None:
    print(f"  {body.__name__}: {rounds} rounds", file=sys.stderr, flush=True)
    for i in range(rounds):
        # each side goes first in half the rounds: what a turn leaves behind (the
        # official plugin opens a socket after its turn) lands on both sides alike
        for plugin in plugins if i % 2 == 0 else plugins[::-1]:
            await asyncio.wait_for(body(plugin), 60)


async def timing_rows(plugins: list[Plugin], rounds: int) -> None:
    """Rows 1, 2 and 8, with the server in its own process: an in-process server thread
    would compete with the client for the GIL exactly when a chunk is in flight."""
    args = ("--engine", "tone", "--realtime-factor", "1.0", "--chunk-ms", "20")
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "chunks.log")
        with (
            server_process(*args, "--first-chunk-ms", "50", "--chunk-log", path) as (ws, http),
            open(path) as log,
        ):
            engines = {p.name: p.make(http, ws) for p in plugins}
            for p in plugins:
                await turn(engines[p.name], "Warm up.")
            log.read()

            async def ttfa(p: Plugin) -> None:
                _start, first, _last, _ = await turn(engines[p.name], TTFA_TEXT)
                # the server wrote every chunk before the stream ended
                sent = [int(line.split()[2]) / 1e9 for line in log.read().splitlines()]
                p.add("ttfa", (first - sent[0]) * 1000)

            await interleave(plugins, rounds * TTFA_TURNS, ttfa)
            for engine in engines.values():
                await engine.aclose()

    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "chunks.log")
        with server_process(*args, "--chunk-log", path) as (ws, http), open(path) as log:
            engines = {p.name: p.make(http, ws) for p in plugins}
            for p in plugins:
                await turn(engines[p.name], "Warm up.")
            log.read()

            async def end(p: Plugin) -> None:
                _start, _first, last, _ = await turn(engines[p.name], REPLY)
                sent = [int(line.split()[2]) / 1e9 for line in log.read().splitlines()]
                p.add("end", (last - sent[-1]) * 1000)

            await interleave(plugins, rounds, end)

            # 8: back-to-back segments, the next stream opened as the previous one ends
            async def gap(p: Plugin) -> None:
                _, _, last, _ = await turn(engines[p.name], REPLY)
                _, first, _, _ = await turn(engines[p.name], REPLY)
                p.add("gap", (first - last) * 1000)

            await interleave(plugins, rounds, gap)
            for engine in engines.values():
                await engine.aclose()


async def in_process_rows(plugins: list[Plugin], rounds: int) -> None:
    server = Server(engine="tone", api_keys=(KEY,))
    server.set_latency(realtime_factor=1.0, chunk_ms=20)
    with server:
        http, ws = server.http_url, server.ws_url
        engines = {p.name: p.make(http, ws) for p in plugins}
        for p in plugins:
            await turn(engines[p.name], "Warm up.")

        # 3: sockets opened over 10 turns, and per barge-in
        async def settled() -> int:
            """The server's socket count once no socket has opened for 0.3 s: a plugin
            may open one in the background after its turn ends (the official one
            does), and it must not be counted in the next plugin's window."""
            while True:
                count = server.stats.ws_connections_total
                await asyncio.sleep(0.3)  # benchmark scenario: a quiet moment
                if server.stats.ws_connections_total == count:
                    return count

        async def sockets(p: Plugin) -> None:
            before = await settled()
            for _ in range(10):
                await turn(engines[p.name], "Short turn.")
            p.add("sockets10", await settled() - before)
            before = await settled()
            await barge_in(engines[p.name])
            await turn(engines[p.name], "Sorry, go ahead.")
            p.add("sockets_barge", await settled() - before)

        await interleave(plugins, max(2, rounds // 4), sockets)

        # 9 and 4: next-turn TTFA after a barge-in at 0 ms and 150 ms connect delay, and
        # stale bytes: any audio of the cancelled reply in the next turn's stream
        async def after_barge(p: Plugin, row: str) -> None:
            await barge_in(engines[p.name])
            pcm = bytearray()
            start, first, _, _ = await turn(engines[p.name], "Sorry, go ahead.", pcm=pcm)
            p.add(row, (first - start) * 1000)
            own = tag_value(server.stats.request_ids[-1])
            p.add(
                "stale_bytes",
                sum(
                    4 * n
                    for tag, runs in describe(bytes(pcm)).items()
                    if tag != own
                    for _, n in runs
                ),
            )

        async def after_barge_0(p: Plugin) -> None:
            await after_barge(p, "barge_ttfa0")

        async def after_barge_150(p: Plugin) -> None:
            await after_barge(p, "barge_ttfa")

        await interleave(plugins, rounds, after_barge_0)
        server.set_latency(connect_ms=150)
        await interleave(plugins, rounds, after_barge_150)
        server.set_latency(connect_ms=0)
        for engine in engines.values():
            await engine.aclose()

        # 5: first turn after the server closed idle sockets (1 s idle timeout); audio
        # comes at once here, since the server's idle clock ignores its own sending
        server.set_latency(realtime_factor=0.0)

        async def after_idle(p: Plugin) -> None:
            engine = p.make(http, ws)
            errors: list[object] = []
            engine.on("error", errors.append)
            # the first two sockets (either plugin's first socket and its spare or
            # replacement) get a 1 s idle timeout, above the official plugin's 0.6 s
            # drain; later ones the normal 60 s
            server.faults.idle_close(1.0, times=2)
            await turn(engine, "Before the pause.", DEFAULT_API_CONNECT_OPTIONS)
            await asyncio.sleep(2.0)  # benchmark scenario: a pause in the conversation
            start, first, _, _ = await turn(engine, "After the pause.", DEFAULT_API_CONNECT_OPTIONS)
            server.faults.clear()
            p.add("idle_ttfa", (first - start) * 1000)
            p.add("idle_errors", len(errors))
            await engine.aclose()

        await interleave(plugins, max(2, rounds // 2), after_idle)

        # 7: a rejected voice: time to failure with LiveKit's default retry settings
        async def rejected(p: Plugin) -> None:
            engine = p.make(http, ws, voice_id="no_such_voice")
            start = time.perf_counter()
            try:
                await turn(engine, "Nobody speaks this.", DEFAULT_API_CONNECT_OPTIONS)
            except APIError:
                p.add("error_s", time.perf_counter() - start)
            await engine.aclose()

        await interleave(plugins, 2, rejected)

        # 10: ten turns in a row meet an error frame before audio; then ten clean turns
        async def faults(p: Plugin) -> None:
            engine = p.make(http, ws)
            for _ in range(10):
                server.faults.error_frame(after_chunks=0)
                with contextlib.suppress(APIError):
                    await turn(engine, "This one fails.", DEFAULT_API_CONNECT_OPTIONS)
            server.faults.clear()
            spoke = 0
            for _ in range(10):
                try:
                    *_, seconds = await turn(engine, "Short turn.", DEFAULT_API_CONNECT_OPTIONS)
                    spoke += seconds > 0
                except APIError:
                    pass
            p.add("faults", spoke)
            await engine.aclose()

        await interleave(plugins, 1, faults)


async def cpu_rows(plugins: list[Plugin], rounds: int) -> None:
    with server_process("--engine", "tone") as (ws, http):
        engines = {p.name: p.make(http, ws) for p in plugins}
        for p in plugins:
            await turn(engines[p.name], "Warm up.")

        async def cpu(p: Plugin) -> None:
            t0 = time.process_time()
            audio = 0.0
            for _ in range(3):
                *_, seconds = await turn(engines[p.name], " ".join(["word"] * 50))
                audio += seconds
            p.add("cpu", (time.process_time() - t0) * 1000 / audio)

        await interleave(plugins, rounds, cpu)
        for engine in engines.values():
            await engine.aclose()


def table(a: Plugin, b: Plugin) -> str:
    def med(p: Plugin, row: str) -> float:
        return statistics.median(p.samples[row]) if p.samples.get(row) else float("nan")

    rows = [
        ("Warm TTFA over the server's first chunk (ms, median)", "ttfa", "{:.2f}"),
        ("Segment end after the last chunk (ms, median)", "end", "{:.1f}"),
        ("Sockets opened over 10 turns", "sockets10", "{:g}"),
        ("Sockets opened per barge-in (+ next turn)", "sockets_barge", "{:g}"),
        ("Next-turn TTFA after barge-in, connect 150 ms (ms)", "barge_ttfa", "{:.1f}"),
        ("First turn after an idle close: TTFA (ms)", "idle_ttfa", "{:.1f}"),
        ("First turn after an idle close: failed attempts", "idle_errors", "{:.0f}"),
        ("Client CPU per audio second (ms)", "cpu", "{:.2f}"),
        ("Rejected voice: time to failure (s)", "error_s", "{:.3f}"),
        ("Gap between back-to-back segments (ms)", "gap", "{:.1f}"),
        ("Next-turn TTFA after barge-in, connect 0 ms (ms)", "barge_ttfa0", "{:.1f}"),
        ("Stale bytes in the next turn after a barge-in", "stale_bytes", "{:.0f}"),
        ("Turns that speak after 10 consecutive faults (of 10)", "faults", "{:.0f}"),
    ]
    out = [
        f"| Metric | {a.name} | {b.name} | ratio (official / ours) |",
        "|---|---:|---:|---:|",
    ]
    for label, key, fmt in rows:
        x, y = med(a, key), med(b, key)
        ratio = "∞ (ours 0)" if x == 0 and y > 0 else "—" if x == y == 0 else f"{y / x:.1f}×"
        out.append(f"| {label} | {fmt.format(x)} | {fmt.format(y)} | {ratio} |")
    return "\n".join(out)


async def main_async(rounds: int, json_path: str | None) -> str:
    async with aiohttp.ClientSession() as session:
        a = Plugin("livekit-smallest", ours)
        b = Plugin("livekit-plugins-smallestai 1.8.9", make_official(session), session)
        await timing_rows([a, b], rounds)
        await in_process_rows([a, b], rounds)
        await cpu_rows([a, b], max(2, rounds // 2))
        if json_path:
            with open(json_path, "w") as f:
                json.dump(
                    {
                        "framework": "livekit",
                        "rounds": rounds,
                        "sides": {
                            "ours": {"name": a.name, "samples": a.samples},
                            "theirs": {"name": b.name, "samples": b.samples},
                        },
                    },
                    f,
                    indent=1,
                )
        return table(a, b)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", metavar="PATH", help="also write every sample as JSON")
    parser.add_argument("--rounds", type=int, help="rounds per row (overrides --quick)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the official plugin logs its retries
    print("LiveKit TTS A/B on one local server (tone engine, realtime 1.0, 20 ms chunks)")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}\n")
    print(asyncio.run(main_async(args.rounds or (4 if args.quick else 12), args.json)))


if __name__ == "__main__":
    main()
