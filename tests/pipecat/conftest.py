"""Fixtures for the Pipecat adapter tests: services pointed at the local server."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from pipecat_smallest import SmallestHttpTTSService, SmallestTTSService
from smallest_local import Server


@pytest.fixture
def make_tts(smallest_server: Server) -> Callable[..., SmallestTTSService]:
    """Build a streaming service for the test's server (keyword args pass through)."""

    def make(**kwargs: Any) -> SmallestTTSService:
        return SmallestTTSService(
            api_key=smallest_server.api_key, base_url=smallest_server.ws_url, **kwargs
        )

    return make


@pytest.fixture
def make_http_tts(smallest_server: Server) -> Callable[..., SmallestHttpTTSService]:
    """Build an HTTP service for the test's server (keyword args pass through)."""

    def make(**kwargs: Any) -> SmallestHttpTTSService:
        return SmallestHttpTTSService(
            api_key=smallest_server.api_key, base_url=smallest_server.http_url, **kwargs
        )

    return make
