"""Builders and parsers of codec.py against the examples of PROTOCOL.md (§1-§5, §12)."""

from __future__ import annotations

import base64
import json

import pytest

from smallest_core.codec import (
    CLONE_PATH,
    DEFAULT_HTTP_BASE,
    DEFAULT_WS_BASE,
    DICTS_PATH,
    SSE_PATH,
    TTS_PATH,
    WS_PATH,
    SSEDecoder,
    ctx_cancel,
    ctx_flush,
    ctx_text,
    parse_frame,
    sync_body,
    voices_path,
    ws_flush,
    ws_text,
    ws_url,
)
from smallest_core.errors import (
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    ProtocolError,
    RequestTimeoutError,
    ServerError,
)
from smallest_core.events import AudioChunk, Complete, ErrorEvent, WordTimestamp
from smallest_core.options import TTSOptions

# -- golden examples, verbatim from PROTOCOL.md ----------------------------------------------
# §4 (the base64 placeholder is substituted before decoding: it is not base64).
SSE_EXAMPLE = """\
event: audio
data: {"audio": "<base64 PCM>", "done": false, "status": "206"}

data: {"status": "200", "done": true}

"""
# §5.2 canonical streaming pattern.
WS_STREAMING_EXAMPLE = """\
{"voice_id":"meher","model":"lightning_v3.1_pro","text":"Hello, ","continue":true,"flush":false,"sample_rate":24000}
{"voice_id":"meher","model":"lightning_v3.1_pro","text":"how are you?","continue":true,"flush":false,"sample_rate":24000}
{"voice_id":"meher","model":"lightning_v3.1_pro","text":"","continue":false,"flush":true,"sample_rate":24000}
"""  # noqa: E501 - verbatim
# §5.3 server frames (the first one spans two lines in the document).
WS_CHUNK_EXAMPLE = """\
{"session_id":"ws_550e8400-e29b","request_id":"task_6ba7b810-9dad","external_session_id":"my-session-123",
 "external_request_id":"my-request-456","status":"chunk","data":{"audio":"SGVsbG8gV29ybGQ="}}"""
WS_WORD_EXAMPLE = """\
{"session_id":"…","request_id":"…","status":"word_timestamp","data":{"id":2,"word":"$100","start":1.12,"end":1.92}}"""
WS_COMPLETE_EXAMPLE = """{"session_id":"…","request_id":"…","status":"complete"}"""
# §5.1 / §5.3 error frames.
WS_IDLE_TIMEOUT_EXAMPLE = (
    '{"status": "error", "message": "Connection timed out after 60 seconds of inactivity"}'
)
WS_NESTED_ERROR_EXAMPLE = '{"status":"error","error":{"message":"…","code":"…"}}'

WS_ONLY_FIELDS = {
    "continue",
    "flush",
    "max_buffer_flush_ms",
    "complete_backoff_ms",
    "context_id",
    "max_buffer_delay_ms",
    "cancel_request",
}
PCM = b"\x01\x00\xff\x7f" * 8
B64 = base64.b64encode(PCM).decode()
KEY = "sk_live_abcdef123456"

OPTS = TTSOptions()
FULL = TTSOptions(
    model="lightning_v3.1",
    voice_id="liam",
    sample_rate=16000,
    speed=1.25,
    language="hi",
    number_pronunciation_language="en",
    math_notation=True,
    word_timestamps=True,
    output_format="wav",
    pronunciation_dicts=("d1", "d2"),
    max_buffer_flush_ms=200,
    complete_backoff_ms=0,
    max_buffer_delay_ms=1500,
    session_id="sess-1",
)


def frame(**fields: object) -> str:
    return json.dumps(fields)


class TestConstants:
    """§1, §3, §4, §5, §7: hosts and paths."""

    def test_paths(self):
        assert (TTS_PATH, SSE_PATH, WS_PATH) == (
            "/waves/v1/tts",
            "/waves/v1/tts/live",
            "/waves/v1/tts/live",
        )
        assert CLONE_PATH == "/waves/v1/voice-cloning"
        assert DICTS_PATH == "/waves/v1/pronunciation-dicts"
        assert voices_path("lightning-v3.1") == "/waves/v1/lightning-v3.1/get_voices"
        assert (DEFAULT_HTTP_BASE, DEFAULT_WS_BASE) == (
            "https://api.smallest.ai",
            "wss://api.smallest.ai",
        )


