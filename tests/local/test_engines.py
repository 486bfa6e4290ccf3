"""The local server's speech engines: the tone engine's attribution and the espeak engine."""

from __future__ import annotations

import zlib
from concurrent.futures import ThreadPoolExecutor
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallest_local.engines import (
    ENGINE_NAMES,
    EspeakEngine,
    Synthesis,
    ToneEngine,
    decode_tone,
    describe,
    get_engine,
    tag_value,
)
from smallest_local.engines.espeak import (
    DEFAULT_VOICE,
    ENGLISH_VARIANTS,
    KNOWN_VOICE_IDS,
    _align_words,
    espeak_voice,
    words_per_minute,
)

RATES = (8000, 16000, 24000, 44100)


def _samples(synthesis: Synthesis) -> np.ndarray:
    return np.frombuffer(synthesis.pcm, dtype="<i2")


def _check_words(synthesis: Synthesis, text: str) -> None:
    """Words are the verbatim whitespace tokens, contiguous, ending with the audio."""
    words = synthesis.words
    assert [w.word for w in words] == text.split()
    position = 0
    for w in words:  # each is the next verbatim substring of the input
        position = text.index(w.word, position) + len(w.word)
    for w, following in pairwise(words):
        assert 0.0 <= w.start <= w.end == following.start
    if words:
        assert words[-1].end == pytest.approx(synthesis.duration)


# --- tone engine -------------------------------------------------------------------


def test_tag_value_is_stable_15_bit_and_never_zero() -> None:
    assert tag_value("req-1") == zlib.crc32(b"req-1") % 32767 + 1
    for tag in ("", "a", "req-1", "ctx_9", "π", "x" * 128):
        assert 1 <= tag_value(tag) <= 32767
    assert tag_value("req-1") != tag_value("req-2")


def test_tone_is_deterministic() -> None:
    engine = ToneEngine()
    first = engine.synthesize("hello there world", voice_id="a", sample_rate=16000, tag="r1")
    again = ToneEngine().synthesize("hello there world", voice_id="b", sample_rate=16000, tag="r1")
    assert first == again


def test_tone_every_pair_carries_tag_and_counter() -> None:
    synthesis = ToneEngine().synthesize("one two three", voice_id="v", sample_rate=8000, tag="r1")
    pairs = decode_tone(synthesis.pcm)
    assert len(pairs) * 4 == len(synthesis.pcm)
    assert {tag for tag, _ in pairs} == {tag_value("r1")}
    assert [counter for _, counter in pairs] == list(range(len(pairs)))
    assert describe(synthesis.pcm) == {tag_value("r1"): [(0, len(pairs))]}


