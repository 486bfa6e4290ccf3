"""Bad input through every adapter: refused before the network naming the field, or spoken sanely.

Settings are checked by the core's ``TTSOptions`` when the adapter is built: the error is
an ``InvalidOptionError`` whose ``field`` names the setting and whose text lists the
allowed values, and no socket or request reached the server. Odd text is not an error
of the caller's making: the turn ends, its audio (if any) is one whole, in-order run of
its own request, any error is typed, and the next turn speaks normally.
"""

from __future__ import annotations

from typing import Any

import pytest

from smallest_core import InvalidOptionError
from smallest_local import Server
from smallest_local.engines.tone import describe
from tests.support.drivers import ADAPTERS, driver
from tests.support.scenarios import tokens_of

from .test_faults import Tally, typed

#: field → a value the core refuses (the name is the core's, as in the error)
BAD: dict[str, Any] = {
    "voice_id": "",
    "sample_rate": 11025,
    "speed": 9.0,
    "language": "xx",
    "model": "lightning_v9",
}


def build(adapter: str, server: Server, field: str, value: Any) -> Any:
    """Construct the adapter the way an app would, with one bad setting."""
    key, http = server.api_key, server.http_url
    if adapter == "livekit":
        from livekit_smallest import TTS

        return TTS(api_key=key, base_url=http, **{field: value})
    if adapter == "pipecat":
        from pipecat.transcriptions.language import Language

        from pipecat_smallest import SmallestTTSService

        if field == "sample_rate":
            return SmallestTTSService(api_key=key, base_url=server.ws_url, sample_rate=value)
        name = {"voice_id": "voice"}.get(field, field)
        if field == "language":
            value = Language.CY  # a Pipecat language Smallest does not speak
        settings = SmallestTTSService.Settings(**{name: value})
        return SmallestTTSService(api_key=key, base_url=server.ws_url, settings=settings)
    if adapter == "langchain":
        from langchain_smallest import SmallestSpeech

        return SmallestSpeech(api_key=key, base_url=http, **{field: value})

    from langchain_smallest import SmallestTextToSpeechTool

    # an agent's tool call: the refusal is the answer the model reads (handle_*_error)
    tool = SmallestTextToSpeechTool(api_key=key, base_url=http)
    try:
        return tool.invoke({"text": "Hello.", field: value})
    finally:
        tool.close()


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize("field", list(BAD))
async def test_bad_setting_is_refused_before_the_network(
    field: str, adapter: str, smallest_server: Server
) -> None:
    if adapter == "langchain-tool":
        answer = build(adapter, smallest_server, field, BAD[field])
        assert isinstance(answer, str) and field in answer, answer
    else:
        with pytest.raises(InvalidOptionError) as info:
            build(adapter, smallest_server, field, BAD[field])
        assert info.value.field == field and "allowed" in str(info.value)
    stats = smallest_server.stats
    assert stats.ws_connections_total == 0 and stats.http_requests == 0


TEXTS = {
    "empty": "",
    "whitespace": "  \n\t ",
    "punctuation": "... !? --",
    "emoji": "Hello 👋 world 🌍, nice day 😀.",
    "control characters": "Hello\x00 there\x07 and\x1b goodbye.",
    "lone surrogate": "Broken \ud800 text here.",
    "RTL": "مرحبا بالعالم. كيف حالك؟",
    "Devanagari": "नमस्ते दुनिया। आप कैसे हैं?",
    "100 KB": ("x" * 998 + ". ") * 100,
}


#: Cases left out because the code fails them today (none: the three found by this suite —
#: a lone surrogate and an over-limit turn disabling Pipecat, a lone surrogate crashing the
#: REST client — are fixed).
FAILING_NOW: set[tuple[str, str]] = set()


@pytest.mark.parametrize(
    ("name", "adapter"),
    [(n, a) for n in TEXTS for a in ADAPTERS if (n, a) not in FAILING_NOW],
)
async def test_odd_text_is_spoken_sanely_and_the_next_turn_speaks(
    name: str, adapter: str, smallest_server: Server
) -> None:
    text = TEXTS[name]
    tally = Tally(smallest_server, adapter)
    async with driver(adapter, smallest_server) as d:
        turn = await d.speak(tokens_of(text))
        if turn.error is not None:
            if adapter == "langchain-tool":  # refused, naming the field, to the model
                assert "text" in str(turn.error), turn.error
            else:
                assert typed(adapter, turn.error), repr(turn.error)
        runs = describe(turn.audio)
        assert len(runs) <= 1, sorted(runs)
        for spans in runs.values():
            assert len(spans) == 1 and spans[0][0] == 0, spans  # whole, in order
        if not text.strip():
            assert turn.audio == b""
            assert turn.error is None or adapter == "langchain-tool"
        tally.saw(runs)
        tally.whole(await d.speak(tokens_of("Five words are spoken here.")))
