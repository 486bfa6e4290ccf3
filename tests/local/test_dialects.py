"""Continuations dialects (``ServerConfig.dialect``): every reading of PROTOCOL.md §12.

``context`` — one server request and one ``complete`` per context; ``release-ids`` —
each sentence release a fresh server request (new ``request_id``, word ids and times from
0), one ``complete`` per context (Pipecat 1.14); ``release`` — plus one ``complete`` per
release, nothing marking the last (LiveKit PR #7111); ``-bare`` — no ``context_id`` echo.
Plain ``websockets`` client and the tone engine, so every sample names its context.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
from websockets.asyncio.client import ClientConnection

from smallest_local import DIALECTS, Dialect, Server, ServerConfig
from smallest_local.engines import describe, tag_value

from .wsclient import RATE, audio, connect, frame, recv, until_complete

WORD_PAIRS = RATE // 5 // 2  # tone engine: 200 ms per word, two samples per pair
TEXT = "One two. Three four. Five"  # three releases of 2, 2 and 1 words


def words(n: int) -> int:
    return n * WORD_PAIRS


def ctx_frame(text: str, ctx: str, *, more: bool, **extra: Any) -> str:
    return frame(
        text,
        context_id=ctx,
        request_id=ctx,
        word_timestamps=True,
        complete_backoff_ms=0,
        **{"continue": more},
        **extra,
    )


async def until_completes(ws: ClientConnection, n: int) -> list[dict[str, Any]]:
    """Frames up to and including the ``n``-th ``complete``."""
    frames: list[dict[str, Any]] = []
    seen = 0
    while seen < n:
        msg = await recv(ws)
        frames.append(msg)
        assert msg["status"] != "error", msg
        seen += msg["status"] == "complete"
    return frames


def releases(frames: list[dict[str, Any]]) -> list[list[dict[str, Any]]]:
    """Frames grouped by server ``request_id``, in order of first appearance."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for f in frames:
        groups.setdefault(f["request_id"], []).append(f)
    return list(groups.values())


