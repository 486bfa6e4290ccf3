"""`make test-compat`: the suites at both ends of every declared dependency range.

Each distribution declares the range its users may install beside (``websockets>=13.1,<18``,
``livekit-agents>=1.x,<2``, ...). This proves both ends: for ``lowest-direct`` and
``highest`` it builds a throwaway virtualenv under ``.compat/``, installs every declared
third-party requirement of our distributions as a direct requirement resolved to that end,
the test tools at the versions ``uv.lock`` pins, then our distributions themselves from
the workspace (``--no-deps``: their requirements are already there, at the end under
test), prints what it resolved, and runs the core, adapter, conformance and reliability
suites there.

A third, middle end, ``websockets-14``, holds websockets to 14.x (everything else at its
newest) and runs the core's suite: the release between the two ends whose asyncio API
changed most, as the issue that moved the core onto websockets' public API asked.

Usage: ``python scripts/compat.py [lowest-direct|highest|websockets-14 ...]`` (default:
all three).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DISTRIBUTIONS = [
    "shared",
    "packages/smallest_local",
    "packages/livekit_smallest",
    "packages/pipecat_smallest",
    "packages/langchain_smallest",
]
#: What the suites import beyond our distributions' own requirements: pinned to uv.lock.
TEST_TOOLS = [
    "pytest",
    "pytest-asyncio",
    "pytest-timeout",
    "pytest-socket",
    "pytest-xdist",
    "hypothesis",
    "pocketsphinx",
    "jiwer",
    "langchain-tests",
    "livekit-plugins-smallestai",  # the drop-in tests build the official plugin too
]
SUITES = [
    "tests/core",
    "tests/livekit",
    "tests/pipecat",
    "tests/langchain",
    "tests/conformance",
    "tests/reliability",
]
#: Each end: uv's resolution, extra requirements, the suites it runs.
ENDS: dict[str, tuple[str, list[str], list[str]]] = {
    "lowest-direct": ("lowest-direct", [], SUITES),
    "highest": ("highest", [], SUITES),
    "websockets-14": ("highest", ["websockets>=14,<15"], ["tests/core"]),
}
#: Printed after resolving, so a log says which versions each end proved.
SHOWN = {"websockets", "httpx", "livekit-agents", "pipecat-ai", "langchain-core", "aiohttp"}


def declared() -> list[str]:
    """Every third-party requirement our distributions declare (workspace members out)."""
    ours = set()
    requirements: list[str] = []
    for dist in DISTRIBUTIONS:
        project = tomllib.loads((ROOT / dist / "pyproject.toml").read_text())["project"]
        ours.add(project["name"])
        requirements += project.get("dependencies", [])
    return [r for r in requirements if _name(r) not in ours]


def locked(names: list[str]) -> list[str]:
    """``name==version`` for each name, as uv.lock pins it."""
    packages = tomllib.loads((ROOT / "uv.lock").read_text())["package"]
    versions = {p["name"]: p["version"] for p in packages if "version" in p}
    return [f"{name}=={versions[name]}" for name in names]


def _name(requirement: str) -> str:
    for i, ch in enumerate(requirement):
        if not (ch.isalnum() or ch in "-_."):
            return requirement[:i].lower()
    return requirement.lower()


def run(*cmd: str | Path, env: dict[str, str] | None = None) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT, env=env)


def main(ends: list[str]) -> int:
    uv = os.environ.get("UV", "uv")
    for end in ends:
        resolution, extra, suites = ENDS[end]
        started = time.monotonic()
        venv = ROOT / ".compat" / end
        python = venv / "bin" / "python"
        run(uv, "venv", "--quiet", "--clear", "--python", sys.executable, venv)
        run(
            uv, "pip", "install", "--quiet", "--python", python, "--resolution", resolution,
            *declared(), *extra, *locked(TEST_TOOLS),
        )  # fmt: skip
        editable = [arg for dist in DISTRIBUTIONS for arg in ("-e", dist)]
        run(uv, "pip", "install", "--quiet", "--python", python, "--no-deps", *editable)
        listing = subprocess.run(
            [uv, "pip", "list", "--python", str(python), "--format", "freeze"],
            check=True, capture_output=True, text=True, cwd=ROOT,
        ).stdout  # fmt: skip
        shown = [line for line in listing.splitlines() if _name(line) in SHOWN]
        print(f"== {end}: " + ", ".join(sorted(shown)), flush=True)
        env = {**os.environ, "VIRTUAL_ENV": str(venv)}
        # two workers per core, one test at a time to whichever is free
        workers = str(2 * (os.cpu_count() or 1))
        run(python, "-m", "pytest", "-q", "-n", workers, "--maxschedchunk", "1",
            "-p", "no:cacheprovider", *suites, env=env)  # fmt: skip
        print(f"== {end}: passed in {time.monotonic() - started:.0f} s", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or list(ENDS)))
