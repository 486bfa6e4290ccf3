"""The core under every server dialect, through smallest_local over real sockets.

Each dialect is one reading of how the real service ends a continuations context
(docs/protocol.md §13): one ``complete`` per context, or per sentence release with a fresh
server ``request_id`` and word times restarting at 0, with ``context_id`` echoed or not.
Whatever the reading: no audio is cut off, none is stale, nothing hangs, word timestamps
are on the utterance's timeline, and the socket is kept for the next utterance.
"""

from __future__ import annotations

import asyncio

import pytest

from smallest_core import (
    AudioChunk,
    ConnectionPool,
    EndRule,
    RetryPolicy,
    TTSOptions,
    Utterance,
    WordTimestamp,
)
from smallest_local import Server
from smallest_local.engines import describe, tag_value

RATE = 8000
PAIRS_PER_WORD = RATE // 5 // 2  # tone engine: 200 ms per word
OPTS = TTSOptions(sample_rate=RATE, word_timestamps=True)
REPLY = "The first sentence is here. A second one follows it. And a third ends the turn."
WORDS = REPLY.split()

DIALECTS = ["context", "release-ids", "release", "context-bare", "release-bare"]


def dialect(name: str, gap_ms: float = 100) -> pytest.MarkDecorator:
    return pytest.mark.smallest_server(dialect=name, release_gap_ms=gap_ms)


def params(gap_ms: float = 100) -> list[object]:
    return [pytest.param(name, marks=dialect(name, gap_ms), id=name) for name in DIALECTS]


def pool(server: Server, **kw: object) -> ConnectionPool:
    return ConnectionPool(
        api_key=server.api_key,
        base_url=server.ws_url,
        options=OPTS,
        retry=RetryPolicy(max_attempts=1),
        warm_spare=False,
        **kw,  # type: ignore[arg-type]
    )


async def speak_tokens(utt: Utterance, text: str) -> None:
    """Feed ``text`` word by word, as an LLM streams it (faster than speech), then end."""
    for token in text.split(" "):
        await utt.push_text(token + " ")
    await utt.end()


async def drain(utt: Utterance) -> tuple[bytes, list[WordTimestamp]]:
    audio, words = bytearray(), []
    async for event in utt:
        if isinstance(event, AudioChunk):
            audio += event.audio
        else:
            words.append(event)
    return bytes(audio), words


@pytest.mark.parametrize("name", params())
async def test_a_streamed_multi_sentence_reply_is_never_cut_off(smallest_server: Server, name):
    async with pool(smallest_server) as p:
        for turn in range(3):
            rid = f"turn-{turn}"
            utt = await p.utterance(rid)
            await speak_tokens(utt, REPLY)
            async with asyncio.timeout(10):
                audio, words = await drain(utt)
            # every word of every release, one contiguous run, nothing else
            assert describe(audio) == {tag_value(rid): [(0, len(WORDS) * PAIRS_PER_WORD)]}
            # timestamps on the utterance's own timeline, indices across releases
            assert [w.index for w in words] == list(range(len(WORDS)))
            assert [w.word for w in words] == WORDS
            starts = [w.start for w in words]
            assert starts == sorted(starts)
            assert words[-1].end == pytest.approx(len(audio) / 2 / RATE, abs=0.25)
        assert p.end_rule.late_frames == 0
        assert p.connections_opened == 1  # one socket for every turn
        expected = "context" if name.startswith("context") else "release"
        if name == "release-ids":
            expected = "context"  # one complete per context, fresh ids: ends on it
        assert p.end_rule.reading == expected


@pytest.mark.parametrize("name", params())
async def test_barge_in_then_a_new_turn_on_the_same_socket(smallest_server: Server, name):
    async with pool(smallest_server) as p:
        old = await p.utterance("old")
        await speak_tokens(old, REPLY)
        async for event in old:
            if isinstance(event, AudioChunk):
                break  # first audio heard: the user barges in
        old.cancel()
        new = await p.utterance("new")
        await new.end("Yes.")
        async with asyncio.timeout(10):
            audio, _ = await drain(new)
        assert describe(audio) == {tag_value("new"): [(0, PAIRS_PER_WORD)]}
        assert p.connections_opened == 1
        assert smallest_server.stats.ws_connections_total == 1


@pytest.mark.parametrize("name", params(gap_ms=0))
async def test_single_sentences_end_on_the_complete(smallest_server: Server, name):
    """One possible release: the first complete after the close is the last one."""
    async with pool(smallest_server, end_rule=EndRule(window=5.0)) as p:
        for n in range(3):
            utt = await p.utterance(f"s{n}")
            await utt.end("Just one sentence")
            # a 5 s window would blow this bound: the count rule ended it at the complete
            async with asyncio.timeout(2.5):
                audio, _ = await drain(utt)
            assert describe(audio) == {tag_value(f"s{n}"): [(0, 3 * PAIRS_PER_WORD)]}
