"""A final being decoded does not freeze the process the server is embedded in.

pocketsphinx holds the GIL for a whole ``process_raw`` call, and a final is one call over
the whole segment: seconds for a long one. When that ran in the server's own process, every
other thread stopped for as long — the server's event loop (no pongs) and, when the server
is embedded in a program (the demo, the quick starts, a test), the clients' own loops and
timers too. Seen on a loaded clean-clone ``make test``: the Pipecat STT test's client gave
its connection up ("no pong within 5 s (keepalive)") while the server decoded 14 s of
speech. Finals are now decoded in a process of their own; the live decoder's calls (one
chunk of audio each) stay in the server's process.
"""

from __future__ import annotations

import threading
import time

from smallest_local.engines import EspeakEngine, RecognizedWord
from smallest_local.engines.sphinx import PocketsphinxRecognizer

RATE = 16000
CHUNK = RATE // 50 * 2  # 20 ms


def test_other_threads_run_while_a_final_is_decoded() -> None:
    speech = EspeakEngine().synthesize(
        "please call me back tomorrow morning about the order", voice_id="magnus",
        sample_rate=RATE, speed=0.8,
    ).pcm + bytes(RATE)  # fmt: skip
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
