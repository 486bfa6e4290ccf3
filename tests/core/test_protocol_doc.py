"""Every ``§N`` / ``§N.M`` cited in the core and the local server resolves in docs/protocol.md.

The code cites protocol sections in comments and docstrings (``§5.4``, ``PROTOCOL.md §12``).
The document they point to is ``docs/protocol.md``, which ships with the repository; this
test keeps the numbers honest as the code and the document change.
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "protocol.md"
SOURCES = (ROOT / "shared" / "src", ROOT / "packages" / "smallest_local" / "src")

#: ``§5.4``, ``§12`` — a trailing sentence dot (``§12.``) is not part of the number.
REFERENCE = re.compile(r"§(\d+(?:\.\d+)*)")
#: ``## §5.4 Lifecycle`` and the like.
HEADING = re.compile(r"^#{1,6}\s+§(\d+(?:\.\d+)*)\s", re.MULTILINE)


def _headings() -> list[str]:
    return HEADING.findall(DOC.read_text(encoding="utf-8"))


def _references() -> dict[str, list[str]]:
    """Section number → the places (``path:line``) citing it."""
    found: dict[str, list[str]] = {}
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            lines = path.read_text(encoding="utf-8").splitlines()
            for lineno, line in enumerate(lines, 1):
                for number in REFERENCE.findall(line):
                    where = f"{path.relative_to(ROOT)}:{lineno}"
                    found.setdefault(number, []).append(where)
    return found


def test_every_cited_section_has_a_heading() -> None:
    references = _references()
    headings = set(_headings())
    missing = {n: places for n, places in references.items() if n not in headings}
    assert not missing, f"sections cited in code but absent from {DOC.name}: {missing}"


def test_the_scan_sees_the_code_citations() -> None:
    """Guards the scanner itself: the code cites the WebSocket lifecycle and continuations."""
    references = _references()
    assert {"5.4", "12", "9.1"} <= set(references)
    assert sum(len(places) for places in references.values()) > 50


def test_section_headings_are_unique() -> None:
    headings = _headings()
    duplicates = sorted({n for n in headings if headings.count(n) > 1})
    assert not duplicates, f"headings numbered twice: {duplicates}"


def test_top_level_sections_are_numbered_without_gaps() -> None:
    tops = [int(n) for n in _headings() if "." not in n]
    assert tops == list(range(1, len(tops) + 1))


def test_every_subsection_sits_under_its_section() -> None:
    seen: set[str] = set()
    for number in _headings():
        parent = number.rpartition(".")[0]
        assert not parent or parent in seen, f"§{number} comes before §{parent}"
        seen.add(number)
