"""Suite-wide settings. The `smallest_server` fixture comes from smallest_local's plugin."""

from __future__ import annotations

import os
import zlib

import pytest
from hypothesis import settings

# CI (CI=true) explores a fixed set of examples so a landing never depends on luck;
# developers' runs stay random and keep finding new cases. No deadlines: a loaded
# 2-core machine must not turn a slow example into a failure.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order xdist hands tests out in: a shuffle, with the tests marked ``slow``
    (tens of seconds: fresh venvs, the demo, long speech) spread evenly through its first
    half, in file order.

    Shuffled: the suites differ in kind. The local server's and the core's tests mostly
    compute; the reliability and STT scenarios and the time-budget tests spend seconds
    asleep (stalls, deadlines, paced audio). In file order that waiting came last and
    left the two cores a third idle for the run's last minute; shuffled, it runs beside
    the computing tests all along. The shuffle is a hash of each test's id: the same
    order on every worker and in every run.

    Spread: the slow tests hold most of the run's computing (pocketsphinx, fresh
    interpreters, the demo). Handed out first, every worker ran one at once for the run's
    first minute and a half; spread, one starts every ~6 s and the last about halfway,
    so none runs alone at the end. Clean clones, alternated on this 2-core machine:
    spread 166-174 s (291-304 CPU-s), slow first 173-188 s (291-331 CPU-s).
    """
    slow = [item for item in items if item.get_closest_marker("slow") is not None]
    spread = {item.nodeid: i / (2 * len(slow)) for i, item in enumerate(slow)}
    items.sort(key=lambda item: spread.get(item.nodeid, _shuffled(item)))


def _shuffled(item: pytest.Item) -> float:
    return zlib.crc32(item.nodeid.encode()) / 2**32
