"""pocketsphinx's full decodes run in processes of their own (smallest_local's
``engines/sphinx_worker.py``), pooled per server process and idle between finals. One that
dies while idle — the OOM killer, a ``pkill python`` — is replaced, not handed a final.

Linux only, as the suite is: the decoder processes are found through ``/proc``.
"""

from __future__ import annotations

import os
import select
import signal
from pathlib import Path

from smallest_local.engines import EspeakEngine
from smallest_local.engines.sphinx import PocketsphinxRecognizer

RATE = 16000
CHUNK = RATE // 50 * 2  # 20 ms


def decoder_processes() -> list[int]:
    """The PIDs of this process's decoder processes."""
    pids = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
            cmdline = (stat.parent / "cmdline").read_bytes()
        except (OSError, IndexError, ValueError):  # gone meanwhile
            continue
        if parent == os.getpid() and b"sphinx_worker.py" in cmdline:
            pids.append(int(stat.parent.name))
    return pids


def kill(pid: int) -> None:
    """SIGKILL ``pid`` and return once it has exited (its pidfd turns readable)."""
    pidfd = os.pidfd_open(pid)
    try:
        os.kill(pid, signal.SIGKILL)
        readable, _, _ = select.select([pidfd], [], [], 10)
        assert readable, f"process {pid} still running 10 s after SIGKILL"
    finally:
        os.close(pidfd)


def final(recognizer: PocketsphinxRecognizer, pcm: bytes) -> str:
    stream = recognizer.open(RATE, "en")
    try:
        for i in range(0, len(pcm), CHUNK):
            stream.feed(pcm[i : i + CHUNK])
        return " ".join(word.word for word in stream.cut())
    finally:
        stream.close()


def test_a_decoder_process_killed_while_idle_is_replaced() -> None:
    speech = EspeakEngine().synthesize(
        "open the door", voice_id="magnus", sample_rate=RATE, speed=0.8
    ).pcm + bytes(RATE)  # and a second of silence
    recognizer = PocketsphinxRecognizer()
    first = final(recognizer, speech)
    assert first  # words came back
    killed = decoder_processes()
    assert killed  # idle between finals, for the process's life
    for pid in killed:
        kill(pid)
    assert final(recognizer, speech) == first  # a new process decoded it, the same way
    assert set(decoder_processes()).isdisjoint(killed)
