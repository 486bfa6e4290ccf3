"""`make demo` as a newcomer runs it: four scenes and two voice loops, six WAVs, the
tables, real speech — and the loops really hear the user (pocketsphinx on espeak)."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import wave
from pathlib import Path

import pytest

from tests.support.asr import transcribe, wer

DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo.py"
SCENES = {
    "livekit barge-in": "livekit.wav",
    "pipecat two turns": "pipecat.wav",
    "langchain agent tool": "langchain_agent.wav",
    "langchain model|speech": "langchain_speech.wav",
}
VOICE_LOOPS = {
    "livekit voice loop": "livekit_voice.wav",
    "pipecat voice loop": "pipecat_voice.wav",
}
TIMING = re.compile(
    r"(livekit|pipecat) voice loop +turn (\d): end of user speech → final transcript "
    r"(-?\d+) ms → first audio (-?\d+) ms"
)


@pytest.mark.slow
@pytest.mark.timeout(300)  # the demo paces speech in real time: ~70 s here, more when loaded
def test_demo_runs_every_scene_offline(tmp_path: Path) -> None:
    env = {
        k: v for k, v in os.environ.items() if k not in ("SMALLEST_API_KEY", "SMALLEST_BASE_URL")
    }
    run = subprocess.run([sys.executable, str(DEMO)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=240)  # fmt: skip
    assert run.returncode == 0, run.stderr[-3000:]
    assert "embedded local server" in run.stdout
    for scene in SCENES:  # progress lines and a table row per scene
        assert run.stdout.count(scene) >= 2, run.stdout

    report = json.loads((tmp_path / "out" / "demo.json").read_text())
    rows = {r["scene"]: r for r in report["scenes"]}
    assert set(rows) == set(SCENES)
    audio: dict[str, bytes] = {}
    for scene, name in SCENES.items():
        with wave.open(str(tmp_path / "out" / name)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
            audio[scene] = w.readframes(w.getnframes())
            seconds = w.getnframes() / w.getframerate()
        words = len(rows[scene]["text"].split())
        # espeak speaks ~2.5-3.5 words a second; the LiveKit WAV also holds the cut reply
        assert words / 4.5 <= seconds <= words / 1.5 + (3.0 if "livekit" in scene else 0.0)
        assert rows[scene]["audio_s"] == pytest.approx(seconds, abs=0.01)
        assert 0 < rows[scene]["ttfa_ms"] < 5000

    livekit = rows["livekit barge-in"]
    assert livekit["reused_after_barge_in"] is True  # the answer after the barge-in: no new socket
    assert livekit["sockets"] >= 1
    # the LiveKit WAV is the cut reply (about 1 s, the barge-in point) then the whole answer
    answer_only = len(livekit["text"].split()) / 4.5
    assert livekit["audio_s"] > answer_only

    said = rows["langchain model|speech"]["text"]
    heard = transcribe(audio["langchain model|speech"], 24000)
    assert wer(said, heard) <= 0.35, heard
    assert wer("Please hold while I transfer your call to the billing department.", heard) >= 0.6
    # two turns in one WAV: looser, but still far closer than an unrelated sentence
    heard_pipecat = transcribe(audio["pipecat two turns"], 24000)
    assert wer(rows["pipecat two turns"]["text"], heard_pipecat) <= 0.6, heard_pipecat
    assert (
        wer("Please hold while I transfer your call to the billing department.", heard_pipecat)
        >= 0.8
    )

    check_voice_loops(run.stdout, report["voice_loops"], tmp_path / "out")


#: A control for the spoken answers: what the loops never say.
NEVER_SAID = "Please hold while I transfer your call to the billing department."


def check_voice_loops(stdout: str, loops: list[dict], out: Path) -> None:
    """Each loop heard two spoken questions, answered them aloud, and timed every turn."""
    assert [loop["scene"] for loop in loops] == list(VOICE_LOOPS)
    said, heard = [], []
    for loop in loops:
        scene = loop["scene"]
        turns = loop["turns"]
        assert len(turns) == 2, loop
        for n, turn in enumerate(turns, 1):
            # printed as it happened: what was said, what was heard, the answer
            assert f"{scene} turn {n}: heard  {turn['heard']!r}" in stdout, stdout
            assert f"{scene} turn {n}: answer {turn['answer']!r}" in stdout, stdout
            assert turn["heard"].strip(), turn
            # end of speech → final → first audio, in that order and within reason
            assert 0 < turn["final_ms"] <= turn["first_audio_ms"] < 10_000, turn
            said.append(turn["said"])
            heard.append(turn["heard"])
        with wave.open(str(out / VOICE_LOOPS[scene])) as w:
            seconds = w.getnframes() / w.getframerate()
            audio = w.readframes(w.getnframes())
        assert loop["audio_s"] == pytest.approx(seconds, abs=0.01)
        answers = " ".join(t["answer"] for t in turns)
        assert len(answers.split()) / 4.5 <= seconds <= len(answers.split()) / 1.5
        # the answers, spoken: pocketsphinx on espeak mishears a word in three (one run read
        # "at nine" as "it's going"), so the check is that it heard these answers, closer
        # to them than to a sentence that was never said
        spoken = transcribe(audio, 24000)
        assert wer(answers, spoken) <= 0.75, spoken
        assert wer(answers, spoken) < wer(NEVER_SAID, spoken), spoken
    timings = {(m[1], int(m[2])): (int(m[3]), int(m[4])) for m in TIMING.finditer(stdout)}
    assert timings == {
        (scene.split()[0], n): (t["final_ms"], t["first_audio_ms"])
        for scene, loop in zip(VOICE_LOOPS, loops, strict=True)
        for n, t in enumerate(loop["turns"], 1)
    }, stdout
    # pocketsphinx on espeak is not exact, but it heard the questions, not something else
    assert wer(" ".join(said), " ".join(heard)) <= 0.4, heard
    assert "voice loop" in stdout.split("TTFA:")[1]  # the voice-loop table after the scenes
