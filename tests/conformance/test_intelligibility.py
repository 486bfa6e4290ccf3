"""One token-streamed turn per adapter through the espeak engine, checked by ASR.

The tone engine proves whose audio is whose; this proves the audio an adapter delivers is
speech a recogniser understands (sample format, byte order, rate and order intact).
"""

from __future__ import annotations

import pytest

from smallest_local import Server
from tests.support.asr import transcribe, wer
from tests.support.drivers import ADAPTERS, driver
from tests.support.scenarios import tokens_of

TEXT = "Please call me back tomorrow morning. I would like to order a large pizza."


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.smallest_server(engine="espeak")
async def test_a_streamed_turn_is_intelligible(adapter: str, smallest_server: Server) -> None:
    async with driver(adapter, smallest_server) as d:
        turn = await d.speak(tokens_of(TEXT))
    assert turn.error is None and turn.rate == 24000
    heard = transcribe(turn.audio, turn.rate)
    assert wer(TEXT, heard) <= 0.35, heard
