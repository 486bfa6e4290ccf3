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
    """Tests marked ``slow`` (tens of seconds: fresh venvs, the demo, long speech) run
    first: with a few xdist workers per run, a slow test handed out last would run alone
    while the other workers sit idle. A stable sort: every worker sees the same order."""
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)
