"""Helpers the adapters share instead of each restating protocol knowledge: follow-on
request ids, language tags, the silence deadline, and word-aligned transcripts."""

from __future__ import annotations

import inspect

import pytest

from smallest_core import (
    FINISH_TIMEOUT_S,
    ConnectionPool,
    InvalidOptionError,
    StreamConnection,
    TranscriptAligner,
    TTSOptions,
    finish_timeout_within,
    follow_on_request_id,
    language_code,
)


def test_follow_on_ids_name_their_caller_and_stay_valid():
    assert follow_on_request_id("ctx-1", 1) == "ctx-1"
    assert follow_on_request_id("ctx-1", 2) == "ctx-1.2"
    assert follow_on_request_id("ctx-1", 12) == "ctx-1.12"
    long = "a" * 128
    assert follow_on_request_id(long, 3) == "a" * 126 + ".3"
    with pytest.raises(InvalidOptionError, match="request_id"):
        follow_on_request_id("no spaces", 2)
    with pytest.raises(InvalidOptionError, match="n=0"):
        follow_on_request_id("ctx", 0)


class _Tag:
    def __init__(self, value: str) -> None:
        self.value = value


@pytest.mark.parametrize(
    ("given", "code"),
    [("en-US", "en"), ("hi_IN", "hi"), ("EN", "en"), ("auto", "auto"), (_Tag("fr-CA"), "fr")],
)
def test_regional_tags_become_protocol_codes(given, code):
    assert language_code(given) == code
    TTSOptions(language=code)


def test_unknown_languages_are_left_for_the_options_to_refuse():
    assert language_code("cy-GB") == "cy-GB"
    assert language_code(None) is None
    with pytest.raises(InvalidOptionError, match="language='cy-GB'"):
        TTSOptions(language=language_code("cy-GB"))  # type: ignore[arg-type]


def test_the_silence_deadline_is_the_cores_default_or_within_the_callers_limit():
    for method in (ConnectionPool.utterance, StreamConnection.utterance):
        default = inspect.signature(method).parameters["finish_timeout"].default
        assert default == FINISH_TIMEOUT_S  # the constant is the transport's default
    assert finish_timeout_within(3.0) == pytest.approx(2.4)
    assert finish_timeout_within(60.0) == FINISH_TIMEOUT_S
    with pytest.raises(ValueError, match="positive"):
        finish_timeout_within(0)


def test_pieces_end_at_each_word_and_add_up_to_the_sent_text():
    aligner = TranscriptAligner()
    aligner.sent("Hello, world!  It's ")
    aligner.sent("3.14 o'clock. ")
    pieces = [aligner.word(w) for w in ("Hello", "world", "It's", "3.14", "o'clock")]
    assert pieces == ["Hello", ", world", "!  It's", " 3.14", " o'clock"]
    assert aligner.rest() == ". "
    assert "".join(pieces) + ". " == aligner.text
    assert aligner.rest() == ""


def test_a_word_not_sent_verbatim_takes_one_token_not_the_rest():
    aligner = TranscriptAligner()
    aligner.sent("Dr. Smith arrives")
    assert aligner.word("Doctor") == "Dr."  # normalised by the server: next token
    assert aligner.word("Smith") == " Smith"
    assert aligner.word("") == " arrives"  # an empty word still advances one token
    assert aligner.word("late") == ""  # nothing left to cover
    assert aligner.rest() == ""
