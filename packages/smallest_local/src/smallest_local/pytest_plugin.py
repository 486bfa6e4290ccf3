"""pytest plugin (entry point ``pytest11``): a ``smallest_server`` fixture for agent tests.

``smallest_server`` is a :class:`~smallest_local.server.Server` on an ephemeral loopback
port, running in a background thread with the deterministic ``tone`` engine and zero
latency, fresh for every test. It gives ``http_url`` / ``ws_url`` / ``api_key`` for the
client under test and ``faults`` / ``latency`` / ``stats`` for scripting and asserting.

Mark a test ``@pytest.mark.smallest_server(engine="espeak", first_chunk_ms=50, ...)``
to change the server's config (any :class:`ServerConfig` field) or latency fields
(``connect_ms``, ``first_chunk_ms``, ``chunk_ms``, ``realtime_factor``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import fields
from typing import Any

import pytest

from .config import LatencyModel, ServerConfig
from .server import Server

__all__ = ["smallest_server"]

_LATENCY = {f.name for f in fields(LatencyModel)}
_CONFIG = {f.name for f in fields(ServerConfig)}


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "smallest_server(**options): configure the smallest_server fixture "
        "(ServerConfig fields and LatencyModel fields)",
    )


def _options(request: pytest.FixtureRequest) -> tuple[dict[str, Any], dict[str, Any]]:
    config: dict[str, Any] = {"engine": "tone"}
    latency: dict[str, Any] = {}
    marker = request.node.get_closest_marker("smallest_server")
    for name, value in (marker.kwargs if marker else {}).items():
        if name in _LATENCY:
            latency[name] = value
        elif name in _CONFIG:
            config[name] = value
        else:
            raise pytest.UsageError(
                f"smallest_server marker: unknown option {name!r}; allowed: "
                f"{', '.join(sorted(_CONFIG | _LATENCY))}"
            )
    return config, latency


@pytest.fixture
def smallest_server(request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh local Smallest server on an ephemeral port (background thread)."""
    config, latency = _options(request)
    config.setdefault("latency", LatencyModel(**latency))
    with Server(ServerConfig(**config)) as server:
        yield server
