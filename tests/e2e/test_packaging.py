"""Each distribution as users install it: a wheel that installs alone in a fresh venv.

``uv build --all-packages`` makes the wheels; each goes into its own new venv with only
the registry and the freshly built wheels to draw from (versions held to the lock file by
``uv export`` constraints). uv runs from its cache first (``--offline``): after
``make venv`` it holds every locked wheel and the build backend, so ``make test`` needs no
network, and a registry slow to answer cannot stall it (one ``uv build`` took 100 s here
once, with 3 s of CPU, waiting on the registry to revalidate its cached index page for
hatchling); it goes to the registry only when the cache lacks something. Each wheel
imports and ships ``py.typed``; each adapter's offline quick starts — the ``examples/``
files that the READMEs show (byte for byte, checked by
``test_root_readme_quick_starts_are_the_example_files``,
``tests/e2e/test_stt_quickstarts.py`` and ``tests/langchain/test_quickstarts.py``) — then
run in that venv, with ``smallest-local`` added to it as their server. This is the one
place each quick start runs: in the environment a user gets from ``pip install``, every
check of what it prints, writes and says.
"""

from __future__ import annotations

import fcntl
import os
import re
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

from tests.support.asr import transcribe, wer

ROOT = Path(__file__).resolve().parents[2]
UV = os.environ.get("UV") or shutil.which("uv") or str(ROOT / ".tools" / "bin" / "uv")
PY = str(ROOT / ".venv" / "bin" / "python")
DISTS = {  # distribution → its import name
    "smallest-core": "smallest_core",
    "smallest-local": "smallest_local",
    "livekit-smallest": "livekit_smallest",
    "pipecat-smallest": "pipecat_smallest",
    "langchain-smallest": "langchain_smallest",
}


