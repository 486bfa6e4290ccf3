"""The client core's own cost: what smallest_core adds between the socket and the caller.

Prints:
1. overhead — time from the server writing a chunk frame to ``Utterance`` yielding it
   (p50, p99); the server runs in this process on its own thread and logs
   ``perf_counter_ns()`` just before each write; the tone engine's sample counter
   identifies which chunk the caller got;
2. CPU — client-process CPU milliseconds per second of 24 kHz audio received (parse,
   base64, route, queue), next to a bare ``websockets`` + ``json`` + ``base64`` loop;
3. concurrency — N real-time utterances at once through one ``ConnectionPool`` in this
   process (server in its own process, realtime_factor 1.0): p99 chunk lateness, i.e.
   how late each chunk reaches the caller relative to playback started at its first chunk;
4. loss detection — a socket dropped after audio: last chunk to ConnectionLostError;
5. wire modes — continuations vs flush on one socket: TTFA and first audio after barge-in;
6. end rule — under each server dialect (docs/protocol.md §13), the time from the last
   audio chunk reaching the caller to the utterance's end, for one-sentence utterances
   and token-streamed three-sentence replies (releases 100 ms apart).

Targets (issue 3): overhead p50 <= 0.5 ms, p99 <= 3 ms; CPU <= 0.5 ms per audio second;
>= 100 concurrent real-time streams with p99 lateness <= 20 ms.
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

from smallest_core import AudioChunk, ConnectionPool, StreamConnection, TTSOptions
from smallest_local import Server
from smallest_local.engines import decode_tone

RATE = 24000
OPTS = TTSOptions(sample_rate=RATE, complete_backoff_ms=0)


async def overhead(n_utterances: int) -> list[float]:
    """ms from the server's chunk write to the Utterance yielding it."""
    server = Server(engine="tone", api_keys=(KEY,))
    server.set_latency(realtime_factor=1.0, chunk_ms=20)  # spread chunks out: no queueing
    server.stats.chunk_log = []
    received: list[tuple[str, int, int]] = []  # (request id, samples before, yield time)
    with server:
        async with StreamConnection(api_key=KEY, base_url=server.ws_url, options=OPTS) as conn:
            for i in range(n_utterances):
                rid = f"o{i}"
                utt = conn.utterance(rid)
                await utt.end("one two three four five")  # 1 s: 50 chunks of 20 ms
                async for event in utt:
                    if isinstance(event, AudioChunk):
                        got = time.perf_counter_ns()
                        # the tone engine's counter: pair index of the chunk's first sample
                        counter = decode_tone(event.audio[:4])[0][1]
                        received.append((rid, counter * 2, got))
    sent = {(rid, samples): t for rid, samples, t in server.stats.chunk_log}
    return [(got - sent[(rid, samples)]) / 1e6 for rid, samples, got in received]


async def cpu_per_audio_second(base: str, n: int) -> tuple[float, float]:
    """(core, bare) client CPU ms per second of audio."""
    text = " ".join(["word"] * 25)  # 5 s of audio
    audio = 0
    t0 = time.process_time()
    async with StreamConnection(api_key=KEY, base_url=base, options=OPTS) as conn:
        for i in range(n):
            utt = conn.utterance(f"c{i}")
            await utt.end(text)
            async for event in utt:
                if isinstance(event, AudioChunk):
                    audio += len(event.audio)
    core = (time.process_time() - t0) * 1000 / (audio / 2 / RATE)

    bare_audio = 0
    t0 = time.process_time()
    headers = {"Authorization": f"Bearer {KEY}"}
    async with websockets.connect(
        base + "/waves/v1/tts/live", additional_headers=headers, max_size=None, compression=None
    ) as ws:
        for i in range(n):
            await ws.send(
                json.dumps(
                    {
                        "voice_id": "meher",
                        "text": text,
                        "sample_rate": RATE,
                        "request_id": f"b{i}",
                        "complete_backoff_ms": 0,
                    }
                )
            )
            while True:
                msg = json.loads(await ws.recv())
                if msg["status"] == "chunk":
                    bare_audio += len(base64.b64decode(msg["data"]["audio"]))
                elif msg["status"] == "complete":
                    break
    bare = (time.process_time() - t0) * 1000 / (bare_audio / 2 / RATE)
    return core, bare


