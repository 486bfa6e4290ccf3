"""Text segmentation for TTS chunks (PROTOCOL.md §9.16: ≤250 characters, cut on punctuation)."""

from __future__ import annotations

import pytest

from smallest_core.segment import MAX_CHUNK_CHARS, SentenceSegmenter, split_text


def _stream(pieces: list[str], **kwargs: int) -> list[str]:
    """Push pieces one by one, then flush; return every chunk in order."""
    segmenter = SentenceSegmenter(**kwargs)
    chunks = [chunk for piece in pieces for chunk in segmenter.push(piece)]
    return chunks + segmenter.flush()


def _tokens(text: str) -> list[str]:
    """Split text roughly the way an LLM tokenizer does: words with their leading space."""
    tokens, current = [], ""
    for ch in text:
        if ch.isspace() and current and not current.isspace():
            tokens.append(current)
            current = ""
        current += ch
    return [*tokens, current] if current else tokens


CASES = [
    pytest.param(
        "Dr. Smith arrived at 3.14 p.m. today. Then he left.",
        ["Dr. Smith arrived at 3.14 p.m. today. ", "Then he left."],
        id="title-decimal-pm",
    ),
    pytest.param(
        "Go to https://x.y/a.b?c=d now. Then stop.",
        ["Go to https://x.y/a.b?c=d now. ", "Then stop."],
        id="url",
    ),
    pytest.param(
        "See https://example.com/docs. It helps.",
        ["See https://example.com/docs. ", "It helps."],
        id="url-ends-sentence",
    ),
    pytest.param(
        "Write to a.b@c.d today! Thanks.", ["Write to a.b@c.d today! ", "Thanks."], id="email"
    ),
    pytest.param(
        "Pick a fruit, e.g. Apple. Or not, i.e. Nothing.",
        ["Pick a fruit, e.g. Apple. ", "Or not, i.e. Nothing."],
        id="eg-ie",
    ),
    pytest.param(
        "J. R. R. Tolkien wrote it. Mr. and Mrs. Ms. St. Vs. Dr. Who.",
        ["J. R. R. Tolkien wrote it. ", "Mr. and Mrs. Ms. St. Vs. Dr. Who."],
        id="initials-titles",
    ),
    pytest.param(
        "It costs 1,000.50 dollars. Pi is 3.14159.",
        ["It costs 1,000.50 dollars. ", "Pi is 3.14159."],
        id="numbers",
    ),
    pytest.param("Wait... what? Yes.", ["Wait... what? ", "Yes."], id="ellipsis-mid"),
    pytest.param("Wait… what? Yes.", ["Wait… what? ", "Yes."], id="ellipsis-char-mid"),
    pytest.param("I see... Fine.", ["I see... ", "Fine."], id="ellipsis-end"),
    pytest.param(
        "नमस्ते। आप कैसे हैं? मैं ठीक हूँ।",
        ["नमस्ते। ", "आप कैसे हैं? ", "मैं ठीक हूँ।"],
        id="hindi-danda",
    ),
    pytest.param("你好。今天好吗？很好！", ["你好。", "今天好吗？", "很好！"], id="cjk"),
    pytest.param(
        'He said "Stop." Then he left.', ['He said "Stop." ', "Then he left."], id="closing-quote"
    ),
    pytest.param("Really?! Yes!!! OK.", ["Really?! ", "Yes!!! ", "OK."], id="runs"),
    pytest.param(
        "We met at 3 p.m. Then we ate. Books, pens, etc. are here.",
        ["We met at 3 p.m. ", "Then we ate. ", "Books, pens, etc. are here."],
        id="maybe-end-abbreviations",
    ),
    pytest.param(
        "See No. 5 today. No. That is wrong.",
        ["See No. 5 today. ", "No. ", "That is wrong."],
        id="number-prefix",
    ),
    pytest.param(
        "Steps:\n1. Mix it.\n2. Bake it.",
        ["Steps:\n1. Mix it.\n", "2. Bake it."],
        id="enumeration",
    ),
    pytest.param("Title\n\nBody text here", ["Title\n\n", "Body text here"], id="paragraph-break"),
    pytest.param("Hello.   \n  World.  ", ["Hello.   \n  ", "World.  "], id="trailing-space-kept"),
    pytest.param("Version 2.0 is out. Get it.", ["Version 2.0 is out. ", "Get it."], id="version"),
    pytest.param("Born in 1990. Then more.", ["Born in 1990. ", "Then more."], id="year-ends"),
    pytest.param("", [], id="empty"),
    pytest.param("No punctuation at all", ["No punctuation at all"], id="no-end"),
]


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_split_text_cases(text: str, expected: list[str]) -> None:
    assert split_text(text) == expected


@pytest.mark.parametrize(("text", "expected"), CASES)
def test_token_stream_equals_whole_text(text: str, expected: list[str]) -> None:
    assert _stream(_tokens(text)) == expected
    assert _stream(list(text)) == expected


def test_sentence_is_emitted_once_the_next_word_arrives() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.push("Hello there.") == []
    assert segmenter.push(" How") == ["Hello there. "]
    assert segmenter.pending == "How"
    assert segmenter.push(" are you?") == []
    assert segmenter.flush() == ["How are you?"]
    assert segmenter.pending == ""


