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
    """The order xdist hands tests out in: tests marked ``slow`` (tens of seconds: fresh
    venvs, the demo, long speech) first, then the rest shuffled.

    Slow first: with a few workers per run, a slow test handed out last would run alone
    while the other workers sit idle. Shuffled: the suites differ in kind. The local
    server's and the core's tests mostly compute; the reliability and STT scenarios and
    the time-budget tests spend seconds asleep (stalls, deadlines, paced audio). In file
    order that waiting came last and left the two cores a third idle for the run's last
    minute; shuffled, it runs beside the computing tests all along. The shuffle is a
    hash of each test's id: the same order on every worker and in every run.
    """
    items.sort(key=_place)


def _place(item: pytest.Item) -> float:
    if item.get_closest_marker("slow") is not None:
        return -1.0  # a stable sort: the slow ones keep their file order
    return zlib.crc32(item.nodeid.encode()) / 2**32