async def realtime_streams(base: str, n: int) -> tuple[bool, float, float]:
    """n concurrent real-time utterances via one pool: (all ok, lateness p50, p99 ms)."""
    lateness: list[float] = []
    async with ConnectionPool(
        api_key=KEY,
        base_url=base,
        options=OPTS,
        max_connections=16,
        max_utterances_per_connection=16,
    ) as pool:
        await pool.prewarm()

        async def one(i: int) -> bool:
            utt = await pool.utterance(f"rt{n}-{i}")
            await utt.end(" ".join(["word"] * 15))  # 3 s of audio, 30 chunks
            start = None
            audio_s = 0.0
            async for event in utt:
                if isinstance(event, AudioChunk):
                    now = time.perf_counter()
                    if start is None:
                        start = now
                    else:
                        lateness.append((now - (start + audio_s)) * 1000)
                    audio_s += len(event.audio) / 2 / RATE
            return True

        results = await asyncio.gather(*(one(i) for i in range(n)), return_exceptions=True)
    return all(r is True for r in results), pct(lateness, 50), pct(lateness, 99)


async def mode_comparison(base: str, mode: str, rounds: int) -> tuple[float, float]:
    """(TTFA for token-streamed text, first audio after a barge-in) in ms, medians.

    TTFA: an LLM-like stream of words, the first sentence ends after 6 words; audio can
    start once the server has that sentence. Barge-in: cancel an utterance 2 chunks into
    8 s of real-time audio, start the next on the same socket, time its first audio.
    """
    ttfa: list[float] = []
    barge: list[float] = []
    async with StreamConnection(api_key=KEY, base_url=base, options=OPTS, mode=mode) as conn:
        for i in range(rounds):
            utt = conn.utterance(f"{mode}-t{i}")
            start = time.perf_counter()
            words = [
                "Hello",
                "there,",
                "how",
                "are",
                "you",
                "today?",
                "I",
                "hope",
                "all",
                "is",
                "well",
                "with",
                "you.",
            ]
            first = None
            for w in words:
                await utt.push_text(w + " ")
            await utt.end()
            async for event in utt:
                if isinstance(event, AudioChunk) and first is None:
                    first = time.perf_counter() - start
            ttfa.append((first or 0) * 1000)

            old = conn.utterance(f"{mode}-old{i}")
            await old.end(" ".join(["word"] * 40))
            seen = 0
            async for event in old:
                if isinstance(event, AudioChunk):
                    seen += 1
                    if seen == 2:
                        break
            old.cancel()
            t0 = time.perf_counter()
            new = conn.utterance(f"{mode}-new{i}")
            await new.end("Sorry, go ahead.")
            async for event in new:
                if isinstance(event, AudioChunk):
                    barge.append((time.perf_counter() - t0) * 1000)
                    new.cancel()
                    break
    return statistics.median(ttfa), statistics.median(barge)


async def loss_detection(rounds: int) -> list[float]:
    """ms from the last chunk before a TCP abort to ConnectionLostError reaching the caller.

    The server aborts right after writing its 2nd chunk (no close frame), so this is an
    upper bound of how long the core takes to notice and report a dropped socket.
    """
    from smallest_core import ConnectionLostError

    out: list[float] = []
    server = Server(engine="tone", api_keys=(KEY,))
    with server:
        async with ConnectionPool(api_key=KEY, base_url=server.ws_url, options=OPTS) as pool:
            for i in range(rounds):
                server.faults.abort_after(2)
                utt = await pool.utterance(f"lost{i}")
                await utt.end(" ".join(["word"] * 20))
                last = time.perf_counter()
                try:
                    async for event in utt:
                        if isinstance(event, AudioChunk):
                            last = time.perf_counter()
                except ConnectionLostError:
                    out.append((time.perf_counter() - last) * 1000)
    return out


