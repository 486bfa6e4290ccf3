"""A clock for clone-job tests: time moves only when the test says so."""

from __future__ import annotations

PENDING_S = 10.0
PROCESSING_S = 20.0
START = 1_700_000_000.0


class FakeClock:
    """A clock that only moves when told to."""

    def __init__(self, now: float = START) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
