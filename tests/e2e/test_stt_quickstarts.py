"""Each package README's speech-to-text quick start is the ``examples/`` file, byte for byte.

The files themselves run in ``tests/e2e/test_packaging.py``: in a fresh venv holding only
that package's wheel (and ``smallest-local`` as the server), from an empty directory —
espeak speaks the "user", pocketsphinx hears it, and the sentence must come back.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
QUICKSTARTS = {
    "livekit_smallest": "livekit_quickstart_stt.py",
    "pipecat_smallest": "pipecat_quickstart_stt.py",
    "langchain_smallest": "langchain_quickstart_stt.py",
}


@pytest.mark.parametrize(("package", "example"), QUICKSTARTS.items())
def test_readme_shows_the_example(package: str, example: str) -> None:
    readme = (ROOT / "packages" / package / "README.md").read_text()
    blocks = re.findall(r"```python\n(.*?)```", readme, re.DOTALL)
    assert (ROOT / "examples" / example).read_text() in blocks


def test_every_stt_quickstart_runs_in_the_packaging_test() -> None:
    """The runs live in test_packaging.py; none of these files is left out of them."""
    packaging = (ROOT / "tests" / "e2e" / "test_packaging.py").read_text()
    for example in QUICKSTARTS.values():
        assert f'(EXAMPLES / "{example}").read_text()' in packaging, example
