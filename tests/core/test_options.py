"""TTSOptions, catalog_model and validate_request_id: bad input fails locally, with a message
that names the field, the value and what is allowed (PROTOCOL.md §1, §2, §5.2, §12)."""

from __future__ import annotations

import dataclasses
import math

import pytest

from smallest_core.errors import InvalidOptionError, SmallestError
from smallest_core.options import (
    LANGUAGES,
    MODELS,
    OUTPUT_FORMATS,
    SAMPLE_RATES,
    TTSOptions,
    catalog_model,
    default_voice,
    validate_request_id,
)


class TestDefaults:
    """DESIGN.md "The core" and PROTOCOL.md §11: the defaults both official clients use."""

    def test_defaults_are_the_pro_model_meher_24k_english_pcm(self):
        opts = TTSOptions()
        assert (opts.model, opts.voice_id, opts.sample_rate) == (
            "lightning_v3.1_pro",
            "meher",
            24000,
        )
        assert (opts.speed, opts.language, opts.output_format) == (1.0, "en", "pcm")
        assert opts.word_timestamps is False
        assert opts.pronunciation_dicts == ()

    def test_default_complete_backoff_is_small(self):
        # §5.4: the server's 4000 ms default would hold every utterance open for 4 s.
        assert TTSOptions().complete_backoff_ms == 50

    def test_optional_fields_default_to_none_so_they_are_omitted(self):
        opts = TTSOptions()
        for name in (
            "number_pronunciation_language",
            "math_notation",
            "max_buffer_flush_ms",
            "max_buffer_delay_ms",
            "session_id",
        ):
            assert getattr(opts, name) is None, name


class TestValueSets:
    """§2: the enums, copied once into options.py."""

    def test_language_enum_has_32_codes_including_auto(self):
        assert len(LANGUAGES) == 32 and len(set(LANGUAGES)) == 32
        assert "auto" in LANGUAGES and "no" in LANGUAGES and "or" in LANGUAGES

    def test_models_use_the_tts_underscore_spelling(self):
        assert MODELS == ("lightning_v3.1", "lightning_v3.1_pro")

    def test_sample_rates_and_formats(self):
        assert SAMPLE_RATES == (8000, 16000, 24000, 44100)
        assert set(OUTPUT_FORMATS) == {"pcm", "mp3", "wav", "ulaw", "alaw"}

    @pytest.mark.parametrize("language", LANGUAGES)
    def test_every_language_is_accepted(self, language: str):
        assert TTSOptions(language=language, number_pronunciation_language=language)

    @pytest.mark.parametrize("rate", SAMPLE_RATES)
    def test_every_sample_rate_is_accepted(self, rate: int):
        assert TTSOptions(sample_rate=rate).sample_rate == rate  # type: ignore[arg-type]


class TestValidation:
    """Bad values fail on construction, before any network call."""

    def test_sample_rate_message_names_field_value_and_allowed_values(self):
        with pytest.raises(InvalidOptionError) as info:
            TTSOptions(sample_rate=22050)  # type: ignore[arg-type]
        assert str(info.value) == (
            "sample_rate=22050 is not supported; allowed: 8000, 16000, 24000, 44100"
        )
        assert (info.value.field, info.value.value) == ("sample_rate", 22050)

    @pytest.mark.parametrize(
        ("field", "value", "allowed_fragment"),
        [
            ("model", "lightning-v3.1-pro", "lightning_v3.1, lightning_v3.1_pro"),
            ("model", "lightning_v2", "lightning_v3.1_pro"),
            ("voice_id", "", "voice id"),
            ("voice_id", "   ", "voice id"),
            ("voice_id", None, "voice id"),
            ("sample_rate", True, "44100"),
            ("sample_rate", 8000.0, "8000"),
            ("sample_rate", "24000", "24000"),
            ("speed", 0.49, "0.5..2.0"),
            ("speed", 2.01, "0.5..2.0"),
            ("speed", math.nan, "0.5..2.0"),
            ("speed", math.inf, "0.5..2.0"),
            ("speed", "1.0", "0.5..2.0"),
            ("speed", True, "0.5..2.0"),
            ("language", "xx", "auto, en, hi"),
            ("language", "EN", "auto, en"),
            ("number_pronunciation_language", "klingon", "auto, en"),
            ("math_notation", "yes", "True, False, None"),
            ("word_timestamps", 1, "True, False"),
            ("word_timestamps", None, "True, False"),
            ("output_format", "flac", "pcm"),
            ("output_format", "PCM", "pcm"),
            ("pronunciation_dicts", "dict-1", "tuple of non-empty"),
            ("pronunciation_dicts", ("ok", ""), "tuple of non-empty"),
            ("pronunciation_dicts", (1,), "tuple of non-empty"),
            ("max_buffer_flush_ms", 1001, "0..1000"),
            ("max_buffer_flush_ms", -1, "0..1000"),
            ("max_buffer_flush_ms", 10.5, "0..1000"),
            ("max_buffer_flush_ms", True, "0..1000"),
            ("complete_backoff_ms", -1, "0..10000"),
            ("complete_backoff_ms", 10001, "0..10000"),
            ("complete_backoff_ms", None, "0..10000"),
            ("max_buffer_delay_ms", 5001, "0..5000"),
            ("max_buffer_delay_ms", False, "0..5000"),
            ("session_id", "has space", "A-Z a-z 0-9"),
            ("session_id", "x" * 129, "1-128"),
            ("session_id", "", "1-128"),
        ],
    )
    def test_bad_value_names_field_and_allowed(self, field: str, value: object, allowed_fragment):
        with pytest.raises(InvalidOptionError) as info:
            TTSOptions(**{field: value})  # type: ignore[arg-type]
        message = str(info.value)
        assert message.startswith(f"{field}=")
        assert allowed_fragment in message
        assert info.value.field == field

    def test_invalid_option_error_is_a_value_error_and_a_smallest_error(self):
        with pytest.raises(ValueError, match="speed"):
            TTSOptions(speed=9)
        assert issubclass(InvalidOptionError, SmallestError)
        assert InvalidOptionError.retryable is False

    def test_boundaries_are_inclusive(self):
        assert TTSOptions(speed=0.5, max_buffer_flush_ms=0, complete_backoff_ms=0)
        assert TTSOptions(speed=2.0, max_buffer_flush_ms=1000, complete_backoff_ms=10000)
        assert TTSOptions(max_buffer_delay_ms=0) and TTSOptions(max_buffer_delay_ms=5000)

    def test_integer_speed_is_accepted_and_stored_as_float(self):
        opts = TTSOptions(speed=2)
        assert opts.speed == 2.0 and isinstance(opts.speed, float)

    def test_pronunciation_dict_list_becomes_a_tuple_so_options_stay_hashable(self):
        opts = TTSOptions(pronunciation_dicts=["a", "b"])  # type: ignore[arg-type]
        assert opts.pronunciation_dicts == ("a", "b")
        assert hash(opts) == hash(TTSOptions(pronunciation_dicts=("a", "b")))

    def test_language_may_be_omitted(self):
        assert TTSOptions(language=None).language is None

    def test_options_are_keyword_only(self):
        with pytest.raises(TypeError):
            TTSOptions("lightning_v3.1")  # type: ignore[misc]


