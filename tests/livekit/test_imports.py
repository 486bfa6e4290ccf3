"""The adapter is a thin mapping: core top level only, no transport, no wire literals.

Read with :mod:`tokenize` (not :mod:`ast`: CPython 3.11's ``ast.parse`` can raise a
spurious "recursion depth mismatch" SystemError inside a long test session).
"""

from __future__ import annotations

import io
import re
import tokenize
from pathlib import Path

import livekit_smallest

SOURCE = Path(livekit_smallest.__file__).parent
FILES = sorted(SOURCE.glob("*.py"))
FORBIDDEN_MODULES = {"websockets", "httpx", "aiohttp", "json", "base64"}
# Frame vocabulary of the Smallest protocol: it lives in smallest_core's codec only.
WIRE_LITERALS = {
    "continue", "flush", "context_id", "status", "chunk", "complete", "error",
    "cancel_request", "request_id", "word_timestamp", "audio", "data", "text",
    "Authorization", "Bearer", "X-Source",
    "finalize", "close_stream", "keepalive", "transcript", "is_final", "from_finalize",
}  # fmt: skip
IMPORT = re.compile(r"^\s*(?:from\s+(\.*[\w.]*)\s+import|import\s+([\w., ]+))", re.M)


def _tokens(path: Path) -> list[tokenize.TokenInfo]:
    return list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))


def test_package_layout() -> None:
    names = {p.name for p in SOURCE.iterdir()}
    assert {"__init__.py", "tts.py", "_errors.py", "log.py", "version.py", "py.typed"} <= names
    assert livekit_smallest.__all__ == [
        "STT", "TTS", "ChunkedStream", "SpeechStream", "SynthesizeStream", "__version__"
    ]  # fmt: skip


def test_only_the_core_top_level_and_no_transport() -> None:
    seen_core = False
    for path in FILES:
        for match in IMPORT.finditer(path.read_text()):
            modules = [match.group(1)] if match.group(1) else match.group(2).split(",")
            for module in (m.strip().split(" ")[0] for m in modules):
                root = module.split(".")[0]
                assert root not in FORBIDDEN_MODULES, f"{path.name} imports {module}"
                if root == "smallest_core":
                    seen_core = True
                    assert module == "smallest_core", f"{path.name} imports {module}"
    assert seen_core


def test_no_wire_literals_no_sleep_no_private_core_access() -> None:
    for path in FILES:
        tokens = _tokens(path)
        for tok in tokens:
            if tok.type == tokenize.STRING:
                body = tok.string.strip("rbfuRBFU")
                value = body.strip("\"'")
                assert value not in WIRE_LITERALS, f"{path.name}:{tok.start[0]} {tok.string}"
                assert "/waves" not in value, f"{path.name}:{tok.start[0]} {tok.string}"
        names = [t.string for t in tokens if t.type == tokenize.NAME]
        assert "sleep" not in names, f"{path.name} sleeps"
        # core objects are used through public names only: no `utt._x`, `pool._x`, ...
        for a, dot, attr in zip(tokens, tokens[1:], tokens[2:], strict=False):
            if a.string in {"utt", "utterance", "pool", "rest", "session", "client"} and (
                dot.string == "."
            ):
                assert not attr.string.startswith("_"), f"{path.name}:{a.start[0]}"
