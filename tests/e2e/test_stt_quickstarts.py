"""Each package README's speech-to-text quick start runs offline as written.

The README shows the ``examples/`` file byte for byte; the file runs in a fresh process
(its own local server: espeak speaks the "user", pocketsphinx hears it) from an empty
directory, and prints the sentence back.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
SENTENCE = "Please call me back tomorrow morning."
QUICKSTARTS = {
    "livekit_smallest": "livekit_quickstart_stt.py",
    "pipecat_smallest": "pipecat_quickstart_stt.py",
    "langchain_smallest": "langchain_quickstart_stt.py",
}


@pytest.mark.parametrize(("package", "example"), QUICKSTARTS.items())
def test_readme_shows_the_example(package: str, example: str) -> None:
    readme = (ROOT / "packages" / package / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert (ROOT / "examples" / example).read_text() in blocks


@pytest.mark.parametrize("example", QUICKSTARTS.values())
def test_quickstart_runs_and_hears_the_sentence(example: str, tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("SMALLEST_API_KEY", "SMALLEST_BASE_URL")
    }
    run = subprocess.run([sys.executable, str(ROOT / "examples" / example)], cwd=tmp_path,
                         env=env, capture_output=True, text=True, timeout=180)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    heard = [line for line in run.stdout.splitlines() if SENTENCE in line]
    assert heard, run.stdout
    if example.startswith("langchain"):
        assert "tool: " + SENTENCE in run.stdout and "first word 'please'" in run.stdout
