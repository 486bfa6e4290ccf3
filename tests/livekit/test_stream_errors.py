"""The LiveKit adapter's stream attempt: receiving in the stream's task, sending beside it.

``SynthesizeStream._run`` receives in LiveKit's own task and sends in a helper task (it
was a gather() of two tasks). What a gather() gave must hold: a failure on either side
ends the attempt at once with that side's error; a cancellation (barge-in) stays a
cancellation; nothing is left running or unretrieved. These drive ``tts.stream()`` on
the local server, as an agent would.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from livekit.agents import APIConnectOptions, APIError

from livekit_smallest import TTS
from smallest_core import ConnectionPool, TTSOptions
from smallest_local import Server

RATE = 24000
LONG = " ".join(["word"] * 20)  # 4 s of tone audio at real time


def _stream(tts: TTS, *texts: str, timeout: float = 5.0):  # type: ignore[no-untyped-def]
    stream = tts.stream(conn_options=APIConnectOptions(max_retry=0, timeout=timeout))
    for text in texts:
        stream.push_text(text)
        stream.flush()
    stream.end_input()
    return stream


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=100)
async def test_sender_failure_ends_the_attempt(smallest_server: Server) -> None:
    """A second stream finds no room in a one-socket, one-utterance pool: its open times
    out while its receiving side waits for the segment. The stream fails with that
    error at once (it would wait for ever if only the receiving side were awaited);
    the first stream is untouched."""
    pool = ConnectionPool(
        api_key=smallest_server.api_key,
        base_url=smallest_server.ws_url,
        options=TTSOptions(sample_rate=RATE),
        max_connections=1,
        max_utterances_per_connection=1,
        warm_spare=False,
    )
    tts = TTS(
        api_key=smallest_server.api_key,
        base_url=smallest_server.http_url,
        sample_rate=RATE,
        pool=pool,
    )
    try:
        first = _stream(tts, LONG + ".")
        events = first.__aiter__()
        await events.__anext__()  # the first stream holds the pool's one utterance
        second = _stream(tts, "No room for this one.", timeout=0.5)
        started = time.monotonic()
        with pytest.raises(APIError) as info:
            async for _ev in second:
                pass
        assert "0.5 s connect timeout" in str(info.value)
        assert time.monotonic() - started < 2.0
        await second.aclose()
        assert [ev async for ev in first]  # the first one streams on
        await first.aclose()
        assert not any(t.get_name() == "smallest-send" for t in asyncio.all_tasks())
    finally:
        await tts.aclose()
        await pool.aclose()


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=20)
async def test_receiver_failure_ends_the_attempt(smallest_server: Server) -> None:
    """A 1011 close mid-utterance: the stream raises the typed error."""
    tts = TTS(api_key=smallest_server.api_key, base_url=smallest_server.http_url, sample_rate=RATE)
    try:
        smallest_server.faults.close_after(3, code=1011)
        stream = _stream(tts, LONG + ".")
        with pytest.raises(APIError):
            async for _ev in stream:
                pass
        await stream.aclose()
        # the next turn speaks: the error ended that attempt only
        stream = _stream(tts, "Hello there.")
        frames = [ev async for ev in stream]
        assert frames
        await stream.aclose()
    finally:
        await tts.aclose()


@pytest.mark.smallest_server(realtime_factor=1.0, chunk_ms=20)
async def test_barge_in_cancels_and_the_socket_stays(smallest_server: Server) -> None:
    """aclose() mid-audio (LiveKit's barge-in) cancels the attempt: no error event, the
    utterance is cancelled on its socket (the server is told), and the next turn
    speaks without a new handshake beyond the pool's warm spare."""
    tts = TTS(api_key=smallest_server.api_key, base_url=smallest_server.http_url, sample_rate=RATE)
    errors: list[object] = []
    tts.on("error", errors.append)
    try:
        stream = _stream(tts, LONG + ".")
        async for _ev in stream:
            break
        await stream.aclose()
        stream = _stream(tts, "Hello there.")
        assert [ev async for ev in stream]
        await stream.aclose()
        assert errors == []
        assert smallest_server.stats.syntheses_cancelled == 1  # told the server, in place
        assert smallest_server.stats.ws_connections_total <= 2  # the socket and its spare
    finally:
        await tts.aclose()
