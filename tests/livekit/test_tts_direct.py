"""``TTS.synthesize()`` and ``TTS.stream()`` used directly against the local server.

Tone-engine audio names the request that produced every sample pair, so each test
checks that what LiveKit emitted is exactly one complete, in-order synthesis of the
segment's own request (``describe(pcm) == {tag_value(segment_id): [(0, n)]}``).
"""

from __future__ import annotations

import uuid

import pytest
from livekit.agents import APIConnectOptions, APIError, metrics
from livekit.agents.telemetry import trace_types
from livekit.agents.telemetry import traces as telemetry
from livekit.agents.types import USERDATA_TIMED_TRANSCRIPT
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import NoOpTracerProvider

from livekit_smallest import TTS
from smallest_core import ConnectionPool, InvalidOptionError
from smallest_local import Server
from smallest_local.catalog import VOICES
from smallest_local.engines import ToneEngine, describe, tag_value

FAST = APIConnectOptions(max_retry=0, timeout=5)
TONE = ToneEngine()
OTHER_VOICE = next(v.voice_id for v in VOICES if v.voice_id != "meher")


def pairs(text: str, rate: int) -> int:
    """Sample pairs the tone engine makes for ``text`` at ``rate``."""
    return TONE.pairs_per_word(rate) * len(text.split())


def check_frames(events: list, rate: int) -> bytes:
    """s16 mono at ``rate``, ``is_final`` only on the last frame; returns the PCM."""
    assert events
    for ev in events:
        assert ev.frame.sample_rate == rate
        assert ev.frame.num_channels == 1
        assert len(ev.frame.data.tobytes()) == ev.frame.samples_per_channel * 2  # s16
    assert [ev.is_final for ev in events] == [False] * (len(events) - 1) + [True]
    last = events[-1].frame
    if last.samples_per_channel == rate // 100 and not any(last.data.tobytes()):
        # LiveKit's own 10 ms end-of-segment marker, sent when a slow stream's tail was
        # already released by its playout timer: synthetic silence, not our audio.
        events = events[:-1]
    return b"".join(ev.frame.data.tobytes() for ev in events)


@pytest.mark.parametrize("fmt", ["pcm", "wav", "ulaw", "alaw", "mp3"])
async def test_synthesize_every_format_gives_the_same_duration(make_tts, fmt: str) -> None:
    text = "one two three four five six"
    tts = make_tts(output_format=fmt, sample_rate=16000)
    async with tts.synthesize(text, conn_options=FAST) as stream:
        events = [ev async for ev in stream]
    pcm = check_frames(events, 16000)
    samples = len(pcm) // 2
    expected = 2 * pairs(text, 16000)
    if fmt == "mp3":
        # MP3 is decoded by LiveKit (PyAV), which keeps the encoder's padding: the core
        # has no MP3 decoder to trim it, so MP3 is exact only to within one frame.
        assert expected <= samples <= expected + 1152
    else:
        assert samples == expected  # to the sample
        (tag,) = describe(pcm)  # G.711 is lossy on values, so only PCM/WAV are attributed
        if fmt in ("pcm", "wav"):
            assert describe(pcm) == {tag: [(0, pairs(text, 16000))]}


async def test_synthesize_blank_text_makes_no_request(make_tts, smallest_server: Server) -> None:
    tts = make_tts()
    async with tts.synthesize("   ", conn_options=FAST) as stream:
        events = [ev async for ev in stream]
    assert events == []
    assert smallest_server.stats.http_requests == 0


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 44100])
async def test_stream_token_by_token(make_tts, smallest_server: Server, rate: int) -> None:
    tts = make_tts(sample_rate=rate)
    collected: list[metrics.TTSMetrics] = []
    tts.on("metrics_collected", collected.append)
    text = "Hello there, how are you? I hope all is well. Bye now."
    stream = tts.stream(conn_options=FAST)
    for token in text.split(" "):
        stream.push_text(token + " ")
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()

    pcm = check_frames(events, rate)
    (segment_id,) = {ev.segment_id for ev in events}
    assert describe(pcm) == {tag_value(segment_id): [(0, pairs(text, rate))]}
    assert smallest_server.stats.request_ids == [segment_id]
    assert len(collected) == 1
    assert collected[0].streamed and collected[0].segment_id == segment_id
    assert collected[0].characters_count == len(text) + 1
    assert collected[0].ttfb > 0


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=50)
async def test_first_audio_before_end_input(make_tts) -> None:
    """A finished sentence is spoken while the LLM is still streaming the next one."""
    tts = make_tts()
    stream = tts.stream(conn_options=FAST)
    for token in ["One ", "two ", "three. ", "Four ", "five"]:
        stream.push_text(token)
    first = await stream.__anext__()  # would hang if audio waited for end_input()
    assert first.frame.duration > 0
    stream.push_text(" six.")
    stream.end_input()
    rest = [ev async for ev in stream]
    await stream.aclose()
    pcm = check_frames([first, *rest], 24000)
    assert describe(pcm) == {tag_value(first.segment_id): [(0, pairs("1 2 3 4 5 6", 24000))]}


