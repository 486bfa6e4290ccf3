"""The README's core example runs as shown (offline, against the embedded server)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "core_quickstart.py"


def test_core_quickstart_runs():
    env = {k: v for k, v in os.environ.items() if k != "SMALLEST_API_KEY"}
    run = subprocess.run([sys.executable, str(EXAMPLE)], env=env, capture_output=True,
                         text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    out = run.stdout
    assert "utterance 1:" in out and "Monday." in out
    assert "after barge-in:" in out and "after barge-in: 0 chunks" not in out
    assert "REST:" in out
