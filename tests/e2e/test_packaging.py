"""Each distribution as users install it: a wheel that installs alone in a fresh venv.

``uv build --all-packages`` makes the wheels; each goes into its own new venv with only
the registry and the freshly built wheels to draw from (versions held to the lock file
by ``uv export`` constraints). Each wheel imports and ships ``py.typed``; each adapter's
offline quick start — the ``examples/`` file that the root README shows as that
framework's quick start — then runs in that venv, with ``smallest-local`` added to it as
the quick start's server.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import wave
from pathlib import Path

import pytest

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


def sh(*cmd: str, cwd: Path = ROOT, timeout: float = 120) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("SMALLEST_API_KEY", "SMALLEST_BASE_URL", "VIRTUAL_ENV")}  # fmt: skip
    env["UV_PYTHON_DOWNLOADS"] = "never"
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(cmd)}\n{done.stdout[-2000:]}\n{done.stderr[-3000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(folder of freshly built wheels, constraints from the lock file)."""
    dist = tmp_path_factory.mktemp("dist")
    sh(UV, "build", "--all-packages", "--quiet", "-o", str(dist))
    constraints = dist / "constraints.txt"
    constraints.write_text(sh(UV, "export", "--no-hashes", "--frozen", "--no-emit-workspace",
                              "--no-dev", "--quiet"))  # fmt: skip
    return dist, constraints


def install(python: Path, wheels: tuple[Path, Path], *dists: str) -> None:
    """Install ``dists`` from the built wheels (+ the registry), held to the lock file."""
    dist, constraints = wheels
    sh(UV, "pip", "install", "--quiet", "--python", str(python), "--find-links", str(dist),
       "-c", str(constraints), *dists)  # fmt: skip


def fresh_venv(where: Path, wheels: tuple[Path, Path], dist: str) -> Path:
    """A new venv holding ``dist`` alone (and what it depends on); checks that it
    imports from the venv and ships ``py.typed``."""
    venv = where / "venv"
    sh(UV, "venv", "--quiet", "--python", PY, str(venv))
    python = venv / "bin" / "python"
    install(python, wheels, dist)
    module = DISTS[dist]
    out = sh(str(python), "-c",
             f"import importlib.resources as r, {module}; "
             f"print({module}.__file__); print(r.files({module!r}).joinpath('py.typed').is_file())",
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
    python = fresh_venv(tmp_path, wheels, dist)
    assert python.exists()  # fresh_venv checked the import and py.typed


def run_quickstart(python: Path, code: str, cwd: Path) -> str:
    script = cwd / "quickstart.py"
    script.write_text(code)
    return sh(str(python), str(script), cwd=cwd)


def wav_seconds(path: Path) -> float:
    with wave.open(str(path)) as w:
        return w.getnframes() / w.getframerate()


@pytest.mark.slow
def test_livekit_quickstart_in_its_own_venv(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    python = fresh_venv(tmp_path, wheels, "livekit-smallest")  # alone, typed
    install(python, wheels, "smallest-local")  # the quick start's server
    out = run_quickstart(python, (EXAMPLES / "livekit_quickstart.py").read_text(), tmp_path)
    assert "wrote reply.wav" in out
    assert 1.0 < wav_seconds(tmp_path / "reply.wav") < 6.0
    stt = run_quickstart(python, (EXAMPLES / "livekit_quickstart_stt.py").read_text(), tmp_path)
    assert "heard: Please call me back tomorrow morning." in stt


@pytest.mark.slow
def test_pipecat_quickstart_in_its_own_venv(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    python = fresh_venv(tmp_path, wheels, "pipecat-smallest")  # alone, typed
    install(python, wheels, "smallest-local")  # the quick start's server
    out = run_quickstart(python, (EXAMPLES / "pipecat_quickstart.py").read_text(), tmp_path)
    seconds = float(re.search(r"([\d.]+) s of audio", out).group(1))  # type: ignore[union-attr]
    assert 0.5 < seconds < 5.0
    stt = run_quickstart(python, (EXAMPLES / "pipecat_quickstart_stt.py").read_text(), tmp_path)
    assert "heard: Please call me back tomorrow morning." in stt


@pytest.mark.slow
def test_langchain_quickstarts_in_their_own_venv(wheels: tuple[Path, Path], tmp_path: Path) -> None:
    python = fresh_venv(tmp_path, wheels, "langchain-smallest")  # alone, typed
    install(python, wheels, "smallest-local")  # the quick start's server
    agent = (EXAMPLES / "langchain_quickstart_agent.py").read_text()
    speech = (EXAMPLES / "langchain_quickstart_speech.py").read_text()
    assert "agent: I told the guests out loud." in run_quickstart(python, agent, tmp_path)
    assert "wrote answer.wav" in run_quickstart(python, speech, tmp_path)
    assert 2.0 < wav_seconds(tmp_path / "answer.wav") < 12.0
    stt = (EXAMPLES / "langchain_quickstart_stt.py").read_text()
    assert "tool: Please call me back tomorrow morning." in run_quickstart(python, stt, tmp_path)
