"""What the adapter is allowed to be: a thin mapping onto ``smallest_core``'s public names.

Scans the package source: imports only from ``smallest_core``'s top level (never a core
module, never websockets/httpx/aiohttp/json), no wire literal (every field, status,
header and path the core's codec defines), no sleep. Plus the public surface, the
version, ``py.typed``, and the key never showing in reprs, dumps or logs.
"""

from __future__ import annotations

import ast
import logging
import sys
import tomllib
from pathlib import Path

import pytest
from langchain_core.tools import BaseTool

import langchain_smallest
from langchain_smallest import (
    SmallestSpeech,
    SmallestTextToSpeechTool,
    SmallestToolkit,
)
from smallest_core import codec, stt_wire  # the test may read them; the adapter may not
from smallest_local import Server
from tests.support.source import parse

PACKAGE = Path(langchain_smallest.__file__).parent
SOURCES = sorted(PACKAGE.glob("*.py"))
ALLOWED_ROOTS = {"langchain_core", "pydantic", "smallest_core"} | set(sys.stdlib_module_names)
FORBIDDEN_ROOTS = {"websockets", "httpx", "aiohttp", "json", "smallest_local", "requests"}

EXPECTED_ALL = [
    "CloneVoiceInput",
    "ListVoicesInput",
    "SmallestAudioLoader",
    "SmallestCloneVoiceTool",
    "SmallestListVoicesTool",
    "SmallestSpeech",
    "SmallestSpeechToTextTool",
    "SmallestTextToSpeechTool",
    "SmallestToolkit",
    "SpeechAudio",
    "SpeechInput",
    "SpeechToTextInput",
    "TextToSpeechInput",
    "__version__",
]


def wire_literals() -> set[str]:
    """Every wire value the core's codec defines once (fields, statuses, headers, paths)."""
    values: set[str] = set()
    for enum in (codec.Field, codec.Status, codec.Header, codec.MediaType):
        values |= {str(member.value) for member in enum}
    values |= {str(member.value) for member in stt_wire.STTType}  # STT messages and events
    for module in (codec, stt_wire):
        values |= {v for k, v in vars(module).items() if k.endswith("_PATH") and isinstance(v, str)}
    return values | {"Bearer", "cancel_request", "continue", "flush", "complete", "chunk"}


def string_constants(tree: ast.AST) -> list[tuple[int, str]]:
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_imports_only_the_core_top_level(source: Path):
    tree = parse(source.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        for name in names:
            root = name.split(".")[0]
            assert root not in FORBIDDEN_ROOTS, f"{source.name}:{node.lineno} imports {name}"
            assert root in ALLOWED_ROOTS, f"{source.name}:{node.lineno} imports {name}"
            if root == "smallest_core":
                assert name == "smallest_core", f"{source.name}:{node.lineno}: core module {name}"


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.name)
def test_no_wire_literal_and_no_sleep(source: Path):
    tree = parse(source.read_text())
    wire = wire_literals()
    assert {"context_id", "status", "continue", "Authorization"} <= wire  # the scan is real
    for lineno, value in string_constants(tree):
        assert value not in wire, f"{source.name}:{lineno}: wire literal {value!r}"
        assert "/waves/" not in value, f"{source.name}:{lineno}: API path {value!r}"
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute):
            assert node.attr != "sleep", f"{source.name}:{node.lineno}: sleep"
            assert (
                not node.attr.startswith("_")
                or node.attr.startswith("__")
                or (isinstance(node.value, ast.Name) and node.value.id in {"self", "cls"})
            ), f"{source.name}:{node.lineno}: private attribute {node.attr}"


def test_public_surface_version_and_typing_marker():
    assert langchain_smallest.__all__ == EXPECTED_ALL
    assert all(hasattr(langchain_smallest, name) for name in EXPECTED_ALL)
    pyproject = tomllib.loads((PACKAGE.parents[1] / "pyproject.toml").read_text())
    assert pyproject["project"]["version"] == langchain_smallest.__version__
    assert (PACKAGE / "py.typed").is_file()


def test_the_key_never_shows(smallest_server: Server, caplog: pytest.LogCaptureFixture):
    key = "sk_secret_for_hygiene_test"
    toolkit = SmallestToolkit(api_key=key, base_url=smallest_server.http_url)
    speech = SmallestSpeech(api_key=key, base_url=smallest_server.http_url)
    objects: list[object] = [toolkit, speech, *toolkit.get_tools()]
    for obj in objects:
        assert key not in repr(obj) and key not in str(obj)
        assert key not in str(obj.model_dump())  # type: ignore[attr-defined]

    for obj in (speech, *toolkit.get_tools()):
        assert obj.lc_secrets == {"api_key": "SMALLEST_API_KEY"}  # type: ignore[attr-defined]

    caplog.set_level(logging.DEBUG)
    tts = toolkit.get_tools()[0]
    assert isinstance(tts, BaseTool)
    message = tts.invoke(
        {"type": "tool_call", "id": "k", "name": tts.name, "args": {"text": "Hi."}}
    )
    assert message.status == "error" and key not in message.content  # rejected key
    with pytest.raises(Exception) as caught:
        speech.invoke("Hi.")
    assert key not in str(caught.value) and key not in repr(caught.value)
    assert all(key not in record.getMessage() for record in caplog.records)
    toolkit.close()
    speech.close()


def test_tool_audio_repr_does_not_dump_audio(smallest_server: Server):
    tts = SmallestTextToSpeechTool(
        api_key=smallest_server.api_key, base_url=smallest_server.http_url
    )
    message = tts.invoke(
        {"type": "tool_call", "id": "r", "name": tts.name, "args": {"text": "Hi."}}
    )
    assert "RIFF" not in repr(message.artifact) and "bytes" in repr(message.artifact)
    assert message.artifact.audio.startswith(b"RIFF")