def run(*cmd: str, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` (for at most 2 min) without the caller's API key, base URL or virtualenv."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("SMALLEST_API_KEY", "SMALLEST_BASE_URL", "VIRTUAL_ENV")}  # fmt: skip
    env["UV_PYTHON_DOWNLOADS"] = "never"
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def sh(*cmd: str, cwd: Path = ROOT, with_stderr: bool = False) -> str:
    """Run ``cmd``, which must succeed; its stdout (then its stderr, when ``with_stderr``: a
    failed check of the output shows the logs)."""
    return output(run(*cmd, cwd=cwd), with_stderr)


def uv(*args: str) -> str:
    """``uv *args`` from uv's cache alone, else (the cache lacks something) with the registry."""
    done = run(UV, "--offline", *args)
    if done.returncode != 0:
        done = run(UV, *args)
    return output(done)


def output(done: subprocess.CompletedProcess[str], with_stderr: bool = False) -> str:
    cmd = " ".join(done.args)
    assert done.returncode == 0, f"{cmd}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout + (f"\n--- stderr ---\n{done.stderr}" if with_stderr else "")


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder of freshly built wheels, constraints from the lock file).

    Built once per run: under pytest-xdist the packaging tests land on several workers;
    the first one to get here builds into the run's shared temp folder while the others
    wait on a lock, then all use the same wheels. (The worker is read from xdist's
    environment variable rather than its ``worker_id`` fixture, so the file also runs
    under ``-p no:xdist``.)"""
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent  # shared by this run's workers
    dist = root / "dist"
    constraints = dist / "constraints.txt"  # written last: it marks a finished build
    with (root / "dist.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not constraints.exists():
            uv("build", "--all-packages", "--quiet", "-o", str(dist))
            exported = uv("export", "--no-hashes", "--frozen", "--no-emit-workspace",
                          "--no-dev", "--quiet")  # fmt: skip
            constraints.write_text(exported)
    return dist, constraints


def install(python: Path, wheels: tuple[Path, Path], *dists: str) -> None:
    """Install ``dists`` from the built wheels (+ the registry), held to the lock file."""
    dist, constraints = wheels
    uv("pip", "install", "--quiet", "--python", str(python), "--find-links", str(dist),
       "-c", str(constraints), *dists)  # fmt: skip


def fresh_venv(where: Path, wheels: tuple[Path, Path], dist: str, *, imports: bool) -> Path:
    """A new venv holding ``dist`` alone (and what it depends on); checks that the venv
    finds it in its own site-packages, with ``py.typed``, and (``imports``) that it
    imports there. A venv whose quick starts run next skips the import: they import it
    (one cold import of the framework fewer per venv)."""
    venv = where / "venv"
    uv("venv", "--quiet", "--python", PY, str(venv))
    python = venv / "bin" / "python"
    install(python, wheels, dist)
    module = DISTS[dist]
    load = f"import {module}; " if imports else ""
    out = sh(str(python), "-c",
             f"import importlib.util as u, pathlib; {load}s = u.find_spec({module!r}); "
             "print(s.origin); print(pathlib.Path(s.origin).with_name('py.typed').is_file())",
             cwd=where)  # fmt: skip
    location, typed = out.split()
    assert location.startswith(str(venv)), location  # the wheel, not the workspace
    assert typed == "True", f"{dist} ships no py.typed"
    return python


EXAMPLES = ROOT / "examples"
QUICKSTARTS = ["livekit_quickstart.py", "pipecat_quickstart.py", "langchain_quickstart_agent.py"]


def test_root_readme_quick_starts_are_the_example_files() -> None:
    """What this file runs is what the README shows, byte for byte."""
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), re.DOTALL)
    for name in QUICKSTARTS:
        assert (EXAMPLES / name).read_text() in blocks, f"README does not show examples/{name}"


def test_every_distribution_builds_a_wheel(wheels: tuple[Path, Path]) -> None:
    built = sorted(p.name for p in wheels[0].glob("*.whl"))
    assert [name.split("-")[0] for name in built] == sorted(DISTS.values()), built


@pytest.mark.slow
@pytest.mark.parametrize("dist", ["smallest-core", "smallest-local"])
def test_wheel_installs_alone_and_is_typed(
    dist: str, wheels: tuple[Path, Path], tmp_path: Path
) -> None:
    python = fresh_venv(tmp_path, wheels, dist, imports=True)
    assert python.exists()  # fresh_venv checked the import and py.typed


def run_quickstart(python: Path, code: str, cwd: Path) -> str:
    script = cwd / "quickstart.py"
    script.write_text(code)
    return sh(str(python), str(script), cwd=cwd, with_stderr=True)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@pytest.mark.slow
def test_livekit_quickstart_in_its_own_venv(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    python = fresh_venv(tmp_path, wheels, "livekit-smallest", imports=False)  # alone, typed
    install(python, wheels, "smallest-local")  # the quick start's server
    out = run_quickstart(python, (EXAMPLES / "livekit_quickstart.py").read_text(), tmp_path)
    assert "wrote reply.wav" in out
    assert 1.0 < wav_seconds(tmp_path / "reply.wav") < 6.0
    stt = run_quickstart(python, (EXAMPLES / "livekit_quickstart_stt.py").read_text(), tmp_path)
    assert "heard: Please call me back tomorrow morning." in stt


@pytest.mark.slow
def test_pipecat_quickstart_in_its_own_venv(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    python = fresh_venv(tmp_path, wheels, "pipecat-smallest", imports=False)  # alone, typed
    install(python, wheels, "smallest-local")  # the quick start's server
    out = run_quickstart(python, (EXAMPLES / "pipecat_quickstart.py").read_text(), tmp_path)
    seconds = float(re.search(r"([\d.]+) s of audio", out).group(1))  # type: ignore[union-attr]
    assert 0.5 < seconds < 5.0
    stt = run_quickstart(python, (EXAMPLES / "pipecat_quickstart_stt.py").read_text(), tmp_path)
    assert "heard: Please call me back tomorrow morning." in stt


@pytest.mark.slow
def test_langchain_quickstarts_in_their_own_venv(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    python = fresh_venv(tmp_path, wheels, "langchain-smallest", imports=False)  # alone, typed
    install(python, wheels, "smallest-local")  # the quick start's server

    out = run_quickstart(python, (EXAMPLES / "langchain_quickstart_agent.py").read_text(), tmp_path)
    [saved] = list((tmp_path / "speech").iterdir())
    assert f"saved to speech/{saved.name}" in out and "model reads: Spoke " in out
    assert "app gets: SpeechAudio(" in out and "agent: I told the guests out loud." in out
    assert saved.read_bytes().startswith(b"RIFF")

    speech = (EXAMPLES / "langchain_quickstart_speech.py").read_text()
    out = run_quickstart(python, speech, tmp_path)
    [answer] = re.findall(r'ANSWER = "(.*)"', speech)
    with wave.open(str(tmp_path / "answer.wav")) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        pcm = w.readframes(w.getnframes())
    assert f"wrote answer.wav: {len(pcm) / 2 / 24000:.2f} s of speech" in out
    assert 2.0 < len(pcm) / 2 / 24000 < 12.0
    heard = transcribe(pcm, 24000)  # the answer, intelligibly: not some other sentence
    assert wer(answer, heard) <= 0.35, heard
    assert wer("Your table for two is ready.", heard) >= 0.6, heard

    stt = run_quickstart(python, (EXAMPLES / "langchain_quickstart_stt.py").read_text(), tmp_path)
    assert "tool: Please call me back tomorrow morning." in stt
    assert "document: Please call me back tomorrow morning." in stt
    assert "first word 'please'" in stt
