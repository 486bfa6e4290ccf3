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

from smallest_local.engines.sphinx import PocketsphinxRecognizer

from .sttclient import espeak_speech
from .sttclient import recognizer_final as final


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


def test_a_decoder_process_killed_while_idle_is_replaced() -> None:
    speech = espeak_speech("open the door")
    recognizer = PocketsphinxRecognizer()
    first = final(recognizer, speech)
    assert first  # words came back
    killed = decoder_processes()
    assert killed  # idle between finals, for the process's life
    for pid in killed:
        kill(pid)
    assert final(recognizer, speech) == first  # a new process decoded it, the same way
    assert set(decoder_processes()).isdisjoint(killed)
