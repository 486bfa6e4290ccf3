"""``Utterance.stream_to(sink)``: the reader hands events to a callback, in order.

The same contract as ``async for event in utterance: sink(event)`` — every byte of its
own request and nothing else, errors typed, retries transparent, nothing after a cancel —
while the consumer task is not woken for each chunk. Checked byte for byte with the tone
engine's request tags, against smallest_local over real sockets.
"""

from __future__ import annotations

import asyncio

import pytest

from smallest_core import (
    AudioChunk,
    ConnectionLostError,
    ConnectionPool,
    RetryPolicy,
    TTSOptions,
    Utterance,
    WordTimestamp,
)
from smallest_local import Server
from smallest_local.engines import describe, tag_value

RATE = 24000
PAIRS_PER_WORD = RATE // 5 // 2  # tone engine: 200 ms per word
FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, deadline=10.0)


def pool(server: Server, **kw: object) -> ConnectionPool:
    opts = TTSOptions(sample_rate=RATE, complete_backoff_ms=0, word_timestamps=True)
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("options", opts)
    return ConnectionPool(api_key=server.api_key, base_url=server.ws_url, **kw)  # type: ignore[arg-type]


def only(pcm: bytes, rid: str, words: int) -> bool:
    return describe(pcm) == {tag_value(rid): [(0, words * PAIRS_PER_WORD)]}


class Sink:
    """Records what the reader hands over; ``first`` is set at the first audio."""

    def __init__(self) -> None:
        self.events: list[AudioChunk | WordTimestamp] = []
        self.first = asyncio.Event()
        self.from_reader = 0  # calls made by the socket's reader (no task is running)

    def __call__(self, event: AudioChunk | WordTimestamp) -> None:
        self.events.append(event)
        if asyncio.current_task() is None:
            self.from_reader += 1
        if isinstance(event, AudioChunk):
            self.first.set()

    @property
    def pcm(self) -> bytes:
        return b"".join(e.audio for e in self.events if isinstance(e, AudioChunk))

    @property
    def words(self) -> list[str]:
        return [e.word for e in self.events if isinstance(e, WordTimestamp)]


def consume(utt: Utterance) -> tuple[Sink, asyncio.Task[None]]:
    """The usual adapter shape: a task waits in ``stream_to`` while the test sends."""
    sink = Sink()
    return sink, asyncio.create_task(utt.stream_to(sink))