class TestWsUrl:
    """§5.1: ``wss://api.smallest.ai/waves/v1/tts/live[?timeout=N]``."""

    @pytest.mark.parametrize(
        ("base", "timeout", "expected"),
        [
            (DEFAULT_WS_BASE, None, "wss://api.smallest.ai/waves/v1/tts/live"),
            (DEFAULT_WS_BASE, 120, "wss://api.smallest.ai/waves/v1/tts/live?timeout=120"),
            ("ws://127.0.0.1:8765/", 5, "ws://127.0.0.1:8765/waves/v1/tts/live?timeout=5"),
            ("wss://h/waves/v1", None, "wss://h/waves/v1/tts/live"),
            ("wss://h/waves/v1/tts/live", 9, "wss://h/waves/v1/tts/live?timeout=9"),
            ("https://h", None, "wss://h/waves/v1/tts/live"),
            ("http://h:1", None, "ws://h:1/waves/v1/tts/live"),
            ("wss://h?timeout=3&x=1", 7, "wss://h/waves/v1/tts/live?x=1&timeout=7"),
        ],
    )
    def test_urls(self, base: str, timeout: int | None, expected: str):
        assert ws_url(base, timeout) == expected

    @pytest.mark.parametrize("timeout", [0, -1, True, 1.5, "5"])
    def test_timeout_must_be_a_positive_integer(self, timeout: object):
        with pytest.raises(InvalidOptionError, match=r"^timeout="):
            ws_url(DEFAULT_WS_BASE, timeout)  # type: ignore[arg-type]

    @pytest.mark.parametrize("base", ["ftp://h", "api.smallest.ai", ""])
    def test_base_must_be_a_ws_or_http_url(self, base: str):
        with pytest.raises(InvalidOptionError, match=r"^base_url="):
            ws_url(base)


class TestSyncBody:
    """§2, §3, §4: the body of ``POST /tts`` and SSE."""

    def test_defaults(self):
        assert sync_body(OPTS, "Hi") == {
            "voice_id": "meher",
            "model": "lightning_v3.1_pro",
            "text": "Hi",
            "sample_rate": 24000,
            "speed": 1.0,
            "language": "en",
            "output_format": "pcm",
        }

    def test_every_option_that_is_set_is_sent(self):
        body = sync_body(FULL, "Hi", request_id="r-1")
        assert body["output_format"] == "wav"
        assert body["pronunciation_dicts"] == ["d1", "d2"]
        assert (body["number_pronunciation_language"], body["math_notation"]) == ("en", True)
        assert (body["session_id"], body["request_id"]) == ("sess-1", "r-1")

    def test_never_contains_websocket_only_fields(self):
        body = sync_body(FULL, "Hi")
        assert not WS_ONLY_FIELDS & body.keys()
        assert "word_timestamps" not in body  # ignored on HTTP (spec), so not sent

    def test_none_options_are_omitted(self):
        body = sync_body(TTSOptions(language=None), "Hi")
        assert "language" not in body and "session_id" not in body

    def test_request_id_is_validated(self):
        with pytest.raises(InvalidOptionError, match=r"^request_id="):
            sync_body(OPTS, "Hi", request_id="bad id")


class TestFlushModeFrames:
    """§5.2: every frame is a full request; ``continue``/``flush`` drive the buffer."""

    def test_streaming_frames_contain_the_canonical_example(self):
        golden = [json.loads(line) for line in WS_STREAMING_EXAMPLE.splitlines()]
        ours = [
            json.loads(ws_text(OPTS, "r-1", "Hello, ", last=False)),
            json.loads(ws_text(OPTS, "r-1", "how are you?", last=False)),
            json.loads(ws_text(OPTS, "r-1", "", last=True)),
        ]
        for expected, got in zip(golden, ours, strict=True):
            assert got.items() >= expected.items()

    def test_one_shot_is_a_single_closing_frame_with_the_full_text(self):
        body = json.loads(ws_text(OPTS, "r-1", "Hello there.", last=True))
        assert body["text"] == "Hello there."
        assert (body["continue"], body["flush"]) == (False, True)

    def test_frames_carry_base_payload_ids_and_backoff(self):
        body = json.loads(ws_text(FULL, "r-9", "x", last=False))
        assert body["request_id"] == "r-9" and body["session_id"] == "sess-1"
        assert body["complete_backoff_ms"] == 0 and body["max_buffer_flush_ms"] == 200
        assert body["word_timestamps"] is True and body["pronunciation_dicts"] == ["d1", "d2"]
        assert "output_format" not in body  # §9.7: WS audio is always PCM
        assert not {"context_id", "max_buffer_delay_ms", "cancel_request"} & body.keys()

    def test_max_buffer_flush_ms_is_omitted_when_unset(self):
        assert "max_buffer_flush_ms" not in json.loads(ws_text(OPTS, "r", "x", last=False))

    def test_flush_frame_keeps_the_request_open(self):
        body = json.loads(ws_flush(FULL, "r-1"))
        assert (body["text"], body["continue"], body["flush"]) == ("", True, True)
        assert body["voice_id"] == "liam"

    def test_frames_are_compact_json(self):
        text = ws_text(FULL, "r", "a, b: c", last=True)
        assert text == json.dumps(json.loads(text), separators=(",", ":"))

    def test_non_ascii_text_is_escaped_so_any_string_can_be_sent(self):
        text = ws_text(OPTS, "r", "नमस्ते \ud800", last=True)
        assert text.isascii() and json.loads(text)["text"] == "नमस्ते \ud800"

    def test_bad_request_id_is_rejected(self):
        with pytest.raises(InvalidOptionError):
            ws_text(OPTS, "no spaces", "x", last=True)


