"""Construction, events, metrics, logging and import hygiene of the Pipecat adapter."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from loguru import logger
from pipecat.frames.frames import ErrorFrame, MetricsFrame, TTSSpeakFrame
from pipecat.metrics.metrics import TTFBMetricsData, TTSUsageMetricsData
from pipecat.transcriptions.language import Language
from pipecat.utils.errors import ErrorCategory

import pipecat_smallest
from pipecat_smallest import SmallestHttpTTSService, SmallestTTSService
from smallest_core import AuthenticationError, InvalidOptionError
from tests.support.pipecat import running
from tests.support.source import parse

PACKAGE = Path(pipecat_smallest.__file__).parent


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"settings": SmallestTTSService.Settings(speed=3.0)}, "speed"),
        ({"settings": SmallestTTSService.Settings(model="lightning_v9")}, "model"),
        ({"settings": SmallestTTSService.Settings(language=Language.CY)}, "language"),
        ({"settings": SmallestTTSService.Settings(voice="")}, "voice_id"),
        ({"sample_rate": 22050}, "sample_rate"),
        ({"base_url": "ftp://example.com"}, "base_url"),
    ],
)
def test_bad_values_are_refused_at_construction(kwargs, field):
    for cls in (SmallestTTSService, SmallestHttpTTSService):
        with pytest.raises(InvalidOptionError) as info:
            cls(api_key="sk_test", **kwargs)
        assert info.value.field == field
        assert "allowed" in str(info.value)


def test_http_output_format_is_checked():
    with pytest.raises(InvalidOptionError, match="output_format"):
        SmallestHttpTTSService(api_key="sk_test", output_format="ogg")


def test_key_from_environment_and_missing_key(monkeypatch):
    monkeypatch.delenv("SMALLEST_API_KEY", raising=False)
    with pytest.raises(AuthenticationError, match="SMALLEST_API_KEY"):
        SmallestTTSService()
    monkeypatch.setenv("SMALLEST_API_KEY", "sk_from_env")
    monkeypatch.setenv("SMALLEST_BASE_URL", "http://127.0.0.1:9")
    tts = SmallestTTSService()
    assert "sk_from_env" not in repr(tts.pool)
    assert tts.pool.base_url == "http://127.0.0.1:9"  # the core takes either scheme


def test_regional_languages_map_to_smallest_codes():
    tts = SmallestTTSService(
        api_key="sk_test", settings=SmallestTTSService.Settings(language=Language.HI_IN)
    )
    assert tts._settings.language == "hi"


async def test_prewarm_at_setup_events_and_no_keepalive(make_tts, smallest_server):
    """The socket opens before any text; nothing is synthesized that was not asked for."""
    tts = make_tts()
    events: list[str] = []
    for name in ("on_connected", "on_disconnected", "on_connection_error"):
        tts.add_event_handler(name, lambda _tts, *args, name=name: events.append(name))
    async with running(tts) as run:
        assert smallest_server.stats.ws_connections_total >= 1  # prewarmed at setup()
        assert smallest_server.stats.syntheses_started == 0
        await run.send(TTSSpeakFrame("One."), TTSSpeakFrame("Two."))
        await run.turns_done(2)
    assert smallest_server.stats.syntheses_started == 2
    assert "on_connected" in events and "on_disconnected" in events
    assert "on_connection_error" not in events
    assert events.count("on_connected") == events.count("on_disconnected")


async def test_metrics_in_pipecat_form(make_tts):
    tts = make_tts()
    async with running(tts, metrics=True) as run:
        await run.send(TTSSpeakFrame("Hello there."))
        await run.turns_done(1)
        await run.send(TTSSpeakFrame("Again."))
        await run.turns_done(2)
    data = [d for f in run.down.frames(MetricsFrame) for d in f.data if d.processor == tts.name]
    # Pipecat reports a zero TTFB at start; then one per context, at its first audio.
    ttfb = [d.value for d in data if isinstance(d, TTFBMetricsData) and d.value]
    usage = [d.value for d in data if isinstance(d, TTSUsageMetricsData)]
    assert len(ttfb) == 2 and all(0 < v < 1 for v in ttfb)
    assert usage == [len("Hello there. "), len("Again. ")]


@pytest.mark.smallest_server(api_keys=("sk_the_right_key",))
async def test_bad_key_is_a_permanent_error_and_never_logged(smallest_server):
    secret = "sk_wrong_key_0123456789"
    tts = SmallestTTSService(api_key=secret, base_url=smallest_server.ws_url)
    errors: list[str] = []
    tts.add_event_handler("on_connection_error", lambda _tts, error: errors.append(error))
    lines: list[str] = []
    sink = logger.add(lines.append, level="TRACE", format="{message}")
    try:
        async with running(tts) as run:
            await run.send(TTSSpeakFrame("Hello."))
            await run.up.wait_count(ErrorFrame, 1)
    finally:
        logger.remove(sink)
    error = run.errors()[0]
    assert isinstance(error.exception, AuthenticationError)
    assert error.category is ErrorCategory.AUTHENTICATION
    assert errors  # prewarm at setup() already failed
    assert not tts.is_usable
    assert lines and not [line for line in lines if secret in line]
    assert secret not in str(error.error)


# -- import hygiene: the adapter maps; the protocol lives in smallest_core -------------

WIRE_LITERALS = {
    "continue",
    "flush",
    "context_id",
    "request_id",
    "status",
    "chunk",
    "complete",
    "error",
    "cancel_request",
    "word_timestamp",
    "voice_id",
    "sample_rate",
    "external_request_id",
    "Authorization",
    "Bearer",
    # Pulse STT messages and fields
    "finalize",
    "close_stream",
    "keepalive",
    "transcript",
    "is_final",
    "is_last",
    "from_finalize",
    "speech_started",
}
FORBIDDEN_MODULES = {"websockets", "httpx", "aiohttp", "json"}


def _sources() -> list[tuple[Path, ast.Module]]:
    files = sorted(PACKAGE.glob("*.py"))
    assert {p.name for p in files} >= {"__init__.py", "tts.py", "stt.py", "_errors.py", "log.py"}
    return [(p, parse(p.read_text())) for p in files]


def _docstrings(tree: ast.Module) -> set[int]:
    ids = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                ids.add(id(body[0].value))
    return ids


def test_imports_only_the_core_top_level_and_no_transport():
    for path, tree in _sources():
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                assert root not in FORBIDDEN_MODULES, f"{path.name} imports {name}"
                if root == "smallest_core":
                    assert name == "smallest_core", f"{path.name} imports core module {name}"


def test_no_wire_literals_no_sleep():
    for path, tree in _sources():
        docs = _docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str):
                if id(node) in docs:
                    continue
                assert node.value not in WIRE_LITERALS, f"{path.name}: {node.value!r}"
                assert "/waves" not in node.value, f"{path.name}: {node.value!r}"
            if isinstance(node, ast.Attribute | ast.Name):
                name = node.attr if isinstance(node, ast.Attribute) else node.id
                assert name != "sleep", f"{path.name} sleeps"


def test_public_surface():
    assert pipecat_smallest.__all__ == [
        "SmallestHttpSTTService",
        "SmallestHttpTTSService",
        "SmallestSTTService",
        "SmallestSTTSettings",
        "SmallestTTSService",
        "SmallestTTSSettings",
        "__version__",
    ]
    assert (PACKAGE / "py.typed").exists()


@pytest.mark.parametrize("service", [SmallestTTSService, SmallestHttpTTSService])
def test_store_settings_are_complete(service: type) -> None:
    """Pipecat checks store-mode settings at start and logs an ERROR for each field left
    NOT_GIVEN (``content_filter`` was, on every start, with or without settings)."""
    errors: list[str] = []
    sink = logger.add(errors.append, level="ERROR", format="{message}")
    try:
        for settings in (None, service.Settings(speed=1.2)):
            service(api_key="k", settings=settings)._settings.validate_complete()
    finally:
        logger.remove(sink)
    assert errors == []
