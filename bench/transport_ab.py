"""Transport A/B: the core before (85355a4, websockets 15) and after the rewrite, one run.

Issue 20 asks for warm TTFA through LiveKit and Pipecat "within noise of today's code",
stated as before/after medians of the same run on the same server, and client CPU per
audio second not worse. This script:

1. starts ONE local server in its own process (tone engine, realtime 1.0, 20 ms chunks,
   ``--chunk-log`` so the client can also time itself against the server's writes);
2. checks out the baseline commit into a temporary git worktree (``git worktree add
   --detach``) and gives it its own ``.venv`` with ``uv sync --locked --all-packages`` (its
   lock has websockets 15.0.1; same uv binary as the Makefile, no Python downloads);
3. copies ``bench/transport_ab_client.py`` into the baseline tree and runs it, in a fresh
   process per round, with each tree's own python: rounds alternate baseline and current
   (A, B, B, A, A, B, ...) so drift in machine load hits both alike;
4. prints per-row medians (over every turn of every round) before / after, side by side,
   and removes the worktree.

Rows (see the client's docstring): warm TTFA from the last text pushed to the first audio
frame, the same minus the server's write of the first chunk, and client CPU ms per audio
second, each through LiveKit's ``tts.stream()`` and through a Pipecat ``Pipeline``.

Run: ``uv run --locked --no-sync python bench/transport_ab.py [--quick] [--json PATH]``
(also ``make bench-ab``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from common import KEY, server_process

ROOT = Path(__file__).resolve().parents[1]
BASELINE = "85355a4"  # the last commit on the old stream.py transport
CLIENT = "bench/transport_ab_client.py"


def uv_binary() -> str:
    """The uv the Makefile uses: ``$UV`` (``make`` sets it), ``uv`` on PATH, else the
    bootstrapped ``.tools/bin/uv``; absolute, since it runs inside the baseline tree."""
    uv = os.environ.get("UV") or shutil.which("uv") or ".tools/bin/uv"
    return uv if os.sep not in uv else str((ROOT / uv).resolve())


@contextmanager
def baseline_tree(commit: str) -> Iterator[Path]:
    """A detached worktree of ``commit`` with its own synced ``.venv``; removed on exit."""
    tmp = Path(tempfile.mkdtemp(prefix="smallest-ab-"))
    tree = tmp / "baseline"
    subprocess.run(
        ["git", "-C", str(ROOT), "worktree", "add", "--detach", "--quiet", str(tree), commit],
        check=True,
    )
    try:
        env = {**os.environ, "UV_PYTHON_DOWNLOADS": "never"}
        env.pop("VIRTUAL_ENV", None)  # uv would warn that it does not match the project
        t0 = time.perf_counter()
        subprocess.run(
            [uv_binary(), "sync", "--locked", "--all-packages", "--quiet"],
            cwd=tree,
            env=env,
            check=True,
        )
        print(f"  baseline {commit}: synced in {time.perf_counter() - t0:.0f} s", file=sys.stderr)
        shutil.copy(ROOT / CLIENT, tree / CLIENT)
        yield tree
    finally:
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)], check=False
        )
        shutil.rmtree(tmp, ignore_errors=True)
        subprocess.run(["git", "-C", str(ROOT), "worktree", "prune"], check=False)


def run_client(python: Path, tree: Path, ws: str, log: str, turns: int, cpu_turns: int) -> dict:
    cmd = [str(python), str(tree / CLIENT), "--ws", ws, "--key", KEY, "--chunk-log", log]
    cmd += ["--turns", str(turns), "--cpu-turns", str(cpu_turns)]
    done = subprocess.run(cmd, cwd=tree, capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"client in {tree} failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


ROWS = [
    # label, framework, key, format
    ("warm TTFA, end_input -> first frame (ms)", "livekit", "ttfa", "{:.2f}"),
    ("  of which after the server's first chunk write (ms)", "livekit", "over_chunk", "{:.2f}"),
    ("client CPU per audio second (ms)", "livekit", "cpu", "{:.1f}"),
    ("warm TTFA, TTSSpeakFrame -> first audio (ms)", "pipecat", "ttfa", "{:.2f}"),
    ("  of which after the server's first chunk write (ms)", "pipecat", "over_chunk", "{:.2f}"),
    ("client CPU per audio second (ms)", "pipecat", "cpu", "{:.1f}"),
]


def table(samples: dict[str, dict[str, dict[str, list[float]]]], names: dict[str, str]) -> str:
    lines = [
        f"| row | framework | before: {names['before']} | after: {names['after']} | "
        "after / before |",
        "|---|---|---:|---:|---:|",
    ]
    for label, fw, key, fmt in ROWS:
        med = {}
        for side in ("before", "after"):
            vals = samples[side][fw].get(key, [])
            med[side] = statistics.median(vals) if vals else float("nan")
        ratio = med["after"] / med["before"] if med["before"] else float("nan")
        lines.append(
            f"| {label} | {fw} | {fmt.format(med['before'])} | {fmt.format(med['after'])} "
            f"| {ratio:.2f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 rounds per side, 5 turns")
    parser.add_argument("--rounds", type=int, help="rounds per side (default 6, quick 2)")
    parser.add_argument("--baseline", default=BASELINE, help="commit to compare against")
    parser.add_argument("--json", metavar="PATH", help="also write every sample as JSON")
    args = parser.parse_args()
    rounds = args.rounds or (2 if args.quick else 6)
    turns = 5 if args.quick else 10
    cpu_turns = 1 if args.quick else 2
    print(f"Transport A/B: {args.baseline} (before) vs the working tree (after), one server")
    print(f"machine: {os.cpu_count()} cores, Python {sys.version.split()[0]}")
    print(f"{rounds} rounds per side, {turns} TTFA turns per framework and round\n")
    samples: dict[str, dict[str, dict[str, list[float]]]] = {
        side: {"livekit": {}, "pipecat": {}} for side in ("before", "after")
    }
    names = {"before": args.baseline, "after": "HEAD"}
    t0 = time.perf_counter()
    with baseline_tree(args.baseline) as base, tempfile.TemporaryDirectory() as tmp:
        log = os.path.join(tmp, "chunks.log")
        open(log, "w").close()
        sides = {
            "before": (base / ".venv" / "bin" / "python", base),
            "after": (Path(sys.executable), ROOT),
        }
        server_args = ("--engine", "tone", "--realtime-factor", "1.0", "--chunk-ms", "20")
        with server_process(*server_args, "--chunk-log", log) as (ws, _http):
            for i in range(rounds):
                order = ("before", "after") if i % 2 == 0 else ("after", "before")
                for side in order:
                    python, tree = sides[side]
                    got = run_client(python, tree, ws, log, turns, cpu_turns)
                    names[side] = f"{args.baseline if side == 'before' else 'HEAD'} " + (
                        f"(websockets {got['websockets']})"
                    )
                    for fw in ("livekit", "pipecat"):
                        for key, value in got[fw].items():
                            values = value if isinstance(value, list) else [value]
                            samples[side][fw].setdefault(key, []).extend(values)
                    print(
                        f"  round {i + 1}/{rounds} {side:6}: LiveKit TTFA p50 "
                        f"{statistics.median(got['livekit']['ttfa']):.2f} ms, Pipecat "
                        f"{statistics.median(got['pipecat']['ttfa']):.2f} ms",
                        file=sys.stderr,
                        flush=True,
                    )
    print(table(samples, names))
    print(
        f"\nmedians over {rounds} rounds x {turns} turns (CPU: one sample per round); "
        f"{time.perf_counter() - t0:.0f} s"
    )
    if args.json:
        Path(args.json).write_text(json.dumps({"names": names, "samples": samples}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