class TestReplace:
    """Each utterance takes its own copy; a copy is validated like a new one."""

    def test_replace_returns_a_changed_copy_and_keeps_the_original(self):
        base = TTSOptions()
        fast = base.replace(speed=1.5, voice_id="liam")
        assert (fast.speed, fast.voice_id) == (1.5, "liam")
        assert (base.speed, base.voice_id) == (1.0, "meher")

    def test_replace_validates(self):
        with pytest.raises(InvalidOptionError, match=r"sample_rate=11025"):
            TTSOptions().replace(sample_rate=11025)

    def test_replace_rejects_unknown_fields_naming_the_known_ones(self):
        with pytest.raises(InvalidOptionError, match=r"voice=.*is not an option.*voice_id"):
            TTSOptions().replace(voice="liam")

    def test_options_are_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            TTSOptions().speed = 2.0  # type: ignore[misc]


class TestCatalogModel:
    """§1: TTS bodies use underscores, the voice catalog and cloning use hyphens."""

    @pytest.mark.parametrize(
        ("given", "expected"),
        [
            ("lightning_v3.1", "lightning-v3.1"),
            ("lightning_v3.1_pro", "lightning-v3.1-pro"),
            ("lightning-v3.1", "lightning-v3.1"),
            ("lightning-v3.1-pro", "lightning-v3.1-pro"),
        ],
    )
    def test_either_spelling_maps_to_the_catalog_spelling(self, given: str, expected: str):
        assert catalog_model(given) == expected

    def test_unknown_model_is_rejected_with_the_allowed_spellings(self):
        with pytest.raises(InvalidOptionError, match=r"model='lightning-large'.*lightning-v3\.1"):
            catalog_model("lightning-large")


def test_each_model_has_the_default_voice_the_official_integrations_pick():
    assert default_voice("lightning_v3.1_pro") == "meher" == TTSOptions().voice_id
    assert default_voice("lightning_v3.1") == "sophia"
    for model in MODELS:
        TTSOptions(model=model, voice_id=default_voice(model))
    with pytest.raises(InvalidOptionError, match=r"model='lightning-v3.1'.*allowed"):
        default_voice("lightning-v3.1")


class TestRequestIds:
    """§2: ``^[a-zA-Z0-9_\\-.]+$``, at most 128 characters."""

    @pytest.mark.parametrize("rid", ["a", "u-1", "A.b_c-9", "x" * 128])
    def test_valid_ids_are_returned_unchanged(self, rid: str):
        assert validate_request_id(rid) == rid

    @pytest.mark.parametrize("rid", ["", "a b", "é", "a/b", "x" * 129, "ok\n", 12, None])
    def test_invalid_ids_are_rejected(self, rid: object):
        with pytest.raises(InvalidOptionError, match=r"^request_id="):
            validate_request_id(rid)

    def test_field_name_is_configurable(self):
        with pytest.raises(InvalidOptionError, match=r"^context_id="):
            validate_request_id("no way", field="context_id")