async def end_after_last_audio(dialect: str, text: str, rounds: int) -> tuple[list[float], str]:
    """ms from the last AudioChunk yielded to the utterance's iteration ending.

    One pool for all rounds (the EndRule learns the server's reading as a real pool
    would); returns the samples and the reading learned.
    """
    server = Server(engine="tone", api_keys=(KEY,), dialect=dialect, release_gap_ms=100)
    out: list[float] = []
    with server:
        async with ConnectionPool(api_key=KEY, base_url=server.ws_url, options=OPTS) as pool:
            for i in range(rounds):
                utt = await pool.utterance(f"e{i}")
                for token in text.split(" "):
                    await utt.push_text(token + " ")
                await utt.end()
                last = time.perf_counter()
                async for event in utt:
                    if isinstance(event, AudioChunk):
                        last = time.perf_counter()
                out.append((time.perf_counter() - last) * 1000)
            assert pool.end_rule.late_frames == 0, "audio arrived after an utterance ended"
            return out, pool.end_rule.reading


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer samples")
    args = parser.parse_args()
    print("smallest-core client benchmark")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")

    samples = asyncio.run(overhead(5 if args.quick else 20))
    print(f"\n1. overhead: server writes a chunk -> Utterance yields it ({len(samples)} chunks)")
    print(
        f"   p50 {statistics.median(samples):.3f} ms   p99 {pct(samples, 99):.3f} ms   "
        "(target p50 <= 0.5 ms, p99 <= 3 ms)"
    )

    with server_process("--engine", "tone") as (ws, _):
        core, bare = asyncio.run(cpu_per_audio_second(ws, 10 if args.quick else 40))
    print("\n2. client CPU per second of 24 kHz audio received")
    print(
        f"   smallest_core {core:.3f} ms   bare websockets+json+base64 {bare:.3f} ms   "
        "(target <= 0.5 ms)"
    )

    print(
        "\n3. concurrent real-time utterances through one ConnectionPool "
        "(server in its own process, realtime_factor 1.0, 100 ms chunks)"
    )
    best = 0
    levels = [50, 100] if args.quick else [50, 100, 150, 200]
    with server_process(
        "--engine", "tone", "--realtime-factor", "1.0", "--concurrency", "1000"
    ) as (ws, _):
        for n in levels:
            ok, p50, p99 = asyncio.run(realtime_streams(ws, n))
            good = ok and p99 <= 20.0
            print(
                f"   N={n:4d}  completed={'all' if ok else 'NOT all'}  lateness p50 {p50:6.1f} ms"
                f"  p99 {p99:6.1f} ms  {'ok' if good else 'over'}"
            )
            if not good:
                break
            best = n
    print(f"   sustained: >= {best} real-time streams with p99 lateness <= 20 ms (target >= 100)")

    lost = asyncio.run(loss_detection(10 if args.quick else 50))
    print("\n4. a socket dropped after audio: last chunk -> ConnectionLostError at the caller")
    print(
        f"   p50 {statistics.median(lost):.2f} ms   max {max(lost):.2f} ms   "
        f"({len(lost)} drops; target <= 50 ms)"
    )

    print("\n5. wire modes on one socket (server: realtime_factor 1.0, first chunk 50 ms)")
    with server_process(
        "--engine", "tone", "--realtime-factor", "1.0", "--first-chunk-ms", "50"
    ) as (ws, _):
        for mode in ("continuations", "flush"):
            ttfa, barge = asyncio.run(mode_comparison(ws, mode, 3 if args.quick else 8))
            print(
                f"   {mode:13}  token-streamed TTFA {ttfa:7.1f} ms   "
                f"first audio after barge-in {barge:7.1f} ms"
            )

    print(
        "\n6. end rule: last audio -> utterance ends, per server dialect "
        "(release gap 100 ms; p50 / max over the rounds after the first two)"
    )
    rounds = 6 if args.quick else 20
    one = "Just one sentence here"
    three = "The first sentence is here. A second one follows it. And a third ends the turn."
    for dialect in ("context", "release-ids", "release", "release-bare"):
        row = []
        for label, text in (("1 sentence", one), ("3 sentences", three)):
            got, reading = asyncio.run(end_after_last_audio(dialect, text, rounds))
            first, steady = got[:2], got[2:]  # the rule learns from the first two
            row.append(
                f"{label}: first two {first[0]:5.0f}/{first[1]:5.0f} ms, then "
                f"p50 {statistics.median(steady):5.2f} max {max(steady):5.2f} ms"
            )
        print(f"   {dialect:12}  {'   '.join(row)}   (learned: {reading})")
    print("   target: <= 5 ms where the server completes once per context")


if __name__ == "__main__":
    main()
