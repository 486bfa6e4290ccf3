"""Suite-wide settings. The `smallest_server` fixture comes from smallest_local's plugin."""

from __future__ import annotations

import os
import zlib
from pathlib import Path

import pytest
from hypothesis import settings

# CI (CI=true) explores a fixed set of examples so a landing never depends on luck;
# developers' runs stay random and keep finding new cases. No deadlines: a loaded
# 2-core machine must not turn a slow example into a failure.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_configure(config: pytest.Config) -> None:
    """Each xdist worker collects the suite's folders starting at a different one.

    Every worker imports every test module, and on a clean clone nothing is compiled
    yet: five workers that collect in the same order compile LiveKit, Pipecat and
    LangChain, and assertion-rewrite each test module, at the same moment, five times.
    Started at different folders, they mostly find what another worker already wrote.
    Five cold collections side by side, alternated three times: 26-31 s and 49-60 CPU-s
    rotated, 40-44 s and 78-86 CPU-s in one order. The tests collected are the same, and
    their order is ``pytest_collection_modifyitems``' alone. Only the ``testpaths``
    folder is rotated: paths given on the command line are collected as given.
    """
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    if config.args_source is not pytest.Config.ArgsSource.TESTPATHS or not worker:
        return
    root = Path(__file__).parent
    if [root] != [config.rootpath / arg for arg in config.args] or any(root.glob("test_*.py")):
        return  # not exactly this folder (of folders)
    folders = sorted(str(d.relative_to(config.rootpath)) for d in root.iterdir()
                     if d.is_dir() and any(d.glob("test_*.py")))  # fmt: skip
    index, count = int(worker.removeprefix("gw")), int(os.environ["PYTEST_XDIST_WORKER_COUNT"])
    start = index * len(folders) // count
    config.args[:] = folders[start:] + folders[:start]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The order xdist hands tests out in: a shuffle, with the tests marked ``slow``
    (tens of seconds: fresh venvs, the demo, long speech) spread evenly through its first
    half, in test-id order (the same on every worker, whatever order it collected in).

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
    slow = sorted(item.nodeid for item in items if item.get_closest_marker("slow") is not None)
    spread = {nodeid: i / (2 * len(slow)) for i, nodeid in enumerate(slow)}
    items.sort(key=lambda item: (spread.get(item.nodeid, _shuffled(item)), item.nodeid))


def _shuffled(item: pytest.Item) -> float:
    return zlib.crc32(item.nodeid.encode()) / 2**32
