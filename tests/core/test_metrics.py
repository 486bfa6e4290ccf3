"""UtteranceMetrics: time to first audio, audio duration, real-time factor; fake clock."""

from __future__ import annotations

import pytest

from smallest_core.metrics import UtteranceMetrics


class FakeClock:
    """A clock the test moves by hand, so timing tests never sleep."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_full_utterance_figures() -> None:
    clock = FakeClock()
    metrics = UtteranceMetrics(request_id="r1", sample_rate=16000, clock=clock)
    metrics.on_text(12)
    clock.now += 0.25
    metrics.on_text(30)
    clock.now += 0.05
    metrics.on_audio(16000)  # 0.5 s of s16le
    clock.now += 0.2
    metrics.on_audio(16000)
    clock.now += 0.1
    metrics.on_end()

    assert metrics.characters == 42
    assert metrics.started_at == 100.0
    assert metrics.ttfa == pytest.approx(0.3)
    assert metrics.audio_bytes == 32000
    assert metrics.audio_duration == 1.0
    assert metrics.real_time_factor == pytest.approx(0.6)
    assert metrics.as_dict() == {
        "request_id": "r1",
        "characters": 42,
        "audio_bytes": 32000,
        "sample_rate": 16000,
        "audio_duration": 1.0,
        "ttfa": pytest.approx(0.3),
        "real_time_factor": pytest.approx(0.6),
    }


def test_figures_are_none_until_known() -> None:
    clock = FakeClock()
    metrics = UtteranceMetrics(request_id="r2", sample_rate=24000, clock=clock)
    assert (metrics.ttfa, metrics.real_time_factor, metrics.audio_duration) == (None, None, 0.0)
    metrics.on_text(5)
    metrics.on_end()
    assert metrics.ttfa is None
    assert metrics.real_time_factor is None  # no audio: no ratio


def test_empty_audio_chunk_does_not_mark_first_audio() -> None:
    clock = FakeClock()
    metrics = UtteranceMetrics(request_id="r3", sample_rate=8000, clock=clock)
    metrics.on_text(1)
    clock.now += 1.0
    metrics.on_audio(0)
    clock.now += 1.0
    metrics.on_audio(2)
    assert metrics.ttfa == pytest.approx(2.0)


def test_first_end_wins() -> None:
    clock = FakeClock()
    metrics = UtteranceMetrics(request_id="r4", sample_rate=8000, clock=clock)
    metrics.on_end()
    clock.now += 5
    metrics.on_end()
    assert metrics.ended_at == 100.0


def test_explicit_start_is_kept() -> None:
    clock = FakeClock(now=10.0)
    metrics = UtteranceMetrics(request_id="r5", sample_rate=8000, started_at=9.0, clock=clock)
    metrics.on_text(3)
    metrics.on_audio(100)
    assert metrics.ttfa == pytest.approx(1.0)


def test_g711_sample_width() -> None:
    metrics = UtteranceMetrics(request_id="r6", sample_rate=8000, sample_width=1, clock=FakeClock())
    metrics.on_audio(8000)
    assert metrics.audio_duration == 1.0


def test_default_clock_is_monotonic_seconds() -> None:
    metrics = UtteranceMetrics(request_id="r7", sample_rate=16000)
    metrics.on_text(1)
    metrics.on_audio(2)
    assert metrics.ttfa is not None and metrics.ttfa >= 0.0


def test_clock_is_not_part_of_equality_or_repr() -> None:
    a = UtteranceMetrics(request_id="r", sample_rate=8000, clock=FakeClock())
    b = UtteranceMetrics(request_id="r", sample_rate=8000, clock=FakeClock(5.0))
    assert a == b
    assert "clock" not in repr(a)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"sample_rate": 0}, "sample_rate"),
        ({"sample_rate": 8000, "sample_width": 0}, "sample_width"),
    ],
)
def test_bad_construction_is_rejected(kwargs: dict[str, int], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        UtteranceMetrics(request_id="r", **kwargs)


def test_negative_counts_are_rejected() -> None:
    metrics = UtteranceMetrics(request_id="r", sample_rate=8000, clock=FakeClock())
    with pytest.raises(ValueError, match="n_chars"):
        metrics.on_text(-1)
    with pytest.raises(ValueError, match="n_bytes"):
        metrics.on_audio(-1)
