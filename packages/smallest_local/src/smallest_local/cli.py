"""``smallest-local serve``: run the local Smallest-compatible server from a shell.

Prints its URLs, then serves until SIGINT/SIGTERM and shuts down cleanly (open sockets
closed, SQLite flushed).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import logging
import signal
import sys
from collections.abc import Sequence

from . import __version__
from .config import (
    DEFAULT_API_KEY,
    DIALECTS,
    STT_DIALECTS,
    LatencyModel,
    ServerConfig,
    _keys_from_env,
)
from .server import Server

__all__ = ["main"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="smallest-local",
        description="A local Smallest AI Waves-compatible TTS server (offline, with faults).",
    )
    parser.add_argument("--version", action="version", version=__version__)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="serve HTTP, SSE and WebSocket TTS on one port")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765, help="0 picks a free port")
    serve.add_argument("--engine", choices=("espeak", "tone"), default="espeak")
    serve.add_argument(
        "--api-key",
        action="append",
        dest="api_keys",
        metavar="KEY",
        help=f"accepted Bearer key (repeatable; default $SMALLEST_LOCAL_API_KEYS or "
        f"{DEFAULT_API_KEY})",
    )
    serve.add_argument("--connect-ms", type=float, default=0.0, help="WS handshake delay")
    serve.add_argument("--first-chunk-ms", type=float, default=0.0, help="delay to first chunk")
    serve.add_argument("--chunk-ms", type=int, default=100, help="audio per chunk")
    serve.add_argument(
        "--realtime-factor", type=float, default=0.0, help="0 = as fast as possible, 1 = real time"
    )
    serve.add_argument("--concurrency", type=int, default=100, help="syntheses per key")
    serve.add_argument("--idle-timeout", type=float, default=60.0, help="WS idle seconds")
    serve.add_argument(
        "--db",
        default="smallest-local.sqlite3",
        help="SQLite file for clones and dictionaries (':memory:' for none)",
    )
    serve.add_argument(
        "--dialect",
        choices=tuple(DIALECTS),
        default="context",
        help="how continuations (context_id) answer: one complete per context (context), "
        "a server request per sentence release (release-ids), plus a complete per release "
        "(release); -bare: context_id not echoed",
    )
    serve.add_argument(
        "--release-gap-ms",
        type=float,
        default=100.0,
        help="release* dialects: pause before each next release's first chunk",
    )
    serve.add_argument(
        "--stt-engine",
        choices=("pocketsphinx", "tone"),
        default=None,
        help="speech-to-text engine (default: pocketsphinx with --engine espeak, tone with tone)",
    )
    serve.add_argument(
        "--stt-dialect",
        choices=tuple(STT_DIALECTS),
        default="pulse",
        help="how the Pulse STT WebSocket answers where the sources disagree (README)",
    )
    serve.add_argument(
        "--stt-strict",
        action="store_true",
        help="STT: 400 for a missing language on /stt/live and out-of-range eou_timeout_ms",
    )
    serve.add_argument(
        "--chunk-log",
        metavar="PATH",
        help="benchmarks: append 'client-id samples-before perf_counter_ns' per chunk sent "
        "(the time is taken just before the write; CLOCK_MONOTONIC, so other processes "
        "on this machine can compare)",
    )
    serve.add_argument(
        "--control",
        action="store_true",
        help="benchmarks: serve POST/DELETE /_local/faults (script a fault) and GET "
        "/_local/close_log (when injected closes hit the wire, perf_counter_ns) for a "
        "client in another process; Bearer key required (smallest_local.control)",
    )
    serve.add_argument("--log-level", default="INFO")
    return parser


class _ChunkLogFile(list[tuple[str, int, int]]):
    """``ServerStats.chunk_log`` that also appends each entry to a file, line by line."""

    def __init__(self, path: str) -> None:
        super().__init__()
        self._file = open(path, "a", buffering=1)  # noqa: SIM115 - open for the server's life

    def append(self, entry: tuple[str, int, int]) -> None:
        super().append(entry)
        self._file.write(f"{entry[0]} {entry[1]} {entry[2]}\n")


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``smallest-local`` command."""
    args = _parser().parse_args(argv)
    logging.basicConfig(level=args.log_level.upper(), format="%(levelname)s %(name)s %(message)s")
    config = ServerConfig(
        host=args.host,
        port=args.port,
        api_keys=tuple(args.api_keys) if args.api_keys else _keys_from_env(),
        engine=args.engine,
        latency=LatencyModel(
            connect_ms=args.connect_ms,
            first_chunk_ms=args.first_chunk_ms,
            chunk_ms=args.chunk_ms,
            realtime_factor=args.realtime_factor,
        ),
        concurrency_limit=args.concurrency,
        idle_timeout_s=args.idle_timeout,
        db_path=args.db,
        dialect=args.dialect,
        release_gap_ms=args.release_gap_ms,
        stt_engine=args.stt_engine,
        stt_dialect=args.stt_dialect,
        stt_strict=args.stt_strict,
        control=args.control,
    )
    server = Server(config)
    if args.chunk_log:
        server.stats.chunk_log = _ChunkLogFile(args.chunk_log)

    def announce(srv: Server) -> None:
        # Everything built so far (imports, the app, the store) lives as long as the
        # process: freeze it out of the garbage collector's way, so a full collection
        # walks only what requests create (at 500 streams, a full pass over the whole
        # heap paused the loop for over 20 ms, mid-stream).
        gc.collect()
        gc.freeze()
        print(
            f"smallest-local {__version__} serving (engine={config.engine}, "
            f"dialect={config.dialect})",
            flush=True,
        )
        print(f"  REST/SSE  {srv.http_url}/waves/v1/tts", flush=True)
        print(f"  WebSocket {srv.ws_url}/waves/v1/tts/live", flush=True)
        print("  key       set with --api-key or SMALLEST_LOCAL_API_KEYS", flush=True)

    async def run() -> None:
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, server.request_stop)
        await server.serve_forever(on_ready=announce)
        print("smallest-local stopped", flush=True)

    try:
        asyncio.run(run())
    except OSError as exc:
        print(f"smallest-local: cannot serve on {args.host}:{args.port}: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