async def test_word_timestamps_are_spaced_and_timed(make_tts) -> None:
    tts = make_tts(word_timestamps=True)
    assert tts.capabilities.aligned_transcript
    text = "Hello there, big world. See  you soon!"
    stream = tts.stream(conn_options=FAST)
    for token in ["Hello", " there,", " big", " world.", " See  you", " soon!"]:
        stream.push_text(token)
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()
    words = [w for ev in events for w in ev.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, [])]
    assert "".join(words) == text  # not "Hellothere,bigworld."
    timed = [w for w in words if w.strip()]
    assert [w.strip() for w in timed] == text.split()
    word_s = TONE.pairs_per_word(24000) * 2 / 24000
    assert [w.start_time for w in timed] == pytest.approx([i * word_s for i in range(7)])
    assert [w.end_time for w in timed] == pytest.approx([(i + 1) * word_s for i in range(7)])


async def test_whitespace_only_segment_ends_cleanly(make_tts, smallest_server: Server) -> None:
    tts = make_tts()
    errors: list = []
    tts.on("error", errors.append)
    stream = tts.stream(conn_options=FAST)
    stream.push_text("  \n ")
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()
    assert events == [] and errors == []
    assert smallest_server.stats.syntheses_started == 0


async def test_shared_prewarmed_pool_is_reused(make_tts, smallest_server: Server) -> None:
    async with ConnectionPool(
        api_key=smallest_server.api_key, base_url=smallest_server.ws_url, warm_spare=False
    ) as pool:
        await pool.prewarm()
        one, two = make_tts(pool=pool), make_tts(pool=pool, voice_id=OTHER_VOICE)
        collected: list[metrics.TTSMetrics] = []
        for tts in (one, two):
            tts.on("metrics_collected", collected.append)
            stream = tts.stream(conn_options=FAST)
            stream.push_text("Hi there.")
            stream.end_input()
            pcm = check_frames([ev async for ev in stream], 24000)
            await stream.aclose()
            assert len(describe(pcm)) == 1
        await one.aclose()  # a shared pool outlives the TTS
        assert not pool.connections[0].closed
    assert [m.connection_reused for m in collected] == [True, True]
    assert smallest_server.stats.ws_connections_total == 1


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("sample_rate", 22050),
        ("speed", 3.0),
        ("model", "lightning_v2"),
        ("language", "xx"),
        ("output_format", "flac"),
        ("voice_id", " "),
        ("word_timestamps", "yes"),
        ("base_url", "ftp://example.com"),
    ],
)
def test_bad_option_raises_at_construction_naming_the_field(field: str, value: object) -> None:
    with pytest.raises(InvalidOptionError) as info:
        TTS(api_key="sk_test", **{field: value})  # type: ignore[arg-type]
    assert info.value.field == field
    assert field in str(info.value)


def test_update_options_validates_and_keeps_the_old_options_on_error() -> None:
    tts = TTS(api_key="sk_test", word_timestamps=False)
    tts.update_options(sample_rate=16000, voice_id=OTHER_VOICE, word_timestamps=True)
    assert tts.sample_rate == 16000
    assert tts.options.voice_id == OTHER_VOICE
    assert tts.capabilities.aligned_transcript
    with pytest.raises(InvalidOptionError, match="speed"):
        tts.update_options(speed=9.0, voice_id="other")
    assert tts.options.voice_id == OTHER_VOICE and tts.options.speed == 1.0


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=40)
async def test_aclose_closes_live_streams_then_the_pool(make_tts) -> None:
    tts = make_tts()
    stream = tts.stream(conn_options=FAST)
    stream.push_text(" ".join(["word"] * 40))  # 8 s of audio in real time
    stream.end_input()
    first = await stream.__anext__()
    await tts.aclose()  # returns without waiting for the 8 s
    rest = [ev async for ev in stream]  # the stream was closed: iteration just ends
    pcm = b"".join(ev.frame.data.tobytes() for ev in [first, *rest])
    assert set(describe(pcm)) == {tag_value(first.segment_id)}
    after = tts.stream(conn_options=FAST)
    after.push_text("Too late.")
    after.end_input()
    with pytest.raises(APIError, match="closed"):
        async for _ev in after:
            pass
    await after.aclose()


