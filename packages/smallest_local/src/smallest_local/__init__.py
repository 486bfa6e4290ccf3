"""A local Smallest AI "Waves"-compatible TTS and Pulse STT server, for offline development and CI.

Real speech (espeak-ng) or a deterministic tone engine, the full wire protocol of
docs/protocol.md (sync, SSE, WebSocket incl. continuations), voices, cloning and pronunciation
dictionaries, a latency model and scriptable faults. Start one with ``smallest-local
serve`` or ``with Server() as server:``; in pytest use the ``smallest_server`` fixture.
"""

from .config import (
    DEFAULT_API_KEY,
    DIALECTS,
    STT_DIALECTS,
    Dialect,
    LatencyModel,
    ServerConfig,
    SttDialect,
)
from .faults import Fault, FaultKind, FaultPlan
from .server import Server
from .state import ServerStats

__version__ = "0.1.0"

__all__ = [
    "DEFAULT_API_KEY",
    "DIALECTS",
    "STT_DIALECTS",
    "Dialect",
    "Fault",
    "FaultKind",
    "FaultPlan",
    "LatencyModel",
    "Server",
    "ServerConfig",
    "ServerStats",
    "SttDialect",
    "__version__",
]