def test_tone_two_requests_are_told_apart_when_interleaved() -> None:
    engine = ToneEngine()
    a = engine.synthesize("a b c", voice_id="v", sample_rate=16000, tag="req-a").pcm
    b = engine.synthesize("d e", voice_id="v", sample_rate=16000, tag="req-b").pcm
    assert tag_value("req-a") != tag_value("req-b")
    chunk = 400  # bytes, a whole number of pairs
    mixed = b"".join(a[i : i + chunk] + b[i : i + chunk] for i in range(0, len(a), chunk))
    assert describe(mixed) == {
        tag_value("req-a"): [(0, len(a) // 4)],
        tag_value("req-b"): [(0, len(b) // 4)],
    }


def test_tone_describe_exposes_loss_duplication_and_reordering() -> None:
    pcm = ToneEngine().synthesize("a b", voice_id="v", sample_rate=8000, tag="t").pcm
    value, n = tag_value("t"), len(pcm) // 4
    lost = pcm[:400] + pcm[800:]
    assert describe(lost) == {value: [(0, 100), (200, n - 200)]}
    duplicated = pcm[:400] + pcm[:400] + pcm[400:]
    assert describe(duplicated) == {value: [(0, 100), (0, n)]}
    swapped = pcm[400:800] + pcm[:400] + pcm[800:]
    assert describe(swapped) == {value: [(100, 100), (0, 100), (200, n - 200)]}
    with pytest.raises(ValueError, match="multiple of 4"):
        decode_tone(pcm[:-2])


def describe_pair_by_pair(pcm: bytes) -> dict[int, list[tuple[int, int]]]:
    """``describe``'s definition, one pair at a time: each tag's counters, in the order
    they occur, split where a counter does not follow the tag's previous one."""
    runs: dict[int, list[tuple[int, int]]] = {}
    last: dict[int, int] = {}
    for tag, counter in decode_tone(pcm):
        tag_runs = runs.setdefault(tag, [])
        if tag in last and counter == (last[tag] + 1) & 0x7FFF:
            tag_runs[-1] = (tag_runs[-1][0], tag_runs[-1][1] + 1)
        else:
            tag_runs.append((counter, 1))
        last[tag] = counter
    return runs


# Pairs drawn from few tags and counters near each other (so runs, interleavings, wraps
# and repeats are common), or any 16-bit values at all (negative ones included).
_NEAR = st.tuples(st.sampled_from([1, 2, 32767]), st.sampled_from([0, 1, 2, 3, 32766, 32767]))
_ANY = st.tuples(st.integers(-32768, 32767), st.integers(-32768, 32767))


@given(st.lists(st.one_of(_NEAR, _ANY), max_size=60))
def test_tone_describe_is_its_pair_by_pair_definition(pairs: list[tuple[int, int]]) -> None:
    pcm = np.array(pairs, dtype="<i2").reshape(-1, 2).tobytes()
    described, defined = describe(pcm), describe_pair_by_pair(pcm)
    assert described == defined
    assert list(described) == list(defined)  # first-appearance order


def test_tone_counter_wraps_at_15_bits_and_stays_contiguous() -> None:
    text = " ".join(["word"] * 8)  # 8 × 4410 pairs at 44.1 kHz > 32768
    pcm = ToneEngine().synthesize(text, voice_id="v", sample_rate=44100, tag="long").pcm
    pairs = decode_tone(pcm)
    assert len(pairs) == 8 * 4410
    assert pairs[32767][1] == 32767 and pairs[32768][1] == 0
    assert describe(pcm) == {tag_value("long"): [(0, len(pairs))]}


@pytest.mark.parametrize("sample_rate", RATES)
@pytest.mark.parametrize("speed", [0.5, 1.0, 1.3, 2.0])
def test_tone_duration_follows_words_and_speed(sample_rate: int, speed: float) -> None:
    text = "the quick  brown\tfox"
    synthesis = ToneEngine().synthesize(
        text, voice_id="v", sample_rate=sample_rate, speed=speed, tag="d"
    )
    assert synthesis.sample_rate == sample_rate
    assert len(synthesis.pcm) % 4 == 0
    expected = 4 * 0.200 / speed
    # Each word is rounded to whole pairs: at most one sample off per word.
    assert synthesis.duration == pytest.approx(expected, abs=4 / sample_rate)
    _check_words(synthesis, text)
    per_word = synthesis.duration / 4
    for i, w in enumerate(synthesis.words):
        assert w.start == pytest.approx(i * per_word)
        assert w.end == pytest.approx((i + 1) * per_word)


def test_tone_word_ms_and_empty_text() -> None:
    engine = ToneEngine(word_ms=50)
    assert engine.synthesize("a b", voice_id="v", sample_rate=8000).duration == 0.1
    for text in ("", "   ", "\n\t"):
        empty = engine.synthesize(text, voice_id="v", sample_rate=8000, tag="x")
        assert empty == Synthesis(pcm=b"", sample_rate=8000, words=[])
    with pytest.raises(ValueError):
        engine.synthesize("a", voice_id="v", sample_rate=8000, speed=0)
    with pytest.raises(ValueError):
        ToneEngine(word_ms=0)


def test_tone_words_are_verbatim() -> None:
    text = "  It costs $100, café 25th —  नमस्ते!  "
    synthesis = ToneEngine().synthesize(text, voice_id="v", sample_rate=24000)
    _check_words(synthesis, text)
    assert [w.word for w in synthesis.words][2:5] == ["$100,", "café", "25th"]


# --- get_engine --------------------------------------------------------------------


def test_get_engine_by_name() -> None:
    assert ENGINE_NAMES == ("espeak", "tone")
    assert isinstance(get_engine("espeak"), EspeakEngine)
    assert isinstance(get_engine("tone"), ToneEngine)
    assert get_engine("tone").name == "tone" and get_engine("espeak").name == "espeak"
    with pytest.raises(ValueError, match="espeak, tone") as info:
        get_engine("polly")
    assert "polly" in str(info.value)


# --- espeak engine -----------------------------------------------------------------


@pytest.fixture(scope="module")
def espeak() -> EspeakEngine:
    return EspeakEngine()


SENTENCE = "Please call me back tomorrow morning about the order."


def test_espeak_speaks_at_every_rate_with_consistent_timing(espeak: EspeakEngine) -> None:
    results = {
        rate: espeak.synthesize(SENTENCE, voice_id="magnus", sample_rate=rate) for rate in RATES
    }
    reference = results[24000]
    assert 2.0 < reference.duration < 6.0
    for rate, synthesis in results.items():
        samples = _samples(synthesis).astype(np.float64)
        assert synthesis.sample_rate == rate
        assert np.sqrt(np.mean(samples**2)) > 500, f"silent at {rate} Hz"
        assert synthesis.duration == pytest.approx(reference.duration, abs=0.02)
        _check_words(synthesis, SENTENCE)
        # Word times are in seconds and survive resampling: same starts at every rate.
        for w, ref in zip(synthesis.words, reference.words, strict=True):
            assert w.start == pytest.approx(ref.start, abs=0.02)


def test_espeak_speed_changes_duration(espeak: EspeakEngine) -> None:
    slow = espeak.synthesize(SENTENCE, voice_id="magnus", sample_rate=16000, speed=0.5)
    normal = espeak.synthesize(SENTENCE, voice_id="magnus", sample_rate=16000, speed=1.0)
    fast = espeak.synthesize(SENTENCE, voice_id="magnus", sample_rate=16000, speed=2.0)
    assert fast.duration < normal.duration < slow.duration
    assert fast.duration < 0.5 * slow.duration
    assert [words_per_minute(s) for s in (0.1, 0.5, 0.8, 1.0, 2.0, 5.0)] == [
        80,
        88,
        140,
        175,
        350,
        450,
    ]


def test_espeak_word_timings_are_monotonic_and_each_word_has_time(espeak: EspeakEngine) -> None:
    text = "The quick brown fox jumps over the lazy dog."
    synthesis = espeak.synthesize(text, voice_id="magnus", sample_rate=24000)
    _check_words(synthesis, text)
    assert synthesis.words[0].start == 0.0
    assert all(w.end - w.start > 0.05 for w in synthesis.words)


@pytest.mark.parametrize(
    ("text", "language"),
    [
        ("café 25th $100", None),
        ("It costs $100 on the 25th, naïve déjà vu.", "en"),
        ("naïve café, déjà vu: 3.5 kg at 10:30 on 2024-01-05 — okay?", None),
        ("  😀 hi   there\t𝔸\nok  ", None),
        ("नमस्ते दुनिया, आप कैसे हैं?", "hi"),
        ("¿Dónde está la estación?", "es"),
        ("hello\0world and more", None),
    ],
)
def test_espeak_words_are_verbatim_substrings(
    espeak: EspeakEngine, text: str, language: str | None
) -> None:
    synthesis = espeak.synthesize(text, voice_id="avery", sample_rate=16000, language=language)
    assert synthesis.duration > 0.3
    _check_words(synthesis, text)


def test_espeak_non_ascii_words_map_to_their_own_audio(espeak: EspeakEngine) -> None:
    # text_position counts code points, so "25th" and "$100" after "café" must start
    # well inside the audio, in order, each with room for its spoken expansion.
    synthesis = espeak.synthesize("café 25th $100", voice_id="magnus", sample_rate=24000)
    cafe, nth, dollars = synthesis.words
    assert (cafe.word, nth.word, dollars.word) == ("café", "25th", "$100")
    assert 0.0 == cafe.start < nth.start < dollars.start < synthesis.duration
    assert nth.end - nth.start > 0.3 and dollars.end - dollars.start > 0.5


@pytest.mark.parametrize("text", ["", " ", "\n\t  "])
def test_espeak_empty_text_gives_empty_synthesis(espeak: EspeakEngine, text: str) -> None:
    synthesis = espeak.synthesize(text, voice_id="magnus", sample_rate=24000)
    assert synthesis == Synthesis(pcm=b"", sample_rate=24000, words=[])


def test_espeak_concurrent_calls_do_not_mix(espeak: EspeakEngine) -> None:
    jobs = [
        (f"request number {i} says {word}", rate, speed, voice)
        for i, (word, rate, speed, voice) in enumerate(
            [
                ("apples", 8000, 1.0, "magnus"),
                ("bananas and cherries", 16000, 1.5, "voice_x1"),
                ("one two three four five six", 24000, 0.7, "sophia"),
                ("hello", 44100, 2.0, "custom-voice"),
            ]
            * 4
        )
    ]

    def run(job: tuple[str, int, float, str]) -> Synthesis:
        text, rate, speed, voice = job
        return espeak.synthesize(text, voice_id=voice, sample_rate=rate, speed=speed)

    sequential = [run(job) for job in jobs]
    with ThreadPoolExecutor(max_workers=8) as pool:
        concurrent = list(pool.map(run, jobs))
    for (text, rate, _, _), alone, together in zip(jobs, sequential, concurrent, strict=True):
        assert together.sample_rate == rate
        _check_words(together, text)
        # espeak's pitch flutter/phase state carries over between calls (statics in its
        # wavegen), so audio is not bit-identical and boundaries move by up to about a
        # pitch period (12 ms seen); a mixed-up result would be off by far more.
        assert together.duration == pytest.approx(alone.duration, abs=0.03)
        for w, ref in zip(together.words, alone.words, strict=True):
            assert w.start == pytest.approx(ref.start, abs=0.03)


def test_espeak_voice_mapping_is_deterministic() -> None:
    for voice_id in KNOWN_VOICE_IDS | {"", "Magnus"}:
        assert espeak_voice(voice_id) == DEFAULT_VOICE
    others = [f"voice_{i}" for i in range(40)]
    picked = [espeak_voice(v) for v in others]
    assert picked == [espeak_voice(v) for v in others]
    assert set(picked) == set(ENGLISH_VARIANTS)
    assert espeak_voice("magnus", "hi") == "hi"
    assert espeak_voice("magnus", "zh") == "cmn"
    assert espeak_voice("magnus", "no") == "nb"
    assert espeak_voice("magnus", "es-MX") == "es"
    for language in ("en", "auto", "xx", None):
        assert espeak_voice("magnus", language) == DEFAULT_VOICE


def test_espeak_voice_ids_change_the_voice(espeak: EspeakEngine) -> None:
    by_variant: dict[str, Synthesis] = {}
    for voice_id in (f"voice_{i}" for i in range(40)):
        variant = espeak_voice(voice_id)
        if variant not in by_variant:
            by_variant[variant] = espeak.synthesize("hello", voice_id=voice_id, sample_rate=8000)
    assert len(by_variant) == len(ENGLISH_VARIANTS)
    assert len({s.pcm for s in by_variant.values()}) == len(ENGLISH_VARIANTS)


def test_align_words_uses_events_as_anchors() -> None:
    # Events per token; positions are 1-based code points; extra events inside a
    # token (numbers read as several words) only keep its earliest sample.
    text = "x 2024 y"
    events = [(1, 0), (3, 600), (4, 900), (4, 1200), (8, 2000)]
    assert _align_words(text, events, 3000) == [("x", 0), ("2024", 600), ("y", 2000)]
    # Tokens espeak skipped share the span up to the next anchor by character count,
    # together with the token before them.
    assert _align_words("déjà vu", [(1, 0), (2, 500)], 600) == [("déjà", 0), ("vu", 400)]
    assert _align_words("a — b", [(1, 0), (5, 300)], 400) == [("a", 0), ("—", 150), ("b", 300)]
    # No events at all: spread by length over the whole audio.
    assert _align_words(" ab cd ", [], 100) == [("ab", 0), ("cd", 50)]
    # Out-of-order samples never make starts go backwards.
    assert _align_words("a b c", [(1, 0), (3, 500), (5, 400)], 900) == [
        ("a", 0),
        ("b", 500),
        ("c", 500),
    ]