def test_period_at_end_of_push_waits_for_decimal() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.push("It is 3.") == []
    assert segmenter.push("14 today.") == []
    assert segmenter.push(" Next") == ["It is 3.14 today. "]


def test_cjk_end_needs_no_space() -> None:
    segmenter = SentenceSegmenter()
    assert segmenter.push("你好。") == []
    assert segmenter.push("世界") == ["你好。"]


def test_flush_returns_everything_and_resets() -> None:
    segmenter = SentenceSegmenter()
    segmenter.push("One. Two")
    assert segmenter.flush() == ["Two"]
    assert segmenter.flush() == []
    assert segmenter.push("Three. ") == []
    assert segmenter.flush() == ["Three. "]


def test_long_sentence_without_punctuation_cuts_at_spaces() -> None:
    text = " ".join(f"word{i}" for i in range(200))
    chunks = split_text(text)
    assert "".join(chunks) == text
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in chunks)
    assert all(chunk.endswith(" ") for chunk in chunks[:-1])  # never inside a word
    assert len(chunks[0]) > MAX_CHUNK_CHARS - 10


def test_long_sentence_prefers_clause_marks() -> None:
    clause = "x" * 150 + ", "
    text = clause + "y " * 100 + "end."
    chunks = split_text(text)
    assert chunks[0] == clause
    assert "".join(chunks) == text


def test_short_sentence_end_is_the_cut_when_it_fills_half() -> None:
    text = "a" * 12 + ". " + "Word " * 10
    chunks = split_text(text, max_chars=20, min_chars=18)
    assert chunks[0] == "a" * 12 + ". "
    assert all(len(chunk) <= 20 for chunk in chunks)


def test_early_clause_mark_loses_to_a_later_space() -> None:
    text = "Hi, " + "word " * 60
    chunks = split_text(text)
    assert len(chunks[0]) > MAX_CHUNK_CHARS // 2
    assert "".join(chunks) == text


def test_clause_mark_inside_a_number_is_not_a_cut() -> None:
    chunks = split_text("a" * 20 + " 1,000,000,000 " + "b" * 20, max_chars=30)
    assert chunks[0] == "a" * 20 + " "
    assert all(len(chunk) <= 30 for chunk in chunks)


def test_unbroken_text_is_hard_split() -> None:
    chunks = split_text("a" * 600)
    assert [len(chunk) for chunk in chunks] == [250, 250, 100]


def test_hard_split_keeps_combining_marks_with_their_base() -> None:
    text = "की" * 200  # consonant + vowel sign, no spaces
    chunks = split_text(text, max_chars=51)
    assert "".join(chunks) == text
    assert all(len(chunk) <= 51 for chunk in chunks)
    assert all(chunk.startswith("क") for chunk in chunks)


def test_sentence_plus_trailing_space_over_limit_is_cut() -> None:
    text = "a" * 8 + "." + " " * 5 + "Next."
    chunks = split_text(text, max_chars=10)
    assert chunks[0] == "a" * 8 + ". "
    assert "".join(chunks) == text
    assert all(len(chunk) <= 10 for chunk in chunks)


def test_min_chars_merges_short_sentences() -> None:
    text = "Hi. Yes. This one is long enough. Ok."
    assert split_text(text, min_chars=10) == ["Hi. Yes. This one is long enough. ", "Ok."]
    assert split_text(text) == ["Hi. ", "Yes. ", "This one is long enough. ", "Ok."]


def test_min_chars_merge_still_respects_max_chars() -> None:
    text = "Hi. " + "word " * 10
    chunks = split_text(text, max_chars=20, min_chars=10)
    assert chunks[0] == "Hi. word word word "  # merged, then cut at the last space
    assert all(len(chunk) <= 20 for chunk in chunks)
    assert "".join(chunks) == text


def test_whitespace_only_input_is_returned_once() -> None:
    assert split_text("   \n\n  ") == ["   \n\n  "]


@pytest.mark.parametrize(("max_chars", "min_chars"), [(0, 0), (10, -1), (10, 11)])
def test_bad_limits_are_rejected(max_chars: int, min_chars: int) -> None:
    with pytest.raises(ValueError, match="_chars"):
        SentenceSegmenter(max_chars=max_chars, min_chars=min_chars)


def test_long_llm_answer_streams_like_whole_text() -> None:
    text = (
        "Sure! Here's the plan. First, call Dr. Jones at 9 a.m. tomorrow; she moved the "
        "meeting (see https://calendar.example.com/e/42?id=7.5). Second... well, bring "
        "the 2.5 kg package, i.e. the blue one. Costs were $1,250.75 vs. $980 last year, "
        "approx. 27.6% more. Questions? Mail ops.team@example.co.uk. "
        + "This part rambles on without any sentence end at all and keeps going " * 5
        + "until it finally stops. Done."
    )
    whole = split_text(text)
    assert _stream(_tokens(text)) == whole
    assert "".join(whole) == text
    assert all(len(chunk) <= MAX_CHUNK_CHARS for chunk in whole)
    assert whole[:3] == ["Sure! ", "Here's the plan. ", whole[2]]
    assert whole[2].startswith("First, call Dr. Jones at 9 a.m. tomorrow;")
    assert whole[2].endswith("?id=7.5). ")
