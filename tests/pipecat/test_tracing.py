"""Pipecat's tracing sees our TTS: both services' ``run_tts`` are ``@traced_tts``, as
Pipecat's own services are, so each spoken context is one ``tts`` span."""

from __future__ import annotations

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from pipecat.frames.frames import TTSSpeakFrame

from tests.support.pipecat import running

_EXPORTER = InMemorySpanExporter()


@pytest.fixture
def spans() -> InMemorySpanExporter:
    """Pipecat traces through OpenTelemetry's global provider, which can be set once per
    process: ours, exporting to one in-memory exporter, emptied for each test."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        provider = TracerProvider()
        provider.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(provider)
    assert isinstance(trace.get_tracer_provider(), TracerProvider)
    _EXPORTER.clear()
    return _EXPORTER


@pytest.mark.parametrize("kind", ["streaming", "http"])
async def test_each_spoken_context_is_a_tts_span(make_tts, make_http_tts, spans, kind):
    tts = make_tts() if kind == "streaming" else make_http_tts()
    async with running(tts, tracing=True) as run:
        await run.send(TTSSpeakFrame("Hello there."), TTSSpeakFrame("Goodbye now."))
        await run.turns_done(2)
    tts_spans = [s for s in spans.get_finished_spans() if s.name == "tts"]
    assert sorted(str((s.attributes or {}).get("text")).strip() for s in tts_spans) == [
        "Goodbye now.",
        "Hello there.",
    ]
    for span in tts_spans:
        attributes = span.attributes or {}
        assert str(attributes.get("gen_ai.provider.name")).startswith("smallest")
        assert attributes.get("gen_ai.request.model") == "lightning_v3.1_pro"
        assert attributes.get("voice_id") == "meher"
