"""STTOptions and the query string: bad input fails locally with a message naming the field
and the allowed values; good input becomes the exact parameters of docs/stt.md §1.2/§1.6."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from smallest_core.errors import InvalidOptionError
from smallest_core.stt_codec import control_frame, stt_query, stt_ws_url
from smallest_core.stt_options import (
    BATCH_LANGUAGES,
    STREAMING_LANGUAGES,
    STT_ENCODINGS,
    STT_SAMPLE_RATES,
    STTOptions,
)
from smallest_core.stt_wire import STTType


class TestValueSets:
    """docs/stt.md §1.2-§1.5: the enums, copied once into stt_options.py."""

    def test_streaming_languages_are_the_21_codes_3_aggregators_and_multi(self):
        assert len(STREAMING_LANGUAGES) == 25 == len(set(STREAMING_LANGUAGES))
        assert {"north_indic", "multi-asian", "multi-south-indic", "multi", "yue"} <= set(
            STREAMING_LANGUAGES
        )

    def test_batch_languages_include_the_eu_and_indic_aggregators(self):
        assert {"multi-eu", "multi-indic", "multi-asian", "uk", "mt"} <= set(BATCH_LANGUAGES)
        assert "yue" not in BATCH_LANGUAGES

    def test_sample_rates_and_encodings(self):
        assert STT_SAMPLE_RATES == (8000, 16000, 22050, 24000, 44100, 48000)
        assert STT_ENCODINGS == ("linear16", "linear32", "alaw", "mulaw", "opus", "ogg_opus")


class TestValidation:
    """Each bad value is an InvalidOptionError naming the field and what is allowed."""

    @pytest.mark.parametrize(
        ("field", "value", "allowed"),
        [
            ("model", "pulse-3", "pulse, pulse-pro"),
            ("language", "xx", "multi-south-indic"),
            ("language", "EN", "north_indic"),
            ("sample_rate", 11025, "22050"),
            ("sample_rate", 16000.0, "16000"),
            ("sample_rate", True, "8000"),
            ("encoding", "pcm", "linear16, linear32, alaw, mulaw, opus, ogg_opus"),
            ("word_timestamps", "true", "True, False"),
            ("diarize", 1, "True, False"),
            ("punctuate", "no", "True, False, None"),
            ("eou_timeout_ms", 50, "100..10000"),
            ("eou_timeout_ms", 800.5, "an integer"),
            ("endpointing_timeout_ms", 20000, "100..10000"),
            ("max_words", 0, "1..10000"),
            ("session_id", "has space", "A-Z a-z 0-9"),
            ("keywords", "Pulse", "a tuple of terms"),
            ("keywords", ("a,b",), "without ','"),
            ("keywords", ("a:2",), "without ','"),
            ("keywords", ("",), "non-empty"),
        ],
    )
    def test_bad_value_names_field_and_allowed(self, field, value, allowed):
        with pytest.raises(InvalidOptionError) as info:
            STTOptions(**{field: value})
        assert info.value.field == field
        assert allowed in str(info.value)
        assert str(info.value).startswith(f"{field}=")

    def test_bad_boost_names_the_term(self):
        with pytest.raises(InvalidOptionError, match=r"keywords\['Pulse'\]=30 .*0 < boost <= 20"):
            STTOptions(keywords=(("Pulse", 30),))

    def test_keywords_normalise_to_term_boost_pairs(self):
        opts = STTOptions(keywords=["Smallest", ("Pulse", 2), " Waves "])
        assert opts.keywords == (("Smallest", 1.0), ("Pulse", 2.0), ("Waves", 1.0))
        assert STTOptions(keywords={"Pulse": 1.5}).keywords == (("Pulse", 1.5),)

    def test_frozen_and_replace_validates(self):
        opts = STTOptions()
        with pytest.raises(AttributeError):
            opts.language = "hi"  # type: ignore[misc]
        assert opts.replace(language="hi").language == "hi"
        assert opts.language == "en"
        with pytest.raises(InvalidOptionError, match="sample_rate=1 "):
            opts.replace(sample_rate=1)
        with pytest.raises(InvalidOptionError, match=r"languge=.* is not an option"):
            opts.replace(languge="hi")

    def test_streaming_refuses_pulse_pro_and_batch_only_languages(self):
        with pytest.raises(InvalidOptionError, match="model='pulse-pro' has no streaming"):
            STTOptions(model="pulse-pro").check_streaming()
        with pytest.raises(InvalidOptionError, match="language='multi-eu' is not available"):
            STTOptions(language="multi-eu").check_streaming()
        assert STTOptions(language="multi").check_streaming().language == "multi"

    def test_batch_refuses_streaming_only_languages_and_pro_outside_english(self):
        with pytest.raises(InvalidOptionError, match="language='yue'"):
            STTOptions(language="yue").check_batch()
        with pytest.raises(InvalidOptionError, match="with pulse-pro"):
            STTOptions(model="pulse-pro", language="hi").check_batch()
        assert STTOptions(model="pulse-pro").check_batch().model == "pulse-pro"

    def test_seconds_follow_the_encoding(self):
        assert STTOptions().seconds(32000) == 1.0
        assert STTOptions(encoding="mulaw", sample_rate=8000).seconds(4000) == 0.5
        assert STTOptions(encoding="linear32", sample_rate=48000).seconds(192000) == 1.0
        assert STTOptions(encoding="opus").seconds(1000) is None


class TestQuery:
    """docs/stt.md §1.2: booleans are exact lowercase strings, always explicit (D6)."""

    def test_defaults(self):
        assert dict(stt_query(STTOptions())) == {
            "model": "pulse",
            "language": "en",
            "sample_rate": "16000",
            "encoding": "linear16",
            "word_timestamps": "true",
            "diarize": "false",
            "redact_pii": "false",
            "redact_pci": "false",
            "sentence_timestamps": "false",
            "format": "true",
            "itn_normalize": "false",
            "endpointing": "true",
            "vad_events": "true",
        }

    def test_optional_values_and_keywords(self):
        opts = STTOptions(
            punctuate=False,
            capitalize=True,
            finalize_on_words=False,
            max_words=20,
            eou_timeout_ms=1200,
            endpointing_timeout_ms=300,
            session_id="call-7",
            keywords=("Smallest", ("Pulse", 2.5), ("Waves AI", 2)),
        )
        query = dict(stt_query(opts))
        assert query["punctuate"] == "false" and query["capitalize"] == "true"
        assert query["finalize_on_words"] == "false" and query["max_words"] == "20"
        assert query["eou_timeout_ms"] == "1200" and query["endpointing_timeout"] == "300"
        assert query["external_session_id"] == "call-7"
        assert query["keywords"] == "Smallest,Pulse:2.5,Waves AI:2"

    def test_batch_sends_only_documented_params_and_encoding_for_raw_audio(self):
        opts = STTOptions(vad_events=True, eou_timeout_ms=900)
        assert [k for k, _ in stt_query(opts, batch=True)] == [
            "model", "language", "word_timestamps", "diarize", "redact_pii", "redact_pci",
        ]  # fmt: skip
        raw = dict(stt_query(opts, batch=True, raw_audio=True))
        assert raw["encoding"] == "linear16" and raw["sample_rate"] == "16000"

    @pytest.mark.parametrize(
        "base",
        [
            "wss://api.smallest.ai",
            "https://api.smallest.ai/",
            "wss://api.smallest.ai/waves/v1",
            "wss://api.smallest.ai/waves/v1/stt/live?model=old",
        ],
    )
    def test_ws_url_for_any_base(self, base):
        url = stt_ws_url(base, STTOptions(language="hi"))
        parts = urlsplit(url)
        assert (parts.scheme, parts.netloc, parts.path) == (
            "wss",
            "api.smallest.ai",
            "/waves/v1/stt/live",
        )
        query = dict(parse_qsl(parts.query))
        assert query["model"] == "pulse" and query["language"] == "hi"

    def test_ws_url_local_http_and_legacy_path(self):
        url = stt_ws_url("http://127.0.0.1:8080", STTOptions(), path="/waves/v1/pulse/get_text")
        assert url.startswith("ws://127.0.0.1:8080/waves/v1/pulse/get_text?model=pulse&")

    def test_ws_url_refuses_bad_scheme_and_batch_only_options(self):
        with pytest.raises(InvalidOptionError, match="base_url="):
            stt_ws_url("ftp://x", STTOptions())
        with pytest.raises(InvalidOptionError, match="model="):
            stt_ws_url("wss://x", STTOptions(model="pulse-pro"))

    def test_keywords_with_spaces_are_url_encoded(self):
        url = stt_ws_url("wss://x", STTOptions(keywords=("Waves AI",)))
        assert "keywords=Waves+AI" in url


class TestControlFrames:
    """docs/stt.md §3 / D1: ``{"type": ...}`` frames, compact JSON."""

    @pytest.mark.parametrize("kind", ["finalize", "close_stream", "keepalive"])
    def test_control_frames(self, kind):
        assert control_frame(STTType(kind)) == f'{{"type":"{kind}"}}'

    def test_server_types_are_not_control_frames(self):
        with pytest.raises(InvalidOptionError, match="kind="):
            control_frame(STTType.PONG)
