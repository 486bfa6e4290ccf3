"""Voice-clone uploads from a path: read off the event loop (async), read right (both clients).

The non-blocking check uses a named pipe as the sample file. Opening a FIFO for reading
blocks until a writer opens it, so a read done on the event loop would freeze the loop —
and the loop is the only thing that releases the writer here. The writer thread has a
bounded fallback (it writes anyway after a few seconds) so a regression fails the test
instead of hanging it.
"""

from __future__ import annotations

import asyncio
import math
import os
import threading
from pathlib import Path

import pytest

from smallest_core import AsyncRestClient, InvalidRequestError, RestClient, pcm_to_wav
from smallest_local import Server

#: How long the writer waits for the event loop before giving up and writing anyway.
WRITER_FALLBACK_S = 5.0


def _wav(seconds: float = 6.0, rate: int = 16000) -> bytes:
    samples = (int(8000 * math.sin(i / 8)) for i in range(int(seconds * rate)))
    return pcm_to_wav(b"".join(s.to_bytes(2, "little", signed=True) for s in samples), rate)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs POSIX named pipes")
async def test_async_add_voice_reads_the_file_off_the_event_loop(
    smallest_server: Server, tmp_path: Path
) -> None:
    fifo = tmp_path / "sample.wav"
    os.mkfifo(fifo)
    loop_ran = threading.Event()
    released_by_loop: list[bool] = []

    def writer() -> None:
        released_by_loop.append(loop_ran.wait(WRITER_FALLBACK_S))
        with open(fifo, "wb") as pipe:  # blocks until the reader opens its end
            pipe.write(_wav())

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    async with AsyncRestClient(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    ) as rest:
        upload = asyncio.create_task(rest.add_voice(display_name="Piped", file=fifo))
        # The task's first step runs before this coroutine resumes: if it read the
        # pipe on the loop, we would only get here after the writer's fallback.
        await asyncio.sleep(0)
        loop_ran.set()
        clone = await upload
    await asyncio.to_thread(thread.join)
    assert released_by_loop == [True], "add_voice blocked the event loop on the file read"
    assert clone.voice_id.startswith("voice_") and clone.display_name == "Piped"


async def test_async_add_voice_sends_the_whole_file(
    smallest_server: Server, tmp_path: Path
) -> None:
    sample = tmp_path / "me.wav"
    sample.write_bytes(_wav())
    too_big = tmp_path / "big.wav"
    too_big.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))  # one byte over the 5 MB cap
    async with AsyncRestClient(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    ) as rest:
        clone = await rest.add_voice(display_name="Me", file=sample)
        assert (await rest.wait_for_voice(clone.voice_id)).ready
        with pytest.raises(InvalidRequestError, match="too large"):
            await rest.add_voice(display_name="Big", file=too_big)


def test_sync_add_voice_reads_a_path(smallest_server: Server, tmp_path: Path) -> None:
    sample = tmp_path / "me.mp3"  # the suffix picks the part's content type
    sample.write_bytes(_wav())
    too_big = tmp_path / "big.wav"
    too_big.write_bytes(b"\0" * (5 * 1024 * 1024 + 1))
    with RestClient(api_key=smallest_server.api_key, base_url=smallest_server.http_url) as rest:
        clone = rest.add_voice(display_name="Sync", file=str(sample))
        assert rest.wait_for_voice(clone.voice_id).ready
        with pytest.raises(InvalidRequestError, match="too large"):
            rest.add_voice(display_name="Big", file=too_big)


def test_missing_file_is_reported_before_any_request(
    smallest_server: Server, tmp_path: Path
) -> None:
    with RestClient(api_key=smallest_server.api_key, base_url=smallest_server.http_url) as rest:
        with pytest.raises(FileNotFoundError):
            rest.add_voice(display_name="Gone", file=tmp_path / "missing.wav")
        assert rest.clones() == []
