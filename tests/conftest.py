"""Suite-wide settings. The `smallest_server` fixture comes from smallest_local's plugin."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import settings

# CI (CI=true) explores a fixed set of examples so a landing never depends on luck;
# developers' runs stay random and keep finding new cases. No deadlines: a loaded
# 2-core machine must not turn a slow example into a failure.
settings.register_profile("ci", derandomize=True, deadline=None, print_blob=True)
settings.register_profile("dev", deadline=None, print_blob=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests marked ``slow`` (tens of seconds: fresh venvs, the demo, long speech) run
    first: with one xdist worker per core, a slow test handed out last would run alone
    while the other workers sit idle. A stable sort: every worker sees the same order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


#: Set in the warm-up collections below, so they do not start warm-ups of their own.
_WARMING = "SMALLEST_TESTS_WARMING"
#: Two halves of the suite that import different frameworks, collected side by side.
_HALVES = (["livekit", "core", "e2e"], ["pipecat", "langchain", "local"])
TESTS = Path(__file__).parent


def pytest_configure(config: pytest.Config) -> None:
    """Before pytest-xdist starts its workers, on a clean checkout: compile once.

    Nothing is compiled on a fresh clone: not the frameworks in the new venv, not
    pytest's rewritten test modules. Every worker would import and compile the same
    files at the same moment (five workers: five times the work, ~25 s of the run on
    2 cores). Two collections of the suite's halves, one per core, compile them once
    and write the caches; the workers then start from them. Skipped when the caches are
    there already (any later run) or without workers.
    """
    if (
        not config.getoption("numprocesses", None)
        or hasattr(config, "workerinput")
        or os.environ.get(_WARMING)
        or _compiled()
    ):
        return
    env = {**os.environ, _WARMING: "1"}
    quiet = subprocess.DEVNULL  # what they find is reported by the real run, not here
    runs = [
        subprocess.Popen(
            [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:xdist"]
            + [str(TESTS / d) for d in half],
            env=env,
            stdout=quiet,
            stderr=quiet,
        )
        for half in _HALVES
    ]
    for run in runs:
        run.wait()


def _compiled() -> bool:
    """Whether the bytecode caches are there: the largest framework's, and pytest's
    rewritten test modules'."""
    spec = importlib.util.find_spec("livekit.agents")
    if spec is None or spec.origin is None:
        return True  # nothing to warm up that the suite could use
    if not Path(importlib.util.cache_from_source(spec.origin)).exists():
        return False
    return any((TESTS / "core" / "__pycache__").glob("test_stream.*-pytest-*.pyc"))