def word_data(frames: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [f["data"] for f in frames if f["status"] == "word_timestamp"]


async def nothing_more_for(ws: ClientConnection, ctx: str) -> None:
    """A later context on the same socket is served and no frame of ``ctx`` shows up."""
    await ws.send(ctx_frame("after", "after", more=False))
    frames = await until_complete(ws, value="after")
    assert all(f.get("external_request_id") == "after" for f in frames), ctx
    assert describe(audio(frames)) == {tag_value("after"): [(0, words(1))]}


class TestPresets:
    def test_names_and_flags(self):
        assert DIALECTS["context"] == Dialect()
        assert DIALECTS["release-ids"] == Dialect(release_ids=True)
        assert DIALECTS["release"] == Dialect(release_ids=True, complete_per_release=True)
        assert not DIALECTS["release-bare"].echo_context_id
        assert not DIALECTS["context-bare"].echo_context_id
        assert ServerConfig().dialect == "context"
        assert ServerConfig(dialect="release").dialect_spec.complete_per_release

    def test_unknown_dialect_names_the_allowed_values(self):
        with pytest.raises(ValueError, match=r"'dialect'.*release-ids"):
            ServerConfig(dialect="per-release")

    def test_complete_per_release_needs_release_ids(self):
        with pytest.raises(ValueError, match="release_ids"):
            Dialect(complete_per_release=True)

    def test_negative_gap_is_refused(self):
        with pytest.raises(ValueError, match="release_gap_ms"):
            ServerConfig(release_gap_ms=-1)


class TestContextDialect:
    """Default: the original behaviour, one request id and one timeline per context."""

    async def test_one_request_one_timeline_one_complete(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame(TEXT, "c", more=False))
            frames = await until_complete(ws, key="context_id", value="c")
            await nothing_more_for(ws, "c")
        assert [f["status"] for f in frames].count("complete") == 1
        assert frames[-1]["status"] == "complete"
        assert len({f["request_id"] for f in frames}) == 1
        assert all(f["context_id"] == "c" and f["external_request_id"] == "c" for f in frames)
        data = word_data(frames)
        assert [w["id"] for w in data] == [0, 1, 2, 3, 4]
        assert [w["start"] for w in data] == pytest.approx([0.0, 0.2, 0.4, 0.6, 0.8])
        assert describe(audio(frames)) == {tag_value("c"): [(0, words(5))]}

    @pytest.mark.smallest_server(dialect="context-bare")
    async def test_bare_never_echoes_context_id(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame(TEXT, "c", more=False))
            frames = await until_complete(ws, value="c")
        assert all("context_id" not in f for f in frames)
        assert all(f["external_request_id"] == "c" for f in frames)
        assert len({f["request_id"] for f in frames}) == 1


class TestReleaseIds:
    """Pipecat 1.14's reading: a server request per release, one complete per context."""

    @pytest.mark.smallest_server(dialect="release-ids", release_gap_ms=0)
    async def test_fresh_ids_and_restarting_timestamps_one_complete(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame(TEXT, "c", more=False))
            frames = await until_complete(ws, value="c")
            await nothing_more_for(ws, "c")
        statuses = [f["status"] for f in frames]
        assert statuses.count("complete") == 1 and statuses[-1] == "complete"
        groups = releases(frames)
        assert len(groups) == 3
        ids = [g[0]["request_id"] for g in groups]
        assert len(set(ids)) == 3 and all(uuid.UUID(i) for i in ids)
        assert frames[-1]["request_id"] == ids[-1]  # the complete: the last release's id
        assert [[w["id"] for w in word_data(g)] for g in groups] == [[0, 1], [0, 1], [0]]
        starts = [[w["start"] for w in word_data(g)] for g in groups]
        assert starts == [pytest.approx([0.0, 0.2]), pytest.approx([0.0, 0.2]), [0.0]]
        assert all(f["context_id"] == "c" and f["external_request_id"] == "c" for f in frames)
        assert len({f["session_id"] for f in frames}) == 1
        # the audio itself is one contiguous run of the context's 5 words
        assert describe(audio(frames)) == {tag_value("c"): [(0, words(5))]}

    @pytest.mark.smallest_server(dialect="release-ids", release_gap_ms=0)
    async def test_max_buffer_delay_release_is_a_release_too(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame("no boundary", "c", more=True, max_buffer_delay_ms=50))
            first = await recv(ws)
            assert first["status"] == "chunk"
            await ws.send(ctx_frame(" then more", "c", more=False))
            frames = [first, *await until_complete(ws, value="c")]
        groups = releases(frames)
        assert len(groups) == 2
        assert [[w["id"] for w in word_data(g)] for g in groups] == [[0, 1], [0, 1]]
        assert describe(audio(frames)) == {tag_value("c"): [(0, words(4))]}

    @pytest.mark.smallest_server(dialect="release-ids-bare", release_gap_ms=0)
    async def test_bare_never_echoes_context_id(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame(TEXT, "c", more=False))
            frames = await until_complete(ws, value="c")
        assert all("context_id" not in f for f in frames)
        assert len(releases(frames)) == 3


class TestRelease:
    """LiveKit PR #7111's reading: one complete per release, no terminal marker."""

    @pytest.mark.smallest_server(dialect="release", release_gap_ms=0)
    async def test_each_release_ends_with_its_own_complete(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame(TEXT, "c", more=False))
            frames = await until_completes(ws, 3)
            await nothing_more_for(ws, "c")
        groups = releases(frames)
        assert len(groups) == 3
        for group, n_words in zip(groups, (2, 2, 1), strict=True):
            kinds = [f["status"] for f in group]
            assert kinds[-1] == "complete" and kinds.count("complete") == 1
            assert set(kinds[:-1]) == {"chunk", "word_timestamp"}
            assert [w["id"] for w in word_data(group)] == list(range(n_words))
            assert word_data(group)[0]["start"] == 0.0
            assert all(f["context_id"] == "c" and f["external_request_id"] == "c" for f in group)
            # §5.3: complete carries no data
            assert "data" not in group[-1]
        assert describe(audio(frames)) == {tag_value("c"): [(0, words(5))]}

    @pytest.mark.smallest_server(dialect="release", release_gap_ms=0)
    async def test_closing_fragment_alone_produces_no_frame(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame("Hello there. ", "c", more=True))
            frames = await until_completes(ws, 1)
            await ws.send(ctx_frame("", "c", more=False))
            await nothing_more_for(ws, "c")
        assert describe(audio(frames)) == {tag_value("c"): [(0, words(2))]}

    @pytest.mark.smallest_server(dialect="release-bare", release_gap_ms=0)
    async def test_bare_never_echoes_context_id_even_in_errors(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame(TEXT, "c", more=False))
            frames = await until_completes(ws, 3)
            await ws.send(ctx_frame("bad", "c", more=False, speed=9))  # an invalid frame
            error = await recv(ws)
        assert error["status"] == "error" and error["external_request_id"] == "c"
        assert all("context_id" not in f for f in [*frames, error])
        assert len(releases(frames)) == 3

    @pytest.mark.smallest_server(dialect="release", release_gap_ms=150)
    async def test_gap_between_a_release_complete_and_the_next_chunk(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame("One. Two.", "c", more=False))
            stamped: list[tuple[float, dict[str, Any]]] = []
            while sum(f["status"] == "complete" for _, f in stamped) < 2:
                msg = await recv(ws)
                stamped.append((time.monotonic(), msg))
        first_complete = next(t for t, f in stamped if f["status"] == "complete")
        second_id = stamped[-1][1]["request_id"]
        next_chunk = next(t for t, f in stamped if f["request_id"] == second_id)
        assert 0.1 <= next_chunk - first_complete < 1.0  # server-side gap: 0.15 s

    @pytest.mark.smallest_server(dialect="release", realtime_factor=1.0, chunk_ms=50)
    async def test_cancel_request_drops_pending_releases(self, smallest_server: Server):
        async with await connect(smallest_server) as ws:
            await ws.send(ctx_frame("One two. Three four. Five six.", "gone", more=False))
            first = await recv(ws)
            await ws.send(ctx_frame("", "gone", more=False, cancel_request=True))
            await ws.send(ctx_frame("next", "next", more=False))
            frames = await until_complete(ws, value="next")
        gone = [first, *(f for f in frames if f.get("external_request_id") == "gone")]
        # only chunks of the first release that were in flight; no complete, no later release
        assert all(f["status"] in ("chunk", "word_timestamp") for f in gone)
        assert len(gone) <= 3 and len({f["request_id"] for f in gone}) == 1
        assert describe(audio(frames, external_request_id="next")) == {
            tag_value("next"): [(0, words(1))]
        }
        assert smallest_server.stats.syntheses_cancelled == 1


def _fast(dialect: str, completes: int) -> Any:
    marker = pytest.mark.smallest_server(dialect=dialect, realtime_factor=0.5, chunk_ms=50)
    return pytest.param(dialect, completes, marks=marker, id=dialect)


@pytest.mark.parametrize(
    ("dialect", "completes"), [_fast("context", 1), _fast("release-ids", 1), _fast("release", 3)]
)
async def test_text_faster_than_speech_keeps_every_release_in_order(
    smallest_server: Server, dialect: str, completes: int
):
    """The closing fragment arrives while release 1 is still being spoken.

    Under ``release`` the first ``complete`` after the closing fragment belongs to
    release 1 — a client that ends there cuts the reply off — and releases 2 and 3 still
    follow in order, each with its own ``complete``.
    """
    async with await connect(smallest_server) as ws:
        await ws.send(ctx_frame("One two. ", "c", more=True))
        first = await recv(ws)  # release 1 (0.4 s of audio, 0.2 s to speak) has started
        await ws.send(ctx_frame("Three four. ", "c", more=True))
        await ws.send(ctx_frame("Five six.", "c", more=True))
        await ws.send(ctx_frame("", "c", more=False))
        frames = [first, *await until_completes(ws, completes)]
        await nothing_more_for(ws, "c")
    assert describe(audio(frames)) == {tag_value("c"): [(0, words(6))]}
    assert frames[-1]["status"] == "complete"
    assert [w["word"] for w in word_data(frames)] == [
        "One",
        "two.",
        "Three",
        "four.",
        "Five",
        "six.",
    ]
    groups = releases(frames)
    if dialect == "context":
        assert len(groups) == 1
    else:
        assert len(groups) == 3
        if dialect == "release":
            first_complete = next(f for f in frames if f["status"] == "complete")
            assert first_complete["request_id"] == groups[0][0]["request_id"]
            assert [g[-1]["status"] for g in groups] == ["complete"] * 3
