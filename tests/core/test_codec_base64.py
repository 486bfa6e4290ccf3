"""The chunk frame's base64: ``parse_frame`` accepts exactly what strict base64 accepts.

``codec._b64`` decodes every audio chunk with the lenient decoder and a length check
instead of ``strict_mode=True`` (a third cheaper on CPython 3.11); these tests hold it to
the strict decoder's verdict and bytes, on hand-picked edge cases and on fuzzed strings.
"""

from __future__ import annotations

import base64
import binascii
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_core.codec import parse_frame
from smallest_core.errors import ProtocolError
from smallest_core.events import AudioChunk

ALPHABET = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"


def strict(value: str) -> bytes | None:
    """What ``binascii``'s strict decoder makes of ``value`` (None: it refuses it)."""
    try:
        return binascii.a2b_base64(value, strict_mode=True)
    except ValueError:
        return None


def parsed(value: str) -> bytes | None:
    """What ``parse_frame`` makes of a chunk frame carrying ``value`` (None: refused)."""
    raw = json.dumps({"external_request_id": "r", "status": "chunk", "data": {"audio": value}})
    try:
        event = parse_frame(raw)
    except ProtocolError as exc:
        assert "not valid base64" in str(exc)
        return None
    assert isinstance(event, AudioChunk)
    return event.audio


@pytest.mark.parametrize(
    "value",
    [
        "",
        "QQ==",
        "QUI=",
        "QUJD",
        "QUJDRA==",
        base64.b64encode(bytes(range(256)) * 20).decode(),  # a chunk-sized string
        # refused by the strict decoder: each must be refused here too
        "QQ",  # no padding
        "QQ=",  # short padding
        "QQ===",  # too much padding
        "====",
        "=QUJ",  # leading padding
        "QQ=A",  # discontinuous padding
        "QQ==QUJD",  # data after the padding
        "QQ==\n",
        " QUJD",  # whitespace anywhere
        "QU JD===",
        "QUJD\n",
        "QU\tJD",
        "QUJ!",  # outside the alphabet
        "QUJ-",  # the URL-safe alphabet is not base64
        "QUJ_",
        "QUJé",  # not ASCII
        "QUJD" * 100 + "!",
        "Q!UJDQUJD===",  # a skipped character hidden by extra padding
    ],
)
def test_edge_cases_match_the_strict_decoder(value: str) -> None:
    assert parsed(value) == strict(value)


@settings(max_examples=2000, deadline=None)
@given(st.text(alphabet=ALPHABET + "= \n!-_é", max_size=40))
def test_fuzzed_strings_match_the_strict_decoder(value: str) -> None:
    assert parsed(value) == strict(value)


@settings(max_examples=500, deadline=None)
@given(
    st.binary(max_size=64),
    st.integers(min_value=0, max_value=200),
    st.sampled_from(["=", "\n", " ", "!", "A", "é", "=="]),
)
def test_damaged_base64_matches_the_strict_decoder(data: bytes, at: int, junk: str) -> None:
    good = base64.b64encode(data).decode()
    assert parsed(good) == data
    at = at % (len(good) + 1)
    for value in (good[:at] + junk + good[at:], good[:at] + junk + good[at + len(junk) :]):
        assert parsed(value) == strict(value)
