"""`make demo` run beside the suite: started when testing starts, checked at the end.

The demo speaks in real time: 60-90 s here, most of it spent waiting on paced audio. Run
inside its test (``tests/e2e/test_demo.py``), it held one of ``make test``'s five xdist
workers for all of that. Instead, the first worker starts it as its first test begins
(``tests/conftest.py``), and the test, handed out last, waits for it to end and checks
everything it printed and wrote, as before.

One run per test session, shared by its workers through a folder: whoever starts the demo
holds ``run.lock`` (an exclusive ``flock``) in a small wrapper process that runs the demo
and writes its exit code; the lock is released when the wrapper exits, which is what the
test waits on. A test run without the early start (the demo's test alone, say) starts it
itself.
"""

from __future__ import annotations

import fcntl
import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

__all__ = ["NODEID", "DemoRun", "folder", "result", "start"]

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"
NODEID = "tests/e2e/test_demo.py::test_demo_runs_every_scene_offline"
TIMEOUT_S = 240  # the demo's own bound: a hung demo ends, and its test fails
_REAL_SERVICE = ("SMALLEST_API_KEY", "SMALLEST_BASE_URL")  # unset: the embedded server

#: Runs the demo, then writes its exit code; holds ``run.lock`` for its whole life (the
#: demo itself gets no copy of the lock: ``subprocess`` closes inherited descriptors).
_WRAPPER = (
    "import subprocess, sys\n"
    "timeout, *command = sys.argv[1:]\n"
    "rc = subprocess.run(command, timeout=float(timeout)).returncode\n"
    "open('returncode', 'w').write(str(rc))\n"
)


@dataclass(frozen=True)
class DemoRun:
    """What the demo left: its exit code (None: it did not finish), its output, its folder
    (the demo writes ``out/``)."""

    returncode: int | None
    stdout: str
    stderr: str
    cwd: Path


def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session's demo folder, shared by its xdist workers."""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by this run's workers
    return root / "demo"


def start(where: Path) -> None:
    """Start the demo in ``where`` unless this session already did (then do nothing)."""
    where.mkdir(exist_ok=True)
    with (where / "start.lock").open("w") as gate:
        fcntl.flock(gate, fcntl.LOCK_EX)  # one starter per session
        if (where / "run.lock").exists():
            return
        env = {k: v for k, v in os.environ.items() if k not in _REAL_SERVICE}
        with (
            (where / "run.lock").open("w") as lock,
            (where / "stdout").open("w") as out,
            (where / "stderr").open("w") as err,
        ):
            fcntl.flock(lock, fcntl.LOCK_EX)  # released when the wrapper exits
            subprocess.Popen(
                [sys.executable, "-c", _WRAPPER, str(TIMEOUT_S), sys.executable, str(DEMO)],
                cwd=where,
                env=env,
                stdout=out,
                stderr=err,
                pass_fds=(lock.fileno(),),
            )


def result(where: Path) -> DemoRun:
    """Wait for this session's demo to end (starting it if nobody did) and read it."""
    start(where)
    with (where / "run.lock").open() as lock:
        fcntl.flock(lock, fcntl.LOCK_SH)  # blocks until the wrapper exits
    code = where / "returncode"
    return DemoRun(
        returncode=int(code.read_text()) if code.exists() else None,
        stdout=(where / "stdout").read_text(),
        stderr=(where / "stderr").read_text(),
        cwd=where,
    )
