"""What every demo scene shares: its result row, progress lines, and the WAV writer."""

from __future__ import annotations

import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from smallest_core import ConnectionPool, pcm_to_wav

RATE = 24000


@dataclass
class SceneResult:
    """One row of the demo's final table (and of ``out/demo.json``)."""

    scene: str
    wav: str
    ttfa_ms: float  # first token (or request) to first audio, as the app saw it
    audio_s: float  # seconds of audio written to the WAV
    sockets: int | None  # WebSockets opened during the scene (None: not countable here)
    reused_after_barge_in: bool | None  # None: the scene has no barge-in
    text: str  # what the scene's last turn said (the test checks it is heard)

    def row(self) -> dict[str, object]:
        return asdict(self)


_T0 = time.perf_counter()


def progress(scene: str, message: str) -> None:
    """One progress line, with the seconds since the demo started."""
    print(f"  [{time.perf_counter() - _T0:5.1f}s] {scene:<18} {message}", flush=True)


def write_wav(path: Path, pcm: bytes, rate: int = RATE) -> float:
    """Write s16le mono ``pcm`` as a WAV; return its duration in seconds."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(pcm_to_wav(pcm, rate))
    return len(pcm) / 2 / rate


class SocketCounter:
    """Counts the WebSockets a pool opens (from the pool's own socket events)."""

    def __init__(self, pool: ConnectionPool) -> None:
        self.opened = 0
        self.remove = pool.add_socket_listener(on_open=self._opened)

    def _opened(self, _conn: object) -> None:
        self.opened += 1


def warn(message: str) -> None:
    print(message, file=sys.stderr, flush=True)
