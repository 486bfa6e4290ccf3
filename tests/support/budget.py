"""Timing a call against its time budget, net of the interpreter's garbage collection.

The budget tests of every suite (core, LiveKit, Pipecat, LangChain) claim that a typed
error arrives within the budget + 10 %: 1.1 s for a 1 s budget. A full garbage collection
of a test worker's ~300,000 objects holds the GIL for ~0.2-0.3 s on this machine, so no
thread of the process runs meanwhile, the event loop whose timer ends the wait included.
That is the interpreter's time, not the code's, and the suspected cause (not caught in the
act) of the three times a loaded run saw a second call take 1.33 s (two tests) or 1.43 s
against its usual ~1.0-1.1 s. A
:class:`Stopwatch` records every collection while it runs, in any thread; the upper bound
is checked on the wall time net of them, the lower bound (the call waited its budget) on
the wall time itself, and its repr, in every failure message, shows both.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["Stopwatch", "stopwatch"]


class Stopwatch:
    """Wall time since :attr:`started` and the garbage collections that ran meanwhile, as
    ``(began, seconds)``; all readings are ``time.perf_counter``, the clock the Pipecat
    harness stamps frames with."""

    def __init__(self) -> None:
        self.started = time.perf_counter()
        self.collections: list[tuple[float, float]] = []
        self._stopped: float | None = None

    def elapsed(self, until: float | None = None) -> float:
        """Wall seconds from the start to ``until`` (a ``time.perf_counter`` reading; default:
        now, or when the stopwatch stopped)."""
        return self._end(until) - self.started

    def net(self, until: float | None = None) -> float:
        """:meth:`elapsed`, less the garbage collecting done before ``until``."""
        end = self._end(until)
        collecting = sum(min(s, end - began) for began, s in self.collections if began < end)
        return end - self.started - collecting

    def within(self, low: float, high: float, until: float | None = None) -> bool:
        """Whether the wall time reached ``low`` and, net of garbage collection, stayed
        within ``high``."""
        return self.elapsed(until) >= low and self.net(until) <= high

    def stop(self) -> None:
        """Stop the clock: later readings without ``until`` end here."""
        self._stopped = time.perf_counter()

    def _end(self, until: float | None) -> float:
        if until is not None:
            return until
        return self._stopped if self._stopped is not None else time.perf_counter()

    def __repr__(self) -> str:
        collecting = sum(s for _, s in self.collections)
        return f"<{self.elapsed():.3f} s wall, {collecting:.3f} s of it collecting garbage>"


@contextmanager
def stopwatch() -> Iterator[Stopwatch]:
    """A :class:`Stopwatch` that records garbage collections until the block ends."""
    watch = Stopwatch()
    began: list[float] = []

    def on_gc(phase: str, _info: dict[str, int]) -> None:
        if phase == "start":
            began.append(time.perf_counter())
        elif began:
            start = began.pop()
            watch.collections.append((start, time.perf_counter() - start))

    gc.callbacks.append(on_gc)
    try:
        yield watch
    finally:
        gc.callbacks.remove(on_gc)
        watch.stop()
