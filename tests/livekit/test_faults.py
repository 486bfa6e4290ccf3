"""Server faults through a real ``AgentSession``: one retry owner, typed errors, quiet logs.

Faults are scripted on the local server (``smallest_server.faults``). The core retries
what has produced no audio yet; what it finally raises reaches LiveKit as a
non-retryable ``APIError``, so LiveKit never multiplies the attempts.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable

import pytest
from livekit.agents import APIConnectionError, APIConnectOptions, APIStatusError
from livekit.agents.tts import TTSError

from livekit_smallest import TTS
from smallest_local import Server
from smallest_local.engines import describe, tag_value
from tests.support.livekit import pcm_of

from .test_session import TONE, one_run, running_session

OUR_LOGGERS = ("smallest_core", "livekit.plugins.smallest", "livekit.agents")


def warnings_from_us(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.levelno >= logging.WARNING and r.name.startswith(OUR_LOGGERS)
    ]


class _ClosedSockets(logging.Handler):
    """Counts sockets the core saw closed (its INFO '= closed' line) and wakes a waiter."""

    def __init__(self, wanted: int) -> None:
        super().__init__()
        self.wanted = wanted
        self.count = 0
        self.done = asyncio.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("= closed"):
            self.count += 1
            if self.count >= self.wanted:
                self.done.set()


async def test_rejected_voice_fails_once_fast_and_is_not_retried(
    make_tts: Callable[..., TTS], smallest_server: Server
) -> None:
    tts = make_tts(voice_id="no_such_voice")
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    async with running_session(tts) as (session, sink):
        started = time.monotonic()
        await session.say("This voice does not exist.")
        elapsed = time.monotonic() - started
    assert len(errors) == 1  # LiveKit emits one per attempt: no second attempt
    assert not errors[0].recoverable
    err = errors[0].error
    assert isinstance(err, APIStatusError) and not err.retryable
    assert "voice_id" in err.message
    assert elapsed < 1.0  # one round trip, not 0.1 + 2 + 2 s of retries
    assert sink.frames == []


async def test_server_error_frame_before_audio_is_retried_transparently(
    make_tts: Callable[..., TTS], smallest_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    smallest_server.faults.error_frame("Synthesis failed", code="INTERNAL_ERROR")
    tts = make_tts()
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    caplog.set_level(logging.INFO)
    async with running_session(tts) as (session, sink):
        await session.say("Retried on a fresh socket.")
    assert errors == []
    assert warnings_from_us(caplog) == []  # a transparent retry is not a warning
    rid = smallest_server.stats.request_ids[-1]
    one_run(pcm_of(sink.frames), rid, 5)


async def test_drop_before_first_audio_is_retried_transparently(
    make_tts: Callable[..., TTS], smallest_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    smallest_server.faults.abort_after(0)
    tts = make_tts()
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    async with running_session(tts) as (session, sink):
        await session.say("Dropped, then spoken.")
    assert errors == []
    assert warnings_from_us(caplog) == []
    first, retry = smallest_server.stats.request_ids
    assert first == retry  # the same utterance, replayed on a fresh socket
    one_run(pcm_of(sink.frames), first, 3)


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=40)
async def test_drop_mid_segment_fails_that_turn_and_the_next_one_speaks(
    make_tts: Callable[..., TTS], smallest_server: Server
) -> None:
    smallest_server.faults.abort_after(2)
    tts = make_tts()
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    async with running_session(tts) as (session, sink):
        await session.say("one two three four five six")
        broken = len(sink.frames)
        await session.say("Back again.")
    assert len(errors) == 1 and not errors[0].recoverable
    assert isinstance(errors[0].error, APIConnectionError) and not errors[0].error.retryable
    lost, back = smallest_server.stats.request_ids
    runs = describe(pcm_of(sink.frames[:broken]))
    assert set(runs) <= {tag_value(lost)}  # the partial audio was the lost turn's own
    if runs:
        assert runs[tag_value(lost)][0][0] == 0
        assert runs[tag_value(lost)][0][1] < 6 * TONE.pairs_per_word(24000)
    one_run(pcm_of(sink.frames[broken:]), back, 2)


async def test_idle_close_costs_no_failed_turn_and_no_warning(
    make_tts: Callable[..., TTS], smallest_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    # The first socket and its warm spare; each times out only once it holds no request.
    smallest_server.faults.idle_close(0.2, times=2, between_requests=True)
    closed = _ClosedSockets(wanted=2)
    logging.getLogger("smallest_core").addHandler(closed)
    tts = make_tts()
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    try:
        async with running_session(tts) as (session, sink):
            await session.say("Before the pause.")
            before = len(sink.frames)
            await asyncio.wait_for(closed.done.wait(), 10)  # the server closed both
            await session.say("After the pause.")
    finally:
        logging.getLogger("smallest_core").removeHandler(closed)
    assert errors == []
    assert warnings_from_us(caplog) == []
    first, second = smallest_server.stats.request_ids
    one_run(pcm_of(sink.frames[:before]), first, 3)
    one_run(pcm_of(sink.frames[before:]), second, 3)


async def test_close_after_every_complete_costs_no_failed_turn_and_no_warning(
    make_tts: Callable[..., TTS], smallest_server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    smallest_server.faults.close_after_complete(times=None)
    tts = make_tts()
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    marks = []
    texts = ("One turn.", "Another turn.", "A third turn.")
    async with running_session(tts) as (session, sink):
        for text in texts:
            marks.append(len(sink.frames))
            await session.say(text)
    marks.append(len(sink.frames))
    assert errors == []
    assert warnings_from_us(caplog) == []
    spans = zip(smallest_server.stats.request_ids, texts, marks[:-1], marks[1:], strict=True)
    for rid, text, start, end in spans:
        one_run(pcm_of(sink.frames[start:end]), rid, len(text.split()))
    assert smallest_server.stats.ws_connections_total >= 3  # a fresh socket per turn


async def test_the_key_never_reaches_logs_or_errors(
    make_tts: Callable[..., TTS], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    key = "sk_never_print_this_7f3a"
    tts = make_tts(api_key=key)
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    async with running_session(tts) as (session, _sink):
        await session.say("Refused.")
    assert len(errors) == 1
    err = errors[0].error
    assert isinstance(err, APIStatusError) and err.status_code == 401 and not err.retryable
    assert key not in str(err) and key not in repr(err)
    assert key not in repr(vars(tts))  # the core's clients mask it in their reprs
    assert all(key not in r.getMessage() for r in caplog.records)
    assert key not in caplog.text


@pytest.mark.parametrize("max_retry", [0, 1])
async def test_conn_options_max_retry_drives_the_core_retries(
    make_tts: Callable[..., TTS], smallest_server: Server, max_retry: int
) -> None:
    smallest_server.faults.abort_after(0)
    tts = make_tts()
    errors: list[TTSError] = []
    tts.on("error", errors.append)
    stream = tts.stream(conn_options=APIConnectOptions(max_retry=max_retry, timeout=5))
    stream.push_text("Dropped once.")
    stream.end_input()
    if max_retry == 0:
        with pytest.raises(APIConnectionError):
            [ev async for ev in stream]
        assert len(errors) == 1 and not errors[0].error.retryable
    else:
        pcm = b"".join([ev.frame.data.tobytes() async for ev in stream])
        assert errors == []
        assert set(describe(pcm)) == {tag_value(smallest_server.stats.request_ids[-1])}
    await stream.aclose()
    assert len(smallest_server.stats.request_ids) == 1 + max_retry
