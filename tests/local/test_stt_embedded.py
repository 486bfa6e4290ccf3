"""A final being decoded freezes neither the server's socket nor the program around it.

Seen on loaded clean-clone ``make test`` runs: the Pipecat STT test's client, then the
LiveKit STT quick start's, gave their connection up ("no pong within 5 s (keepalive)")
while the local server decoded a final. Two causes, one test each:

- pocketsphinx holds the GIL for a whole ``process_raw`` call, and a final is one call
  over the whole segment: seconds for a long one. When that ran in the server's own
  process, every other thread stopped for as long — the server's event loop and, when the
  server is embedded in a program (the demo, the quick starts, a test), the clients' own
  loops and timers too. Finals are now decoded in a process of their own; the live
  decoder's calls (one chunk of audio each) stay in the server's process.
- The session read its socket only between frames, and aiohttp answers a ping only while
  a ``receive`` is pending: while a final was decoded (longer on a loaded machine, or
  while the decoder process starts) no ping was answered. A reader task now reads the
  socket all the time and queues the frames, in order, for the recognizer.
"""

from __future__ import annotations

import asyncio
import threading
import time

import numpy as np
import pytest

from smallest_local import Server
from smallest_local.engines import RecognizedWord
from smallest_local.engines.sphinx import VAD_RMS, PocketsphinxRecognizer

from .sttclient import RATE, connect, espeak_speech, send_audio, until

CHUNK = RATE // 50 * 2  # 20 ms
SENTENCE = "please call me back tomorrow morning about the order"  # ~4 s at speed 0.8


def test_other_threads_run_while_a_final_is_decoded() -> None:
    speech = espeak_speech(SENTENCE)
    stream = PocketsphinxRecognizer().open(RATE, "en")
    try:
        for i in range(0, len(speech), CHUNK):
            stream.feed(speech[i : i + CHUNK])
        words: list[RecognizedWord] = []
        decoding = threading.Thread(target=lambda: words.extend(stream.cut()))
        # This thread wakes every 10 ms while the final is decoded. A wake-up needs the
        # GIL: when the decode held it, the longest gap was most of the decode (0.65 of it
        # on a fresh process, where loading the decoder splits it in two; ~0.95 after).
        # Decoded in its own process: ~0.02 s of 1.1-1.4 s.
        gaps: list[float] = []
        started = last = time.perf_counter()
        decoding.start()
        while decoding.is_alive():
            decoding.join(timeout=0.01)
            now = time.perf_counter()
            gaps.append(now - last)
            last = now
    finally:
        stream.close()
    took = last - started
    assert "tomorrow" in [w.word for w in words], words  # the final was decoded
    assert max(gaps) < took / 4, f"stopped for {max(gaps):.2f} s of a {took:.2f} s decode"


@pytest.mark.smallest_server(engine="espeak")
async def test_pings_are_answered_while_a_final_is_decoded(smallest_server: Server) -> None:
    speech = np.frombuffer(espeak_speech(SENTENCE), dtype="<i2")
    # up to its last loud sample: trailing silence would cut a final before `finalize`
    loud = np.flatnonzero(np.abs(speech) >= VAD_RMS)
    ws = await connect(smallest_server)
    await send_audio(ws, speech[: loud[-1] + 1].tobytes(), chunk=CHUNK)
    await ws.send('{"type": "finalize"}')
    # the partials are read all along: a client that stops reading stops its pongs too
    reading = asyncio.create_task(until(ws, lambda frame: bool(frame.get("is_final"))))
    pong = await ws.ping()
    async with asyncio.timeout(10):
        await pong
    finals_at_pong = smallest_server.stats.stt_finals
    frames = await reading
    # The pong came back while the final was being decoded. Read only between frames,
    # the server answered it after sending the final.
    assert finals_at_pong == 0
    assert "tomorrow" in frames[-1]["transcript"].split(), frames[-1]  # nothing lost
    assert smallest_server.stats.stt_finals == 1
    await ws.close()
