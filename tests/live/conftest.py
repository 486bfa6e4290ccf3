"""The live suite: tests against the real Smallest API, never part of ``make test``.

How it stays out of the default run, and why this way: ``make test`` runs a bare
``pytest -q`` over ``testpaths = ["tests"]``, and the repository's rule is that every test
there runs offline against ``smallest_local``. So :func:`pytest_ignore_collect` below
ignores the files of this folder unless the run selects the ``live`` marker (``-m live``,
or an expression naming it without ``not``). A default run therefore neither collects nor
counts them — no "skipped" noise, no network — while ``make test-live`` (which runs
``pytest -m live tests/live --force-enable-socket``) does. A file named explicitly on the
command line is always collected (pytest does not ask this hook about it).

Once collected, every test is skipped with a clear reason when ``SMALLEST_API_KEY`` is not
set (:func:`pytest_collection_modifyitems`), so ``make test-live`` exits 0 without a key.

The network: ``pyproject.toml`` blocks every host but loopback for all tests
(pytest-socket ``--allow-hosts``); ``make test-live`` passes pytest-socket's own
``--force-enable-socket`` to lift that for this run only.

Environment: ``SMALLEST_API_KEY`` (required), ``SMALLEST_BASE_URL`` (default: the real
service; point it at ``smallest-local serve`` to dry-run the suite).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from smallest_core import DEFAULT_HTTP_BASE

HERE = Path(__file__).resolve().parent
KEY_ENV = "SMALLEST_API_KEY"
BASE_URL_ENV = "SMALLEST_BASE_URL"
NO_KEY_REASON = (
    f"{KEY_ENV} is not set: the live suite talks to the real Smallest API "
    f"(set {KEY_ENV}, optionally {BASE_URL_ENV}, and run `make test-live`)"
)


def _live_selected(config: pytest.Config) -> bool:
    """Whether the run's ``-m`` expression asks for the ``live`` marker."""
    expr = config.getoption("markexpr", default="") or ""
    return bool(re.search(r"\blive\b", expr)) and not re.search(r"\bnot\s+live\b", expr)


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    if collection_path.resolve().parent == HERE and not _live_selected(config):
        return True
    return None


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get(KEY_ENV) or not _live_selected(config):
        return  # (unselected, the folder was never collected: no path to resolve per item)
    skip = pytest.mark.skip(reason=NO_KEY_REASON)
    for item in items:
        if HERE in item.path.resolve().parents:
            item.add_marker(skip)


@pytest.fixture
def api_key() -> str:
    """The real key (the tests are skipped before this runs when it is unset)."""
    return os.environ[KEY_ENV]


@pytest.fixture
def base_url() -> str:
    """The HTTP base URL; the WebSocket clients derive ``wss://`` from it."""
    return os.environ.get(BASE_URL_ENV) or DEFAULT_HTTP_BASE
