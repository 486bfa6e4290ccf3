"""Server configuration: keys, engine, latency model, limits, storage.

Everything a test or the CLI can set lives here as plain dataclasses; the running
server reads the *live* ``LatencyModel`` on every request, so a test may change it
between requests through ``Server.latency``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

__all__ = ["DEFAULT_API_KEY", "LatencyModel", "ServerConfig"]

#: The key the server accepts when none is configured (documented in the README).
DEFAULT_API_KEY = "sk_local_dev_key"


@dataclass(slots=True)
class LatencyModel:
    """How slow the server pretends to be.

    Attributes:
        connect_ms: delay before a WebSocket upgrade is accepted (handshake latency).
        first_chunk_ms: delay from a request being ready to synthesize to its first chunk.
        chunk_ms: milliseconds of audio per chunk frame / SSE event / HTTP body piece.
        realtime_factor: time to produce a chunk relative to its audio length; 0 sends
            chunks as fast as possible, 1.0 paces them at real time, 0.5 twice as fast.
    """

    connect_ms: float = 0.0
    first_chunk_ms: float = 0.0
    chunk_ms: int = 100
    realtime_factor: float = 0.0


def _keys_from_env() -> tuple[str, ...]:
    raw = os.environ.get("SMALLEST_LOCAL_API_KEYS", "")
    keys = tuple(k.strip() for k in raw.split(",") if k.strip())
    return keys or (DEFAULT_API_KEY,)


@dataclass(slots=True)
class ServerConfig:
    """Static settings of one server instance.

    Attributes:
        host, port: where to listen; port 0 picks a free one.
        api_keys: Bearer keys accepted (``SMALLEST_LOCAL_API_KEYS``, comma-separated).
        forbidden_keys: keys that authenticate but are not allowed (answered 403).
        engine: ``"espeak"`` (real speech) or ``"tone"`` (deterministic, attributable).
        latency: the initial latency model.
        concurrency_limit: syntheses one key may run at once across all sockets
            (PROTOCOL.md §9.10); beyond it HTTP gets 429 and WS an error frame.
        idle_timeout_s: default WS idle timeout when the URL has no ``?timeout=``.
        max_text_chars: longest ``text`` accepted in one request or one WS frame.
        max_frame_bytes: largest WS message accepted; bigger ones close the socket (1009).
        db_path: SQLite file for clone jobs and dictionaries (``":memory:"`` for tests).
        clone_pending_s, clone_processing_s: how long a clone job stays in each state.
        legacy_routes: serve the retired legacy routes' old shapes instead of 410.
    """

    host: str = "127.0.0.1"
    port: int = 0
    api_keys: tuple[str, ...] = field(default_factory=_keys_from_env)
    forbidden_keys: tuple[str, ...] = ()
    engine: str = "espeak"
    latency: LatencyModel = field(default_factory=LatencyModel)
    concurrency_limit: int = 100
    idle_timeout_s: float = 60.0
    max_text_chars: int = 5000
    max_frame_bytes: int = 256 * 1024
    db_path: str = ":memory:"
    clone_pending_s: float = 0.2
    clone_processing_s: float = 0.5
    legacy_routes: bool = False

    def __repr__(self) -> str:  # never print keys
        return (
            f"ServerConfig(host={self.host!r}, port={self.port}, engine={self.engine!r}, "
            f"api_keys=[{len(self.api_keys)} hidden], db_path={self.db_path!r})"
        )
