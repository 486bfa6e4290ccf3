"""A full-search pocketsphinx decoder in a process of its own (see :mod:`.sphinx`).

pocketsphinx holds the GIL for the whole of a ``process_raw`` call: a full-utterance
decode of 14 s of speech froze every other thread of its process for 3.2 s. A server
embedded in someone's program (the demo, the quick starts, a test suite) shares that
process with its clients, so a final being decoded stopped the server's pongs and the
clients' own timers alike, long enough for a keepalive to give the connection up. The
finals are therefore decoded here, and the server's process only waits on a pipe.

This file runs as a script (``python sphinx_worker.py``, not ``-m``), so the process
imports pocketsphinx alone, not the server.

Protocol on stdin/stdout, one request at a time: a request is a 4-byte little-endian
length and that many bytes of 16 kHz mono int16 audio (one whole segment, already
dithered); the answer is one JSON line, the segment's words as
``[[word, start_frame, end_frame, probability], ...]`` (pocketsphinx's own, unfiltered).
End of input ends the process.
"""

from __future__ import annotations

import json
import signal
import struct
import sys

from pocketsphinx import Decoder

RATE = 16000


def main() -> None:
    """Serve decode requests until stdin closes."""
    # Ctrl-C in a terminal reaches the whole process group: the parent decides what it
    # means, and this process ends when the parent closes the pipe (or exits).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    decoder = Decoder(samprate=RATE, loglevel="FATAL")
    requests, answers = sys.stdin.buffer, sys.stdout.buffer
    try:
        while len(header := requests.read(4)) == 4:
            (size,) = struct.unpack("<I", header)
            audio = requests.read(size)
            # The front end (noise and CMN estimates) forgets the previous segment: a
            # final depends on its own audio only.
            decoder.reinit_feat()
            decoder.start_utt()
            decoder.process_raw(audio, False, True)  # full_utt: batch CMN over the segment
            decoder.end_utt()
            words = [[s.word, s.start_frame, s.end_frame, float(s.prob)] for s in decoder.seg()]
            answers.write(json.dumps(words).encode() + b"\n")
            answers.flush()
    except BrokenPipeError:  # the parent is gone mid-answer
        pass


if __name__ == "__main__":
    main()
