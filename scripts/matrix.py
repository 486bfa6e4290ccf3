"""Run the conformance catalogues and write their matrices into the root README.

Runs ``pytest tests/conformance tests/reliability`` with a JUnit XML report (or reads one
given with ``--junit``), and rewrites only the block between ``<!-- conformance:matrix -->``
and ``<!-- /conformance:matrix -->`` in ``README.md`` (TTS: one row per scenario ×
adapter, one column per server dialect, then the reliability cases — fault, bad input,
key safety — × adapter) and the block between ``<!-- conformance:stt-matrix -->`` markers
(STT: one row per scenario × adapter, one column per STT dialect, then the STT faults ×
adapter); each cell the test's real outcome. A block whose cases the report does not hold
is left as it is (``--junit`` of an STT-only run rewrites the STT block alone).

Run: ``uv run --no-sync python scripts/matrix.py [--junit PATH] [--check]``
(``--check``: exit 1 if the README block is not what this run would write).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script: the catalogue lives in tests/

from tests.conformance.test_scenarios import DIALECTS, RELEASE_GAP_MS  # noqa: E402
from tests.conformance.test_stt_scenarios import STT_DIALECTS  # noqa: E402
from tests.support import stt_scenarios  # noqa: E402
from tests.support.drivers import ADAPTERS, STREAMING  # noqa: E402
from tests.support.scenarios import SCENARIOS, applicable  # noqa: E402
from tests.support.stt_drivers import STT_ADAPTERS, STT_STREAMING  # noqa: E402

README = ROOT / "README.md"
START, END = "<!-- conformance:matrix -->", "<!-- /conformance:matrix -->"
STT_START, STT_END = "<!-- conformance:stt-matrix -->", "<!-- /conformance:stt-matrix -->"
CASE = re.compile(r"test_scenario\[(?P<name>.+)\|(?P<adapter>[^|]+)\|(?P<dialect>[^|]+)\]$")
STT_CASE = re.compile(r"test_stt_scenario\[(?P<name>.+)\|(?P<adapter>[^|]+)\|(?P<dialect>[^|]+)\]$")
STT_FAULT = re.compile(r"test_stt_fault\[(?P<name>.+)\|(?P<adapter>[^|]+)\]$")
MARK = {"passed": "pass", "failed": "**FAIL**", "error": "**ERROR**", "skipped": "skipped"}


def run_suite(junit: Path) -> None:
    """Run the catalogue (the outcome, pass or fail, goes into the table)."""
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:randomly",
            f"--junitxml={junit}",
            str(ROOT / "tests" / "conformance" / "test_scenarios.py"),
            str(ROOT / "tests" / "conformance" / "test_intelligibility.py"),
            str(ROOT / "tests" / "conformance" / "test_stt_scenarios.py"),
            str(ROOT / "tests" / "reliability"),
        ],
        cwd=ROOT,
        check=False,
    )


def state_of(case: ET.Element) -> str:
    state = "passed"
    for child in case:
        if child.tag in ("failure", "error", "skipped"):
            state = {"failure": "failed"}.get(child.tag, child.tag)
    return state


def outcomes(junit: Path, pattern: re.Pattern[str] = CASE) -> dict[tuple[str, ...], str]:
    """(scenario, adapter[, dialect]) → passed / failed / error / skipped."""
    found: dict[tuple[str, ...], str] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        match = pattern.match(case.get("name", ""))
        if match:
            found[tuple(match.groupdict().values())] = state_of(case)
    return found


#: reliability tests: function name → row label (the parameter before the adapter follows)
RELIABILITY = {
    "test_fault_ten_times_then_the_next_turn_speaks": "fault ×10:",
    "test_idle_close_ten_times": "idle close ×10",
    "test_close_after_every_complete_ten_times": "close after every complete ×10",
    "test_refused_key_is_a_typed_error_at_once_and_not_retried": "upgrade refused (key):",
    "test_transient_refusal_then_it_speaks": "upgrade refused (transient):",
    "test_stall_past_the_deadline_mid_utterance_then_the_next_turn_speaks": (
        "stuck mid-utterance past the deadline:"
    ),
    "test_bad_setting_is_refused_before_the_network": "bad setting:",
    "test_odd_text_is_spoken_sanely_and_the_next_turn_speaks": "odd text:",
    "test_the_key_appears_nowhere": "key safety:",
    "test_a_streamed_turn_is_intelligible": "intelligible (espeak + ASR)",
}
PARAMS = re.compile(r"^(?P<func>\w+)\[(?P<params>.*)\]$")


def reliability(junit: Path) -> dict[str, dict[str, str]]:
    """row label → adapter → outcome, for the reliability and intelligibility tests."""
    rows: dict[str, dict[str, str]] = {}
    for case in ET.parse(junit).getroot().iter("testcase"):
        match = PARAMS.match(case.get("name", ""))
        if not match or match["func"] not in RELIABILITY:
            continue
        params = match["params"]
        adapter = next(
            (a for a in sorted(ADAPTERS, key=len, reverse=True) if params.endswith(a)), None
        )
        if adapter is None:
            continue
        rest = params[: -len(adapter)].rstrip("-")
        label = RELIABILITY[match["func"]]
        if label.endswith(":"):
            label = f"{label} {rest}"
        state = "passed"
        for child in case:
            if child.tag in ("failure", "error", "skipped"):
                state = {"failure": "failed"}.get(child.tag, child.tag)
        rows.setdefault(label, {})[adapter] = state
    return rows


def known_failing() -> dict[str, set[str]]:
    """Cases left out of the suite because they fail today (listed in the test files)."""
    from tests.reliability.test_bad_input import FAILING_NOW
    from tests.reliability.test_faults import STALL_FAILING_NOW

    out: dict[str, set[str]] = {}
    for name, adapter in FAILING_NOW:
        out.setdefault(f"odd text: {name}", set()).add(adapter)
    for adapter in STALL_FAILING_NOW:
        out.setdefault("stuck mid-utterance past the deadline: stall", set()).add(adapter)
    return out


def reliability_table(rows: dict[str, dict[str, str]]) -> list[str]:
    failing = known_failing()
    for label in failing:
        rows.setdefault(label, {})
    passed = sum(1 for r in rows.values() for s in r.values() if s == "passed")
    total = sum(len(r) for r in rows.values())
    lines = [
        "",
        "Reliability (`tests/reliability/`, each fault ten times in a row unless noted) and",
        f"intelligibility: **{passed} / {total} cases pass**; **fails today** marks a case",
        "left out of the suite until the adapter or core is fixed (see the test file).",
        "",
        "| case | " + " | ".join(ADAPTERS) + " |",
        "|---|" + "---|" * len(ADAPTERS),
    ]
    for label, by_adapter in rows.items():
        cells = []
        for adapter in ADAPTERS:
            if adapter in failing.get(label, set()):
                cells.append("**fails today**")
            else:
                cells.append(MARK.get(by_adapter.get(adapter, ""), "—"))
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def table(found: dict[tuple[str, ...], str]) -> str:
    """The Markdown block (with how it was made)."""
    passed = sum(1 for s in found.values() if s == "passed")
    lines = [
        "*Generated by `uv run --no-sync python scripts/matrix.py`, which runs",
        "`tests/conformance/test_scenarios.py` (also part of `make test`) and writes each",
        "case's real outcome here. Columns: the local server's reading of continuations",
        f"(docs/protocol.md §12; `release*` dialects with a {RELEASE_GAP_MS:g} ms gap",
        "between sentence releases). `—`: the adapter cannot express the scenario (the",
        "LangChain tool is one HTTP request per call: no token stream, barge-in or word",
        "times, and no continuations, so one column).*",
        "",
        f"**{passed} / {len(found)} cases pass.**",
        "",
        "| scenario | adapter | " + " | ".join(f"`{d}`" for d in DIALECTS) + " |",
        "|---|---|" + "---|" * len(DIALECTS),
    ]
    for name in SCENARIOS:
        for adapter in ADAPTERS:
            cells = []
            for dialect in DIALECTS:
                if not applicable(name, adapter):
                    cells.append("—")
                elif adapter not in STREAMING and dialect != "context":
                    cells.append("(HTTP)")
                else:
                    state = found.get((name, adapter, dialect))
                    cells.append(MARK.get(state or "", "not run"))
            lines.append(f"| {name} | {adapter} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def stt_table(found: dict[tuple[str, ...], str], faults: dict[tuple[str, ...], str]) -> str:
    """The STT block: scenarios × adapters × STT dialects, then the faults × adapters."""
    passed = sum(1 for s in [*found.values(), *faults.values()] if s == "passed")
    total = len(found) + len(faults)
    lines = [
        "*Generated by `uv run --no-sync python scripts/matrix.py`, which runs",
        "`tests/conformance/test_stt_scenarios.py` (also part of `make test`) against the",
        "local server's tone twin, whose transcripts are exact: every adapter must deliver",
        "the same words, the same typed error, within a bounded time. Columns: the server's",
        'STT dialects (`packages/smallest_local/README.md`, "STT dialects"). `—`: the adapter',
        "cannot express the scenario (the LangChain tool is one batch request: no turn",
        "boundary, no stream to barge into, no WebSocket, so one column, `(HTTP)`).*",
        "",
        f"**{passed} / {total} cases pass.**",
        "",
        "| scenario | adapter | " + " | ".join(f"`{d}`" for d in STT_DIALECTS) + " |",
        "|---|---|" + "---|" * len(STT_DIALECTS),
    ]
    for name in stt_scenarios.SCENARIOS:
        for adapter in STT_ADAPTERS:
            cells = []
            for dialect in STT_DIALECTS:
                if not stt_scenarios.applicable(name, adapter):
                    cells.append("—")
                elif adapter not in STT_STREAMING and dialect != "pulse":
                    cells.append("(HTTP)")
                else:
                    state = found.get((name, adapter, dialect))
                    cells.append(MARK.get(state or "", "not run"))
            lines.append(f"| {name} | {adapter} | " + " | ".join(cells) + " |")
    lines += [
        "",
        "STT faults (`pulse` dialect; the outcome every adapter gives: the whole transcript",
        "when the fault was retried, else the core's typed error, `TranscriptionLostError`",
        "once audio was sent; a drop after audio that no partial had acknowledged yet is",
        "replayed whole):",
        "",
        "| fault | expected outcome | " + " | ".join(STT_ADAPTERS) + " |",
        "|---|---|" + "---|" * len(STT_ADAPTERS),
    ]
    for name, fault in stt_scenarios.FAULTS.items():
        if fault.error is None:
            want = "whole transcript"
        else:
            want = " / ".join(f"`{e}`" for e in fault.error)
            if fault.replay_ok:
                want += " or replayed whole"
        cells = [
            MARK.get(faults.get((name, a), ""), "not run")
            if stt_scenarios.applicable(name, a)
            else "—"
            for a in STT_ADAPTERS
        ]
        lines.append(f"| {name} | {want} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def rewrite(block: str, text: str, start: str = START, end: str = END) -> str:
    """``text`` with only the marked block replaced."""
    head, rest = text.split(start, 1)
    _old, tail = rest.split(end, 1)
    return f"{head}{start}\n{block}\n{end}{tail}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--junit", type=Path, help="read this JUnit XML instead of running")
    parser.add_argument("--check", action="store_true", help="only compare with README.md")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        junit = args.junit
        if junit is None:
            junit = Path(tmp) / "conformance.xml"
            run_suite(junit)
        found = outcomes(junit)
        extra = reliability(junit)
        stt_found = outcomes(junit, STT_CASE)
        stt_faults = outcomes(junit, STT_FAULT)
    text = README.read_text(encoding="utf-8")
    new = text
    if found or extra:
        block = table(found)
        if extra:
            block += "\n" + "\n".join(reliability_table(extra))
        new = rewrite(block, new)
    if stt_found or stt_faults:
        new = rewrite(stt_table(stt_found, stt_faults), new, STT_START, STT_END)
    if args.check:
        return 0 if new == text else 1
    README.write_text(new, encoding="utf-8")
    print(
        f"README.md: {len(found)} TTS cases, {len(stt_found) + len(stt_faults)} STT cases written"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
