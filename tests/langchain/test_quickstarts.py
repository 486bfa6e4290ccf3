"""The package README's quick starts are the ``examples/`` files, byte for byte.

Every ``python`` block of ``packages/langchain_smallest/README.md`` is one of the files
below, so the README and the files cannot drift apart. The files run, offline and as
written, in ``tests/e2e/test_packaging.py``: in a fresh venv holding only
``langchain-smallest`` (and ``smallest-local`` as their server), where every check of
what they print, save and say is made (the spoken answer is transcribed back).
"""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "packages" / "langchain_smallest" / "README.md"
EXAMPLES = {
    "agent": ROOT / "examples" / "langchain_quickstart_agent.py",
    "speech": ROOT / "examples" / "langchain_quickstart_speech.py",
    "stt": ROOT / "examples" / "langchain_quickstart_stt.py",
}


def readme_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.DOTALL)


def test_readme_blocks_are_the_example_files():
    assert readme_blocks() == [path.read_text() for path in EXAMPLES.values()]


def test_every_quickstart_runs_in_the_packaging_test():
    packaging = (ROOT / "tests" / "e2e" / "test_packaging.py").read_text()
    for path in EXAMPLES.values():
        assert f'(EXAMPLES / "{path.name}").read_text()' in packaging, path.name
