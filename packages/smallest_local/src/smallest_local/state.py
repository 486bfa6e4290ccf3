"""Shared server state: config, engine, live latency model, faults, counters, limits.

One :class:`ServerState` per server; every handler reaches it through
``request.app[STATE]``. Counters are plain ints mutated on the event loop only, so tests
in another thread can read them without locks.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aiohttp import web

from .catalog import is_catalog_voice
from .config import LatencyModel, ServerConfig
from .engines import Engine, Recognizer, get_engine, get_recognizer
from .faults import FaultPlan

if TYPE_CHECKING:
    from .store import Store

__all__ = ["STATE", "ConcurrencyLimiter", "ServerState", "ServerStats"]


@dataclass(slots=True)
class ServerStats:
    """What the server has seen; tests assert on these (e.g. no reconnect happened)."""

    ws_connections_total: int = 0
    ws_connections_active: int = 0
    http_requests: int = 0
    syntheses_started: int = 0
    syntheses_completed: int = 0
    syntheses_cancelled: int = 0
    frames_received: int = 0
    frames_sent: int = 0
    rejected_upgrades: int = 0
    concurrency_rejections: int = 0
    peak_concurrency: int = 0
    #: clients dropped because they stopped reading (a send blocked ``write_timeout_s``)
    slow_clients_dropped: int = 0
    #: syntheses that failed inside the server (each answered with an error frame / 500)
    internal_errors: int = 0
    #: client ids (request_id / context_id) in the order their synthesis started
    request_ids: list[str] = field(default_factory=list)
    #: STT: WebSocket sessions opened, batch requests answered, audio seconds received
    stt_sessions: int = 0
    stt_batch_requests: int = 0
    stt_audio_seconds: float = 0.0
    #: STT: finals sent (all sessions)
    stt_finals: int = 0
    #: benchmarks: (client id, samples of the request sent before this chunk,
    #: ``time.perf_counter_ns()`` just before the chunk frame is written); None = off
    chunk_log: list[tuple[str, int, int]] | None = None
    #: benchmarks: (client id, ``"close <code>"`` or ``"abort"``, ``time.perf_counter_ns()``
    #: just before an injected close frame is written or the TCP connection is aborted,
    #: mid-synthesis: ``faults.close_after`` / ``faults.abort_after``); None = off
    close_log: list[tuple[str, str, int]] | None = None


class ConcurrencyLimiter:
    """Per-key count of syntheses in flight (docs/protocol.md §9.10: limited across sockets)."""

    def __init__(self, stats: ServerStats, limit: int) -> None:
        self.limit = limit
        self._stats = stats
        self._in_flight: Counter[str] = Counter()

    def try_acquire(self, key: str) -> bool:
        """Take one unit for ``key``; False when the key is at its limit."""
        if self._in_flight[key] >= self.limit:
            self._stats.concurrency_rejections += 1
            return False
        self._in_flight[key] += 1
        total = sum(self._in_flight.values())
        self._stats.peak_concurrency = max(self._stats.peak_concurrency, total)
        return True

    def release(self, key: str) -> None:
        """Give back one unit of ``key``."""
        self._in_flight[key] -= 1
        if self._in_flight[key] <= 0:
            del self._in_flight[key]


class ServerState:
    """Everything the handlers share."""

    def __init__(self, config: ServerConfig, store: Store | None = None) -> None:
        self.config = config
        self.engine: Engine = get_engine(config.engine)
        self.recognizer: Recognizer = get_recognizer(config.stt_engine_name)
        self.latency: LatencyModel = config.latency
        self.faults = FaultPlan()
        self.stats = ServerStats()
        self.limiter = ConcurrencyLimiter(self.stats, config.concurrency_limit)
        self.store = store
        #: set when the server begins to close: sockets held open by a fault (FREEZE) end
        #: now instead of holding the shutdown until the fault's time is up
        self.closing = asyncio.Event()
        #: compiled pronunciation dictionaries by request dict ids: (store version, index)
        self.dictionary_cache: dict[tuple[str, ...], tuple[int, Any]] = {}

    def is_known_voice(self, voice_id: str) -> bool:
        """A catalog voice or a completed clone (docs/protocol.md §7)."""
        if is_catalog_voice(voice_id):
            return True
        return self.store is not None and self.store.voice_is_ready(voice_id)


STATE: web.AppKey[ServerState] = web.AppKey("smallest_local_state", ServerState)
