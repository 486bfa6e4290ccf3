"""espeak speech for tests that is the same bytes in every run.

espeak-ng keeps state inside its library from one synthesis to the next: the pitch
flutter's phase, for one, is a function-level static in its wave generator that no API
resets. So the same sentence, voice and speed come out a few samples longer or shorter,
at another pitch phase, depending on everything the process synthesized before. In a
pytest-xdist worker that history is whichever tests the worker happened to run first, so
a recognizer test fed in-process speech heard different audio from run to run: measured
with the streamed recognizer, the five sentences of ``tests/local/test_stt_wer.py`` after
40 different histories scored WER 0 in 20, up to 0.1 in the rest, and once a clean clone
failed the test at 0.23 ("... six eliminate a minute then").

Speech made here comes from a fresh interpreter, whose history is always empty: a test
that needs a fixed input to be exact about what is heard takes it from here.
"""

from __future__ import annotations

import json
import struct
import subprocess
import sys
from functools import cache

__all__ = ["fixed_espeak"]

_CHILD = """
import json, struct, sys
from smallest_local.engines.espeak import EspeakEngine
texts, voice, rate, speed = json.loads(sys.argv[1])
engine, out = EspeakEngine(), sys.stdout.buffer
for text in texts:
    pcm = engine.synthesize(text, voice_id=voice, sample_rate=rate, speed=speed).pcm
    out.write(struct.pack("<I", len(pcm)) + pcm)
"""


@cache
def fixed_espeak(
    texts: tuple[str, ...], *, voice: str = "magnus", rate: int = 16000, speed: float = 0.8
) -> tuple[bytes, ...]:
    """``texts`` spoken by the local server's espeak engine (PCM s16le mono at ``rate``), in
    order, by one fresh interpreter: the same bytes in every run and every worker."""
    args = json.dumps([list(texts), voice, rate, speed])
    done = subprocess.run(
        [sys.executable, "-c", _CHILD, args], capture_output=True, check=True, timeout=60
    )
    out, pcms, pos = done.stdout, [], 0
    while pos < len(out):
        (size,) = struct.unpack_from("<I", out, pos)
        pcms.append(out[pos + 4 : pos + 4 + size])
        pos += 4 + size
    assert len(pcms) == len(texts), done.stderr.decode()[-2000:]
    return tuple(pcms)
