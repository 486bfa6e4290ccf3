"""Every ``§N`` / ``§N.M`` cited in the core and the local server resolves in its document.

Two documents ship with the repository: ``docs/protocol.md`` (the TTS contract) and
``docs/stt.md`` (Pulse speech-to-text). Code cites them in comments and docstrings: a module
whose name starts with ``stt`` cites ``docs/stt.md`` as ``§3.2``; anywhere else, ``STT §3.2``
means ``docs/stt.md`` and a plain ``§5.4`` means ``docs/protocol.md``. This test keeps the
numbers honest as the code and the documents change.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOCS = {"tts": ROOT / "docs" / "protocol.md", "stt": ROOT / "docs" / "stt.md"}
SOURCES = (ROOT / "shared" / "src", ROOT / "packages" / "smallest_local" / "src")

#: ``§5.4``, ``§12`` — a trailing sentence dot (``§12.``) is not part of the number; an
#: ``STT`` (or ``STT.md``) just before it points at docs/stt.md.
REFERENCE = re.compile(r"(STT(?:\.md)?\s*)?§(\d+(?:\.\d+)*)")
#: ``## §5.4 Lifecycle`` and the like.
HEADING = re.compile(r"^#{1,6}\s+§(\d+(?:\.\d+)*)\s", re.MULTILINE)


def _headings(doc: str) -> list[str]:
    return HEADING.findall(DOCS[doc].read_text(encoding="utf-8"))


def _references() -> dict[str, dict[str, list[str]]]:
    """Document → section number → the places (``path:line``) citing it."""
    found: dict[str, dict[str, list[str]]] = {"tts": {}, "stt": {}}
    for root in SOURCES:
        for path in sorted(root.rglob("*.py")):
            stt_module = path.name.startswith("stt")
            lines = path.read_text(encoding="utf-8").splitlines()
            for lineno, line in enumerate(lines, 1):
                for prefix, number in REFERENCE.findall(line):
                    doc = "stt" if stt_module or prefix else "tts"
                    where = f"{path.relative_to(ROOT)}:{lineno}"
                    found[doc].setdefault(number, []).append(where)
    return found


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_cited_section_has_a_heading(doc: str) -> None:
    references = _references()[doc]
    headings = set(_headings(doc))
    missing = {n: places for n, places in references.items() if n not in headings}
    assert not missing, f"sections cited in code but absent from {DOCS[doc].name}: {missing}"


def test_the_scan_sees_the_code_citations() -> None:
    """Guards the scanner itself: the code cites the WebSocket lifecycle and continuations,
    and the STT session's lifecycle."""
    references = _references()
    assert {"5.4", "12", "9.1"} <= set(references["tts"])
    assert sum(len(places) for places in references["tts"].values()) > 50
    assert references["stt"], "no STT citation found"


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_section_headings_are_unique(doc: str) -> None:
    headings = _headings(doc)
    duplicates = sorted({n for n in headings if headings.count(n) > 1})
    assert not duplicates, f"headings numbered twice: {duplicates}"


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_top_level_sections_are_numbered_without_gaps(doc: str) -> None:
    tops = [int(n) for n in _headings(doc) if "." not in n]
    assert tops == list(range(1, len(tops) + 1))


@pytest.mark.parametrize("doc", sorted(DOCS))
def test_every_subsection_sits_under_its_section(doc: str) -> None:
    seen: set[str] = set()
    for number in _headings(doc):
        parent = number.rpartition(".")[0]
        assert not parent or parent in seen, f"§{number} comes before §{parent}"
        seen.add(number)
