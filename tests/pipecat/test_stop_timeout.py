"""Retries that outlast Pipecat's ``stop_frame_timeout_s``: a typed error, never silent loss.

Found by the soak: a drop, then an error frame, then a slow socket open kept the core
retrying an utterance for more than 3 s before its first audio. Pipecat closed the
context first, and the audio that followed was dropped unheard (a DEBUG line only).
Now the service cancels the utterance the moment Pipecat closes its context, reports a
``RequestTimeoutError`` ``ErrorFrame``, and the next turn speaks.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from loguru import logger
from pipecat.frames.frames import TTSSpeakFrame, TTSStoppedFrame
from pipecat.utils.errors import ErrorCategory

from smallest_core import RequestTimeoutError
from smallest_local.engines.tone import describe, tag_value

from .harness import running

TEXT = "Five words are spoken here."  # tone engine: 1 s of audio
FULL_PAIRS = 24000 // 2
#: Pipecat's default stop_frame_timeout_s is 3 s; every new socket takes longer than that.
CONNECT_MS = 3600


@pytest.fixture
def dropped_appends() -> Iterator[list[str]]:
    """Pipecat's DEBUG notes of audio appended to a context it had already closed."""
    lines: list[str] = []
    sink = logger.add(
        lambda message: lines.append(str(message)),
        level="DEBUG",
        filter=lambda record: "unable to append" in record["message"],
    )
    yield lines
    logger.remove(sink)


@pytest.mark.smallest_server(chunk_ms=20)
async def test_retries_past_pipecats_timeout_are_reported_not_dropped(
    make_tts, smallest_server, dropped_appends
):
    tts = make_tts()
    async with running(tts) as run:  # prewarmed: the first socket is already open
        smallest_server.set_latency(connect_ms=CONNECT_MS)
        drop = smallest_server.faults.close_after(0, code=1011)
        error = smallest_server.faults.error_frame(after_chunks=0)
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(1)
        assert (drop.fired, error.fired) == (1, 1)
        smallest_server.set_latency(connect_ms=0)
        await run.send(TTSSpeakFrame(TEXT))
        await run.turns_done(2)
    first, second = run.context_ids()
    ours = [e for e in run.errors() if isinstance(e.exception, RequestTimeoutError)]
    assert len(ours) == 1
    assert "stop_frame_timeout_s" in ours[0].error
    assert ours[0].category is ErrorCategory.CONNECTIVITY and not ours[0].category.is_permanent
    # Nothing of the abandoned request was played, nor dropped on the way, and its
    # third attempt (the one that would have spoken, unheard) was never synthesized.
    assert first not in run.audio_by_context()
    assert dropped_appends == []
    assert smallest_server.stats.request_ids.count(first) <= 2
    assert smallest_server.stats.syntheses_completed == 1
    stopped = [f.context_id for f in run.down.frames(TTSStoppedFrame)]
    assert stopped == [first, second]
    # The next turn speaks in full, and the service is still usable.
    assert describe(run.audio_by_context()[second]) == {tag_value(second): [(0, FULL_PAIRS)]}
    assert tts.is_usable