class TestContinuationFrames:
    """§12: ``context_id`` (+ ``request_id`` = it), ``continue``, ``cancel_request``."""

    def test_fragment_carries_context_and_request_id(self):
        body = json.loads(ctx_text(FULL, "c-1", "Hello, ", last=False))
        assert (body["context_id"], body["request_id"], body["continue"]) == ("c-1", "c-1", True)
        assert body["max_buffer_delay_ms"] == 1500 and body["complete_backoff_ms"] == 0
        assert "flush" not in body and "max_buffer_flush_ms" not in body
        assert body["voice_id"] == "liam" and body["text"] == "Hello, "

    def test_closing_fragment(self):
        body = json.loads(ctx_text(TTSOptions(complete_backoff_ms=200), "c-1", "", last=True))
        assert (body["text"], body["continue"]) == ("", False)
        assert "max_buffer_delay_ms" not in body
        # nothing more will come: the complete need not wait (§5.4)
        assert body["complete_backoff_ms"] == 0

    def test_flush_keeps_the_context_open(self):
        body = json.loads(ctx_flush(OPTS, "c-1"))
        assert (body["text"], body["continue"], body["flush"]) == ("", True, True)
        assert body["context_id"] == "c-1"

    def test_cancel_carries_the_full_base_payload(self):
        body = json.loads(ctx_cancel(FULL, "c-1"))
        assert body["cancel_request"] is True and body["context_id"] == "c-1"
        for name in ("voice_id", "text", "model", "sample_rate", "speed", "language"):
            assert name in body, name

    def test_bad_context_id_is_rejected_by_name(self):
        with pytest.raises(InvalidOptionError, match=r"^context_id="):
            ctx_text(OPTS, "a b", "x", last=False)


