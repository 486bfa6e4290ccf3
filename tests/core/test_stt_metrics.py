"""STTMetrics: audio seconds sent, last audio → final latency, finals count; fake clock."""

from __future__ import annotations

import pytest

from smallest_core.metrics import STTMetrics


class FakeClock:
    """A clock the test moves by hand, so timing tests never sleep."""

    def __init__(self, now: float = 50.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_latency_is_from_the_last_audio_to_the_next_final() -> None:
    clock = FakeClock()
    metrics = STTMetrics(sample_rate=16000, clock=clock)
    metrics.on_audio(16000)  # 0.5 s
    clock.now += 0.5
    metrics.on_audio(16000)
    clock.now += 0.3
    metrics.on_final()
    clock.now += 0.2
    metrics.on_final()  # a rollover final: no new audio, no new latency figure
    metrics.on_audio(3200)
    clock.now += 0.15
    metrics.on_final()
    metrics.on_end()
    assert metrics.audio_seconds == pytest.approx(1.1)
    assert metrics.finals == 3
    assert metrics.final_latencies == pytest.approx([0.3, 0.15])
    assert metrics.final_latency == pytest.approx(0.15)
    assert metrics.started_at == 50.0 and metrics.ended_at == pytest.approx(51.15)
    assert metrics.as_dict() == {
        "session_id": None,
        "audio_bytes": 35200,
        "audio_seconds": pytest.approx(1.1),
        "finals": 3,
        "final_latency": pytest.approx(0.15),
    }


def test_nothing_measured_yet_and_unknown_width() -> None:
    metrics = STTMetrics(sample_rate=48000, sample_width=None, clock=FakeClock())
    metrics.on_audio(0)
    metrics.on_final()
    assert metrics.started_at is None and metrics.final_latency is None
    metrics.on_audio(500)  # Opus: bytes counted, seconds unknown
    assert metrics.audio_bytes == 500 and metrics.audio_seconds == 0.0


def test_bad_values_are_refused() -> None:
    with pytest.raises(ValueError, match="sample_rate"):
        STTMetrics(sample_rate=0)
    with pytest.raises(ValueError, match="sample_width"):
        STTMetrics(sample_rate=16000, sample_width=0)
    with pytest.raises(ValueError, match="n_bytes"):
        STTMetrics(sample_rate=16000).on_audio(-1)
