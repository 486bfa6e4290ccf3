"""Run the server: in a background thread (tests, demo), on the caller's loop, or forever (CLI).

``Server`` is the one object users touch: it owns the aiohttp runner, exposes the URLs
and key a client needs, and hands tests the live controls (``faults``, ``latency``,
``stats``).
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeVar

from aiohttp import web

from .app import create_app
from .config import LatencyModel, ServerConfig
from .faults import FaultPlan
from .state import ServerState, ServerStats
from .store import Store

__all__ = ["Server"]

logger = logging.getLogger("smallest_local")
T = TypeVar("T")


class Server:
    """A local Smallest-compatible server on one port (HTTP, SSE and WebSocket).

    Use it as a context manager in a background thread (``with Server() as s``) or on
    the running loop (``async with Server() as s``). Keyword arguments override fields
    of ``config`` (e.g. ``Server(engine="tone", port=0)``).
    """

    def __init__(self, config: ServerConfig | None = None, **overrides: Any) -> None:
        config = config or ServerConfig()
        if overrides:
            config = replace(config, **overrides)
        self.config = config
        self.state = ServerState(
            config,
            Store(
                config.db_path,
                pending_s=config.clone_pending_s,
                processing_s=config.clone_processing_s,
            ),
        )
        self._runner: web.AppRunner | None = None
        self._port: int | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None

    # -- what clients need ------------------------------------------------------------
    @property
    def port(self) -> int:
        """The bound port (after start)."""
        if self._port is None:
            raise RuntimeError("server not started")
        return self._port

    @property
    def http_url(self) -> str:
        """Base URL for REST and SSE, e.g. ``http://127.0.0.1:8765`` (paths start /waves/v1)."""
        return f"http://{self._host_for_url()}:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base URL for the WebSocket, e.g. ``ws://127.0.0.1:8765``."""
        return f"ws://{self._host_for_url()}:{self.port}"

    @property
    def api_key(self) -> str:
        """A key the server accepts."""
        return self.config.api_keys[0]

    # -- live controls ----------------------------------------------------------------
    @property
    def faults(self) -> FaultPlan:
        """Script failures (see :mod:`smallest_local.faults`)."""
        return self.state.faults

    @property
    def latency(self) -> LatencyModel:
        """The live latency model; change its fields between requests."""
        return self.state.latency

    @property
    def stats(self) -> ServerStats:
        """Counters of what the server saw."""
        return self.state.stats

    def set_latency(self, **fields: float) -> None:
        """Change latency fields, e.g. ``set_latency(first_chunk_ms=50, realtime_factor=1)``."""
        for name, value in fields.items():
            if not hasattr(self.state.latency, name):
                raise AttributeError(f"LatencyModel has no field {name!r}")
            setattr(self.state.latency, name, value)

    # -- running on the caller's loop -------------------------------------------------
    async def astart(self) -> Server:
        """Bind and serve on the running loop."""
        app = create_app(self.state)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, handler_cancellation=True
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.config.host, self.config.port, reuse_address=True)
        await site.start()
        server = site._server
        sockets = getattr(server, "sockets", None)  # asyncio.Server; aiohttp types it abstractly
        assert sockets
        self._port = sockets[0].getsockname()[1]
        logger.info("smallest-local listening on %s (engine=%s)", self.http_url, self.config.engine)
        return self

    async def aclose(self) -> None:
        """Stop serving, close open sockets and the store."""
        self.state.closing.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self.state.store is not None:
            self.state.store.close()

    async def __aenter__(self) -> Server:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def serve_forever(self, on_ready: Callable[[Server], None] | None = None) -> None:
        """Serve until :meth:`request_stop` (CLI: SIGINT/SIGTERM); ``on_ready`` once bound."""
        self._stop = asyncio.Event()
        await self.astart()
        if on_ready is not None:
            on_ready(self)
        try:
            await self._stop.wait()
        finally:
            await self.aclose()

    def request_stop(self) -> None:
        """Ask :meth:`serve_forever` to return."""
        if self._stop is not None:
            self._stop.set()

    # -- running in a background thread -----------------------------------------------
    def start(self) -> Server:
        """Serve from a background thread; returns once the port is bound."""
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            self._stop = asyncio.Event()
            try:
                loop.run_until_complete(self.astart())
            except BaseException as exc:  # report bind errors to the caller
                errors.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_until_complete(self._stop.wait())
                loop.run_until_complete(self.aclose())
            finally:
                loop.close()

        self._thread = threading.Thread(target=run, name="smallest-local", daemon=True)
        self._thread.start()
        ready.wait()
        if errors:
            raise errors[0]
        return self

    def stop(self) -> None:
        """Stop the background server and wait for its thread."""
        if self._thread is None or self._loop is None:
            return
        stop = self._stop
        if stop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(stop.set)
        self._thread.join(timeout=10)
        self._thread = None

    def call(self, fn: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Run a coroutine on the server's loop from another thread (background mode)."""
        if self._loop is None:
            raise RuntimeError("server not started in background mode")
        return asyncio.run_coroutine_threadsafe(fn(), self._loop).result(timeout=30)

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _host_for_url(self) -> str:
        host = self.config.host
        if host in ("0.0.0.0", ""):
            return "127.0.0.1"
        if ":" in host:
            return f"[{host}]"
        return host

    def __repr__(self) -> str:
        port = self._port if self._port is not None else "unbound"
        return f"Server(port={port}, engine={self.config.engine!r})"