class TestParseFrame:
    """§5.3: server frames become events carrying our request id."""

    def test_golden_chunk(self):
        assert parse_frame(WS_CHUNK_EXAMPLE) == AudioChunk(
            "my-request-456", b"Hello World", "task_6ba7b810-9dad"
        )

    def test_golden_word_timestamp(self):
        assert parse_frame(WS_WORD_EXAMPLE) == WordTimestamp(None, 2, "$100", 1.12, 1.92, "…")

    def test_golden_complete_needs_no_data(self):
        assert parse_frame(WS_COMPLETE_EXAMPLE) == Complete(None)

    def test_golden_idle_timeout_error(self):
        event = parse_frame(WS_IDLE_TIMEOUT_EXAMPLE)
        assert isinstance(event, ErrorEvent) and event.request_id is None
        assert isinstance(event.error, RequestTimeoutError)

    def test_golden_nested_error(self):
        event = parse_frame(WS_NESTED_ERROR_EXAMPLE)
        assert isinstance(event, ErrorEvent) and isinstance(event.error, ServerError)
        assert event.error.code == "…"

    def test_external_request_id_wins_over_context_id(self):
        event = parse_frame(frame(status="complete", external_request_id="a", context_id="b"))
        assert event == Complete("a")

    def test_context_id_is_used_without_external_request_id(self):
        assert parse_frame(frame(status="complete", context_id="b")) == Complete("b")

    def test_empty_external_request_id_counts_as_absent(self):
        assert parse_frame(frame(status="complete", external_request_id="", context_id="b")) == (
            Complete("b")
        )

    def test_error_frame_is_routed_by_its_id(self):
        event = parse_frame(
            frame(status="error", external_request_id="u-1", message="Invalid 'voice_id'")
        )
        assert isinstance(event, ErrorEvent) and event.request_id == "u-1"
        assert isinstance(event.error, InvalidRequestError) and event.error.request_id == "u-1"

    def test_whitespace_around_the_object_is_json_too(self):
        # the hot path scans a bare object; padding takes the full decoder, same result
        raw = frame(status="chunk", external_request_id="u-1", data={"audio": B64})
        assert parse_frame(f" \n{raw}\t ") == parse_frame(raw) == AudioChunk("u-1", PCM)

    def test_anything_after_the_object_is_not_json(self):
        raw = frame(status="complete", external_request_id="u-1")
        with pytest.raises(ProtocolError, match="not JSON"):
            parse_frame(raw + " x")
        with pytest.raises(ProtocolError, match="not JSON"):
            parse_frame(raw + raw)

    @pytest.mark.parametrize("ours", ["", None])
    def test_an_empty_or_null_external_id_falls_back_to_the_context_id(self, ours):
        raw = frame(status="complete", external_request_id=ours, context_id="c-1")
        assert parse_frame(raw) == Complete("c-1")

    def test_unknown_extra_fields_are_ignored(self):
        event = parse_frame(frame(status="chunk", data={"audio": B64, "x": 1}, extra=True))
        assert event == AudioChunk(None, PCM)

    @pytest.mark.parametrize(
        ("raw", "reason"),
        [
            ("not json", "not JSON"),
            ("", "not JSON"),
            ("[1, 2]", "not a JSON object"),
            ('"chunk"', "not a JSON object"),
            ("[" * 100_000, "not JSON"),
            (frame(data={}), "unknown status"),
            (frame(status="done"), "unknown status"),
            (frame(status=["chunk"]), "unknown status"),
            (frame(status="chunk"), "without a data object"),
            (frame(status="chunk", data=[B64]), "without a data object"),
            (frame(status="chunk", data={}), "not a base64 string"),
            (frame(status="chunk", data={"audio": 5}), "not a base64 string"),
            (frame(status="chunk", data={"audio": "###"}), "not valid base64"),
            (frame(status="chunk", data={"audio": "QQ"}), "not valid base64"),
            (frame(status="chunk", data={"audio": "é"}), "not valid base64"),
            (frame(status="complete", external_request_id=7), "is not a string"),
            (frame(status="complete", context_id=["x"]), "is not a string"),
            (
                frame(status="word_timestamp", data={"id": -1, "word": "a", "start": 0, "end": 1}),
                "non-negative integer",
            ),
            (
                frame(
                    status="word_timestamp", data={"id": True, "word": "a", "start": 0, "end": 1}
                ),
                "non-negative integer",
            ),
            (
                frame(status="word_timestamp", data={"id": 0, "word": 3, "start": 0, "end": 1}),
                "word is not a string",
            ),
            (
                frame(status="word_timestamp", data={"id": 0, "word": "a", "start": "0", "end": 1}),
                "finite numbers",
            ),
            (
                '{"status":"word_timestamp","data":{"id":0,"word":"a","start":NaN,"end":1}}',
                "finite numbers",
            ),
            (
                frame(
                    status="word_timestamp", data={"id": 0, "word": "a", "start": 0, "end": True}
                ),
                "finite numbers",
            ),
        ],
    )
    def test_malformed_frames_raise_protocol_error(self, raw: str, reason: str):
        with pytest.raises(ProtocolError, match=reason) as info:
            parse_frame(raw)
        assert info.value.retryable

    def test_protocol_error_quotes_at_most_200_chars(self):
        raw = frame(status="nope", padding="x" * 5000)
        with pytest.raises(ProtocolError) as info:
            parse_frame(raw)
        assert info.value.body is not None and len(info.value.body) <= 200
        assert info.value.body in str(info.value)

    def test_protocol_error_redacts_keys(self):
        with pytest.raises(ProtocolError) as info:
            parse_frame(frame(status="weird", note=f"Bearer {KEY}"))
        assert KEY not in str(info.value) and KEY not in (info.value.body or "")


def decode(*pieces: bytes, request_id: str | None = "r-1") -> list[object]:
    dec = SSEDecoder(request_id)
    events: list[object] = []
    for piece in pieces:
        events += dec.feed(piece)
    return events + dec.close()