class TestStreamTo:
    async def test_same_audio_and_words_as_iteration(self, smallest_server: Server):
        async with pool(smallest_server) as p:
            iterated = await p.utterance("it")
            await iterated.end("Hello there, how are you")
            events = [e async for e in iterated]
            sunk = await p.utterance("sunk")
            sink = Sink()
            await sunk.end("Hello there, how are you")
            await sunk.stream_to(sink)
        assert only(sink.pcm, "sunk", 5)
        assert sink.words == [e.word for e in events if isinstance(e, WordTimestamp)]
        assert [type(e) for e in sink.events] == [type(e) for e in events]
        assert sunk.metrics.audio_bytes == len(sink.pcm)

    async def test_sink_called_by_the_reader_while_text_still_streams(
        self, smallest_server: Server
    ):
        # the usual adapter shape: one task sends, the other waits in stream_to
        async with pool(smallest_server) as p:
            utt = await p.utterance("live")
            sink, consumer = consume(utt)
            for word in ("one. ", "two. ", "three. "):
                await utt.push_text(word)
                await utt.flush()
            await sink.first.wait()  # audio while the utterance is still open for text
            assert utt.open_for_text
            await utt.end("four")
            await asyncio.wait_for(consumer, 10)
        assert only(sink.pcm, "live", 4)
        # handed over by the reader, not by a woken consumer task
        assert sink.from_reader == len(sink.events)

    @pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=50)
    async def test_audio_longer_than_finish_timeout_is_not_a_stall(self, smallest_server: Server):
        # chunks keep arriving for ~1.2 s after end(); the stall watchdog (0.3 s) must
        # count each one handed to the sink as progress
        async with pool(smallest_server, warm_spare=False) as p:
            utt = await p.utterance("long", finish_timeout=0.3)
            sink, consumer = consume(utt)
            await utt.end("w " * 6)
            await asyncio.wait_for(consumer, 10)
            assert not utt.connection.closed
        assert only(sink.pcm, "long", 6)

    async def test_a_drop_before_audio_is_retried_transparently(self, smallest_server: Server):
        smallest_server.faults.close_after(0, times=1)
        async with pool(smallest_server) as p:
            utt = await p.utterance("again")
            sink, consumer = consume(utt)
            await utt.end("three more words")
            await asyncio.wait_for(consumer, 10)
        assert only(sink.pcm, "again", 3)

    async def test_a_drop_after_audio_is_a_typed_error_with_a_clean_prefix(
        self, smallest_server: Server
    ):
        smallest_server.faults.abort_after(2)
        async with pool(smallest_server) as p:
            utt = await p.utterance("late")
            sink = Sink()
            await utt.end("w " * 10)
            with pytest.raises(ConnectionLostError):
                await utt.stream_to(sink)
            got = sink.pcm
            assert describe(got) == {tag_value("late"): [(0, len(got) // 4)]}
            assert 0 < len(got) < 10 * PAIRS_PER_WORD * 4
            nxt = await p.utterance("after")
            after = Sink()
            await nxt.end("fine")
            await nxt.stream_to(after)
            assert only(after.pcm, "after", 1)

    async def test_nothing_reaches_the_sink_once_its_task_is_cancelled(
        self, smallest_server: Server
    ):
        # barge-in: the framework cancels the consuming task. From that moment the
        # reader must not hand the sink anything more, even before the adapter's own
        # cleanup has cancelled the utterance.
        async with pool(smallest_server) as p:
            utt = await p.utterance("old")
            sink, consumer = consume(utt)
            await utt.end("w " * 20)
            await sink.first.wait()
            consumer.cancel()
            seen = len(sink.events)
            with pytest.raises(asyncio.CancelledError):
                await consumer
            nxt = await p.utterance("new")  # more traffic on the same socket
            assert nxt.connection is utt.connection
            await nxt.end("fresh words")
            fresh = Sink()
            await nxt.stream_to(fresh)
            assert len(sink.events) == seen
            utt.cancel()
        assert only(fresh.pcm, "new", 2)

    async def test_a_cancel_during_the_readers_own_step_stops_the_sink_there(
        self, smallest_server: Server
    ):
        # the framework may cancel the consumer while the socket's bytes are being
        # handled (here: from the sink itself, at the first chunk); the chunks already
        # read in that step must not follow it to the sink
        async with pool(smallest_server) as p:
            utt = await p.utterance("old")
            sink = Sink()
            consumer: asyncio.Task[None] | None = None

            def cancel_at_first(event: AudioChunk | WordTimestamp) -> None:
                sink(event)
                if consumer is not None and not consumer.cancelling():
                    consumer.cancel()

            consumer = asyncio.create_task(utt.stream_to(cancel_at_first))
            await utt.end("w " * 20)  # many chunks, read in few steps
            with pytest.raises(asyncio.CancelledError):
                await consumer
            utt.cancel()
        assert len(sink.events) == 1

    async def test_a_sink_that_raises_cancels_the_utterance_and_raises(
        self, smallest_server: Server
    ):
        class Broken(Exception):
            pass

        def sink(event: AudioChunk | WordTimestamp) -> None:
            if isinstance(event, AudioChunk):
                raise Broken("the sink's own bug")

        async with pool(smallest_server) as p:
            utt = await p.utterance("broken")
            consumer = asyncio.create_task(utt.stream_to(sink))
            await utt.end("w " * 10)
            with pytest.raises(Broken):
                await asyncio.wait_for(consumer, 10)
            assert utt.state.value == "cancelled"
            # the socket is unharmed: the next utterance on it speaks
            nxt = await p.utterance("next")
            assert nxt.connection is utt.connection
            fine = Sink()
            await nxt.end("fine")
            await nxt.stream_to(fine)
        assert only(fine.pcm, "next", 1)


class TestFlushedText:
    @pytest.mark.parametrize("mode", ["continuations", "flush"])
    async def test_a_flushed_fragment_speaks_before_end_also_after_a_retry(
        self, smallest_server: Server, mode: str
    ):
        # no sentence end in the text: only the flush releases it. The first attempt
        # drops before audio; the replay on the next socket must be flushed as well.
        smallest_server.faults.close_after(0, times=1)
        async with pool(smallest_server, mode=mode) as p:
            utt = await p.utterance("f")
            sink, consumer = consume(utt)
            await utt.push_text("Hello there", flush=True)  # one message
            await asyncio.wait_for(sink.first.wait(), 5)  # audio while still open
            assert utt.open_for_text
            await utt.end()
            await asyncio.wait_for(consumer, 10)
        assert only(sink.pcm, "f", 2)
        assert smallest_server.stats.request_ids == ["f", "f"]

    @pytest.mark.parametrize("mode", ["continuations", "flush"])
    async def test_a_retry_replays_each_flush_in_its_place(
        self, smallest_server: Server, mode: str
    ):
        # A flushed piece, then more text without a flush or a sentence end. The first
        # attempt drops before audio; on the next socket the first piece must be flushed
        # again although the last thing sent was not (one flush "if all was flushed" at
        # the end of the replay held the whole text until end()).
        smallest_server.faults.close_after(0, times=1)
        held = TTSOptions(
            sample_rate=RATE, complete_backoff_ms=0, word_timestamps=True, max_buffer_delay_ms=5000
        )
        async with pool(smallest_server, mode=mode, options=held) as p:
            utt = await p.utterance("p")
            sink, consumer = consume(utt)
            await utt.push_text("Hello there", flush=True)
            await utt.push_text(" and more")
            await asyncio.wait_for(sink.first.wait(), 4)  # before the server's 5 s hold
            assert utt.open_for_text
            await utt.end()
            await asyncio.wait_for(consumer, 10)
        assert only(sink.pcm, "p", 4)
        assert sink.words == ["Hello", "there", "and", "more"]
        assert smallest_server.stats.request_ids == ["p", "p"]
