"""Fixtures for the LiveKit adapter: a TTS pointed at the local server, closed after use."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from livekit_smallest import TTS
from smallest_local import Server


@pytest.fixture
async def make_tts(smallest_server: Server) -> AsyncIterator:
    """Build TTS instances on the local server; every one is closed at teardown."""
    made: list[TTS] = []

    def make(**kwargs: object) -> TTS:
        kwargs.setdefault("api_key", smallest_server.api_key)
        kwargs.setdefault("base_url", smallest_server.http_url)
        tts = TTS(**kwargs)  # type: ignore[arg-type]
        made.append(tts)
        return tts

    yield make
    for tts in made:
        await tts.aclose()