DIALECT_TEXT = ["Hello there. ", "How are ", "you today? ", "I hope ", "all is well."]


@pytest.mark.parametrize(
    "dialect",
    [
        pytest.param(d, marks=pytest.mark.smallest_server(dialect=d), id=d)
        for d in ("context", "context-bare", "release-ids", "release", "release-bare")
    ],
)
async def test_every_server_reading_of_continuations(make_tts, dialect: str) -> None:
    """PROTOCOL.md §12 readings: one segment, whole, with word times on its own timeline.

    Under ``release*`` the server answers each sentence as its own request (times from
    0, maybe a ``complete`` each); the segment must still end after the last sentence,
    never at the first ``complete``, and the words must keep counting up.
    """
    tts = make_tts(word_timestamps=True)
    stream = tts.stream(conn_options=FAST)
    for token in DIALECT_TEXT:
        stream.push_text(token)
    stream.end_input()
    events = [ev async for ev in stream]
    await stream.aclose()
    text = "".join(DIALECT_TEXT)
    pcm = check_frames(events, 24000)
    assert describe(pcm) == {tag_value(events[0].segment_id): [(0, pairs(text, 24000))]}
    words = [w for ev in events for w in ev.frame.userdata.get(USERDATA_TIMED_TRANSCRIPT, [])]
    assert "".join(words) == text
    word_s = TONE.pairs_per_word(24000) * 2 / 24000
    starts = [w.start_time for w in words if w.strip()]
    assert starts == pytest.approx([i * word_s for i in range(len(text.split()))])


async def test_synthesize_retries_a_server_error_in_the_core(
    make_tts, smallest_server: Server
) -> None:
    smallest_server.faults.http_error(503, times=1)
    tts = make_tts()
    async with tts.synthesize("one two", conn_options=APIConnectOptions(max_retry=2)) as stream:
        pcm = check_frames([ev async for ev in stream], 24000)
    assert len(describe(pcm)) == 1
    assert smallest_server.stats.http_requests == 2


async def test_synthesize_refusal_is_not_retried(make_tts, smallest_server: Server) -> None:
    smallest_server.faults.http_error(422, times=1, message="text is too long")
    tts = make_tts()
    errors: list = []
    tts.on("error", errors.append)
    with pytest.raises(APIError) as info:
        async with tts.synthesize("one two", conn_options=APIConnectOptions()) as stream:
            [ev async for ev in stream]
    assert info.value.status_code == 422 and not info.value.retryable  # type: ignore[attr-defined]
    assert smallest_server.stats.http_requests == 1
    assert len(errors) == 1 and not errors[0].recoverable


async def test_the_servers_request_id_is_on_the_trace(make_tts, smallest_server: Server) -> None:
    """LiveKit's ``tts_request_run`` span lists the provider's ids
    (``lk.provider_request_ids``): our segment id, then the server's own request id,
    so a trace can be matched with Smallest's logs. The id must land on the span of
    the stream that heard it, not on whatever span the socket's reader runs under."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    telemetry.set_tracer_provider(provider)
    try:
        async with ConnectionPool(
            api_key=smallest_server.api_key, base_url=smallest_server.ws_url
        ) as pool:
            await pool.prewarm()  # the socket is opened outside any stream's span
            stream = make_tts(pool=pool).stream(conn_options=FAST)
            stream.push_text("Hello there.")
            stream.end_input()
            events = [ev async for ev in stream]
            await stream.aclose()
    finally:
        telemetry.set_tracer_provider(NoOpTracerProvider())
    (segment_id,) = {ev.segment_id for ev in events}
    runs = [s for s in exporter.get_finished_spans() if s.name == "tts_request_run"]
    assert len(runs) == 1
    ids = list((runs[0].attributes or {}).get(trace_types.ATTR_PROVIDER_REQUEST_IDS, ()))
    assert ids[0] == segment_id
    assert len(ids) == 2 and uuid.UUID(ids[1])  # the server's request id
