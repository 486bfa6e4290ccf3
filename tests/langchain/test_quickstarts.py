"""The package README's quick starts run as written, offline, and do what they say.

Every ``python`` block of ``packages/langchain_smallest/README.md`` is run in a fresh
interpreter (no ``SMALLEST_API_KEY``; the embedded espeak server). The blocks are also
the files in ``examples/``, byte for byte, so the two cannot drift apart.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.support.asr import transcribe, wer

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "packages" / "langchain_smallest" / "README.md"
EXAMPLES = {
    "agent": ROOT / "examples" / "langchain_quickstart_agent.py",
    "speech": ROOT / "examples" / "langchain_quickstart_speech.py",
    "stt": ROOT / "examples" / "langchain_quickstart_stt.py",  # run by tests/e2e
}


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def run(code: str, cwd: Path) -> str:
    script = cwd / "quickstart.py"
    script.write_text(code)
    env = {
        k: v for k, v in os.environ.items() if k not in ("SMALLEST_API_KEY", "SMALLEST_BASE_URL")
    }
    done = subprocess.run([sys.executable, str(script)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_readme_blocks_are_the_example_files():
    assert readme_blocks() == [path.read_text() for path in EXAMPLES.values()]


@pytest.mark.slow
def test_agent_quickstart(tmp_path: Path):
    out = run(readme_blocks()[0], tmp_path)

    [saved] = list((tmp_path / "speech").iterdir())
    assert f"saved to speech/{saved.name}" in out and "model reads: Spoke " in out
    assert "app gets: SpeechAudio(" in out and "agent: I told the guests out loud." in out
    assert saved.read_bytes().startswith(b"RIFF")


@pytest.mark.slow
def test_speech_quickstart_writes_an_intelligible_wav(tmp_path: Path):
    code = readme_blocks()[1]
    out = run(code, tmp_path)

    [answer] = re.findall(r'ANSWER = "(.*)"', code)
    with wave.open(str(tmp_path / "answer.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        pcm = w.readframes(w.getnframes())
    assert f"wrote answer.wav: {len(pcm) / 2 / 24000:.2f} s of speech" in out
    heard = transcribe(pcm, 24000)
    assert wer(answer, heard) <= 0.35, heard
    assert wer("Your table for two is ready.", heard) >= 0.6, heard