class TestSSE:
    """§4: the event stream of ``POST /waves/v1/tts/live``; key on ``done``."""

    def test_golden_example(self):
        raw = SSE_EXAMPLE.replace("<base64 PCM>", B64).encode()
        assert decode(raw) == [AudioChunk("r-1", PCM), Complete("r-1")]

    def test_old_shapes_without_done_false_or_status(self):
        raw = f'event: audio\ndata: {{"audio": "{B64}"}}\n\ndata: {{"done": true}}\n\n'.encode()
        assert decode(raw) == [AudioChunk("r-1", PCM), Complete("r-1")]

    @pytest.mark.parametrize("eol", ["\r\n", "\r", "\n"])
    def test_any_line_ending(self, eol: str):
        raw = f'data: {{"audio": "{B64}"}}{eol}{eol}data: {{"done": true}}{eol}{eol}'.encode()
        assert decode(raw) == [AudioChunk("r-1", PCM), Complete("r-1")]

    def test_events_split_byte_by_byte(self):
        raw = SSE_EXAMPLE.replace("<base64 PCM>", B64).replace("\n", "\r\n").encode()
        pieces = [raw[i : i + 1] for i in range(len(raw))]
        assert decode(*pieces) == [AudioChunk("r-1", PCM), Complete("r-1")]

    def test_comments_event_names_ids_and_retry_lines_are_ignored(self):
        raw = (
            f': keepalive\nevent: something-else\nid: 7\nretry: 10\ndata: {{"audio": "{B64}"}}\n\n'
            ': bye\nevent: end\ndata: {"done": true}\n\n'
        ).encode()
        assert decode(raw) == [AudioChunk("r-1", PCM), Complete("r-1")]

    def test_multi_line_data_is_joined(self):
        raw = f'data: {{"audio":\ndata: "{B64}",\ndata: "done": true}}\n\n'.encode()
        assert decode(raw) == [AudioChunk("r-1", PCM), Complete("r-1")]

    def test_chunks_carry_the_response_server_id(self):
        dec = SSEDecoder("r-1", server_request_id="srv-9")
        events = dec.feed(f'data: {{"audio": "{B64}"}}\n\n'.encode())
        assert events == [AudioChunk("r-1", PCM, "srv-9")]

    def test_legacy_error_shape_becomes_an_error_event(self):
        raw = b'data: {"status": "error", "message": "Text too long", "errors": ["max 1000"]}\n\n'
        [event] = decode(raw)
        assert isinstance(event, ErrorEvent) and event.request_id == "r-1"
        assert isinstance(event.error, InvalidRequestError)
        assert "Text too long (max 1000)" in str(event.error) and event.error.request_id == "r-1"

    def test_http_like_error_status_becomes_an_error_event(self):
        [event] = decode(b'data: {"status": "500", "message": "worker died"}\n\n')
        assert isinstance(event, ErrorEvent) and isinstance(event.error, ServerError)

    @pytest.mark.parametrize("data", [b"data: nope", b"data: [1]", b'data: {"audio": "###"}'])
    def test_garbage_becomes_a_protocol_error_event_and_ends_the_stream(self, data: bytes):
        events = decode(data + b"\n\n" + b'data: {"done": true}\n\n')
        assert len(events) == 1 and isinstance(events[0], ErrorEvent)
        assert isinstance(events[0].error, ProtocolError)

    def test_stream_ending_before_done_is_connection_lost(self):
        events = decode(f'data: {{"audio": "{B64}"}}\n\n'.encode())
        assert events[0] == AudioChunk("r-1", PCM)
        assert isinstance(events[1], ErrorEvent)
        assert isinstance(events[1].error, ConnectionLostError) and events[1].error.retryable

    def test_close_dispatches_an_unterminated_final_event(self):
        assert decode(b'data: {"done": true}') == [Complete("r-1")]
        assert decode(b'data: {"done": true}\r') == [Complete("r-1")]

    def test_input_after_done_is_ignored(self):
        dec = SSEDecoder("r-1")
        assert dec.feed(b'data: {"done": true}\n\n') == [Complete("r-1")]
        assert dec.finished
        assert dec.feed(f'data: {{"audio": "{B64}"}}\n\n'.encode()) == []
        assert dec.close() == []

    def test_objects_without_audio_done_or_error_are_ignored(self):
        assert decode(b'data: {"status": "206"}\n\ndata: {"done": true}\n\n') == [Complete("r-1")]

    def test_audio_and_done_in_one_event(self):
        raw = f'data: {{"audio": "{B64}", "done": true}}\n\n'.encode()
        assert decode(raw) == [AudioChunk("r-1", PCM), Complete("r-1")]
