"""Suite-wide settings. The `smallest_server` fixture comes from smallest_local's plugin."""

from __future__ import annotations

import os

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
    venvs, the demo, long speech) first, then every file's tests spread evenly over the
    run, those of files marked ``waits`` over its first half.

    Slow first: with a few workers per run, a slow test handed out last would run alone
    while the other workers sit idle. Spread: the suites differ in kind. The local
    server's and the core's tests mostly compute; the scenarios marked ``waits`` (stalls,
    time budgets, paced audio) spend seconds asleep. In file order the waiting came last
    and left the two cores a third idle for the run's last minute; mixed in early, it
    runs beside the computing tests. A test's place is its rank within its file, as a
    fraction of the file's length; slow tests keep their file order (a stable sort:
    every worker sees the same order).
    """
    counts: dict[str, int] = {}
    for item in items:
        counts[item.location[0]] = counts.get(item.location[0], 0) + 1
    rank: dict[str, int] = {}
    places: dict[int, float] = {}
    for item in items:
        path = item.location[0]
        rank[path] = rank.get(path, 0) + 1
        place = (rank[path] - 0.5) / counts[path]
        if item.get_closest_marker("slow") is not None:
            place = -1.0
        elif item.get_closest_marker("waits") is not None:
            place /= 2
        places[id(item)] = place
    items.sort(key=lambda item: places[id(item)])
