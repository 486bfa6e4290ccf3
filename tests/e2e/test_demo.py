"""`make demo` writes an intelligible WAV (checked by pocketsphinx, PROTOCOL-independent)."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.local.asr import transcribe, wer

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"


@pytest.mark.slow
def test_demo_writes_an_intelligible_wav(tmp_path: Path):
    env = {k: v for k, v in os.environ.items() if k != "SMALLEST_API_KEY"}
    run = subprocess.run([sys.executable, str(DEMO)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "embedded local server" in run.stdout
    with wave.open(str(tmp_path / "out" / "hello.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        pcm = w.readframes(w.getnframes())
    heard = transcribe(pcm, 24000)
    spec = importlib.util.spec_from_file_location("demo", DEMO)
    assert spec is not None and spec.loader is not None
    demo = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(demo)  # only defines things; main() runs under __main__

    assert wer(demo.SENTENCE, heard) <= 0.35, heard
    assert wer("Please hold while I transfer your call to the billing department.", heard) >= 0.6
