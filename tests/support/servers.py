"""Servers that misbehave at the socket level, for tests of time budgets.

:func:`silent_server` accepts TCP connections and never answers (no WebSocket upgrade,
no HTTP response): what a hung load balancer or a stalled service looks like to a
client. The core's budget tests and every adapter's budget test run against it.

:func:`until_no_sockets` waits until a local server has closed every WebSocket (idle
timeouts, clients gone): the server keeps its counters on its own thread, with no event
to await, so it polls them under a deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from smallest_local import Server

__all__ = ["silent_server", "until_no_sockets"]


@asynccontextmanager
async def silent_server() -> AsyncIterator[tuple[str, list[int]]]:
    """A TCP server that reads whatever comes and never answers; yields (base URL,
    connections accepted)."""
    accepted: list[int] = []
    writers: list[asyncio.StreamWriter] = []
    handlers: set[asyncio.Task[None]] = set()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(1)
        writers.append(writer)
        handlers.add(asyncio.current_task())  # type: ignore[arg-type]
        try:
            while await reader.read(65536):
                pass
        except OSError:
            pass  # the client reset the connection: it is done with us
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}", accepted
    finally:
        server.close()
        # Closing our end ends each handler's read (cancelling them instead would log
        # an "Exception in callback" from asyncio's stream protocol).
        for writer in writers:
            writer.close()
        await asyncio.gather(*handlers, return_exceptions=True)
        await server.wait_closed()


async def until_no_sockets(server: Server, timeout: float = 10.0) -> None:
    """Return once ``server`` holds no open WebSocket; fail after ``timeout`` seconds."""
    async with asyncio.timeout(timeout):
        while server.stats.ws_connections_active:
            await asyncio.sleep(0.005)
