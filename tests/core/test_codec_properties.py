"""Property tests for codec.py and Protocol: round trips, fuzzed frames, SSE split points."""

from __future__ import annotations

import base64
import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallest_core.codec import SSEDecoder, ctx_text, parse_frame, ws_text
from smallest_core.errors import ProtocolError
from smallest_core.events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from smallest_core.options import TTSOptions
from smallest_core.protocol import Protocol

OPTS = TTSOptions(complete_backoff_ms=0)

ids = st.text(
    alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-.",
    min_size=1,
    max_size=128,
)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
# Frames shaped like the server's, with every field possibly wrong.
frame_like = st.fixed_dictionaries(
    {},
    optional={
        "status": st.sampled_from(["chunk", "word_timestamp", "complete", "error", "?"])
        | json_values,
        "external_request_id": ids | json_values,
        "context_id": ids | json_values,
        "request_id": json_values,
        "data": st.fixed_dictionaries(
            {},
            optional={
                "audio": st.binary().map(lambda b: base64.b64encode(b).decode()) | json_values,
                "id": st.integers() | json_values,
                "word": st.text() | json_values,
                "start": st.floats() | json_values,
                "end": st.floats() | json_values,
            },
        )
        | json_values,
        "message": json_values,
        "error": json_values,
    },
)

GOLDEN = [
    '{"session_id":"ws_550e8400-e29b","request_id":"task_6ba7b810-9dad","external_session_id":'
    '"my-session-123",\n "external_request_id":"my-request-456","status":"chunk","data":'
    '{"audio":"SGVsbG8gV29ybGQ="}}',
    '{"session_id":"…","request_id":"…","status":"word_timestamp","data":{"id":2,"word":"$100",'
    '"start":1.12,"end":1.92}}',
    '{"session_id":"…","request_id":"…","status":"complete"}',
    '{"status": "error", "message": "Connection timed out after 60 seconds of inactivity"}',
]


def parse_or_protocol_error(text: str) -> None:
    """Parse; the only acceptable failure is ProtocolError, the only result an event."""
    try:
        event = parse_frame(text)
    except ProtocolError as exc:
        assert exc.body is None or len(exc.body) <= 200
        return
    assert isinstance(event, AudioChunk | WordTimestamp | Complete | ErrorEvent)


class TestRoundTrips:
    """Server-style frames built from random values parse back to the same event (§5.3)."""

    @given(rid=ids, audio=st.binary(max_size=4096), server_rid=ids, use_context=st.booleans())
    def test_chunk(self, rid: str, audio: bytes, server_rid: str, use_context: bool):
        key = "context_id" if use_context else "external_request_id"
        frame = {
            key: rid,
            "request_id": server_rid,
            "status": "chunk",
            "data": {"audio": base64.b64encode(audio).decode()},
        }
        assert parse_frame(json.dumps(frame)) == AudioChunk(rid, audio, server_rid)

    @given(
        rid=ids,
        index=st.integers(min_value=0, max_value=2**31),
        word=st.text(),
        start=st.floats(allow_nan=False, allow_infinity=False),
        end=st.floats(allow_nan=False, allow_infinity=False),
    )
    def test_word_timestamp(self, rid: str, index: int, word: str, start: float, end: float):
        data = {"id": index, "word": word, "start": start, "end": end}
        frame = {"external_request_id": rid, "status": "word_timestamp", "data": data}
        assert parse_frame(json.dumps(frame)) == WordTimestamp(rid, index, word, start, end)

    @given(rid=ids, extra=st.dictionaries(st.sampled_from(["session_id", "x", "done"]), ids))
    def test_complete(self, rid: str, extra: dict[str, str]):
        frame = {**extra, "external_request_id": rid, "status": "complete"}
        assert parse_frame(json.dumps(frame)) == Complete(rid)

    @given(rid=ids, message=st.text(max_size=300), code=st.text(max_size=30))
    def test_error_keeps_its_id(self, rid: str, message: str, code: str):
        frame = {"status": "error", "context_id": rid, "message": message, "error": {"code": code}}
        event = parse_frame(json.dumps(frame))
        assert isinstance(event, ErrorEvent) and event.request_id == rid == event.error.request_id

    @given(rid=ids, text=st.text(), last=st.booleans())
    def test_builders_emit_sendable_json_with_the_text_intact(self, rid: str, text: str, last):
        for built in (ws_text(OPTS, rid, text, last=last), ctx_text(OPTS, rid, text, last=last)):
            built.encode("utf-8")  # always encodable, even with lone surrogates in text
            body = json.loads(built)
            assert body["text"] == text and body["continue"] is (not last)
            assert body["request_id"] == rid and body["voice_id"] == OPTS.voice_id


class TestFuzzedFrames:
    """Parsing never crashes (style guide §2): only ProtocolError, or an event."""

    @given(value=json_values)
    def test_random_json_values(self, value: Any):
        parse_or_protocol_error(json.dumps(value))

    @given(frame=frame_like)
    def test_frame_shaped_objects(self, frame: dict[str, Any]):
        parse_or_protocol_error(json.dumps(frame))

    @given(text=st.text())
    def test_random_text(self, text: str):
        parse_or_protocol_error(text)

    @given(golden=st.sampled_from(GOLDEN), data=st.data())
    def test_truncated_and_garbled_real_frames(self, golden: str, data: st.DataObject):
        cut = data.draw(st.integers(0, len(golden)))
        parse_or_protocol_error(golden[:cut])
        pos = data.draw(st.integers(0, len(golden) - 1))
        char = data.draw(st.characters())
        parse_or_protocol_error(golden[:pos] + char + golden[pos + 1 :])


class TestProtocolNeverRaises:
    """``receive_text`` never raises, whatever arrives; cancelled ids never produce events."""

    @settings(suppress_health_check=[HealthCheck.too_slow])
    @given(
        flush_mode=st.booleans(),
        frames=st.lists(
            st.one_of(
                st.text(max_size=200),
                frame_like.map(json.dumps),
                st.sampled_from(GOLDEN),
                st.sampled_from(["a", "b", "c"]).flatmap(
                    lambda rid: st.sampled_from(
                        [
                            json.dumps({"status": "complete", "external_request_id": rid}),
                            json.dumps(
                                {
                                    "status": "chunk",
                                    "context_id": rid,
                                    "data": {"audio": "AAAA"},
                                }
                            ),
                            json.dumps({"status": "error", "context_id": rid, "message": "x"}),
                        ]
                    )
                ),
            ),
            max_size=30,
        ),
    )
    def test_receive_text(self, flush_mode: bool, frames: list[str]):
        proto = Protocol(OPTS, mode="flush" if flush_mode else "continuations")
        proto.open("a")
        proto.end("a", "first")
        proto.open("b")
        proto.send_text("b", "second")
        proto.cancel("b")
        proto.open("c")
        events: list[Event] = []
        for frame in frames:
            proto.receive_text(frame)
            events += proto.events_received()
        assert all(e.request_id in ("a", "c") for e in events)
        finals = [e.request_id for e in events if isinstance(e, Complete | ErrorEvent)]
        assert len(finals) == len(set(finals))  # at most one final event per utterance
        for rid in ("a", "c"):
            after_final = False
            for e in events:
                if e.request_id != rid:
                    continue
                assert not after_final, f"event for {rid} after its final event"
                after_final = isinstance(e, Complete | ErrorEvent)


def sse_stream(items: list[tuple[str, bytes | None]], eol: str) -> bytes:
    out = []
    for kind, audio in items:
        if kind == "comment":
            out.append(": ping" + eol)
        elif kind == "audio" and audio is not None:
            payload = json.dumps({"audio": base64.b64encode(audio).decode(), "done": False})
            out.append("event: audio" + eol + "data: " + payload + eol + eol)
    out.append('data: {"status": "200", "done": true}' + eol + eol)
    return "".join(out).encode()


class TestSSESplits:
    """§4: how the bytes are split across reads never changes the events."""

    @given(
        items=st.lists(
            st.tuples(st.sampled_from(["audio", "comment"]), st.binary(min_size=1, max_size=64)),
            max_size=8,
        ),
        eol=st.sampled_from(["\n", "\r\n", "\r"]),
        data=st.data(),
    )
    def test_arbitrary_split_points_give_the_same_events(self, items, eol: str, data):
        raw = sse_stream(items, eol)
        whole = SSEDecoder("r")
        expected = whole.feed(raw) + whole.close()
        cuts = sorted(data.draw(st.lists(st.integers(0, len(raw)), max_size=12)))
        pieces = [raw[a:b] for a, b in zip([0, *cuts], [*cuts, len(raw)], strict=True)]
        split = SSEDecoder("r")
        got: list[Event] = []
        for piece in pieces:
            got += split.feed(piece)
        got += split.close()
        assert got == expected
        audio = [a for kind, a in items if kind == "audio"]
        assert got == [AudioChunk("r", a) for a in audio] + [Complete("r")]

    @given(raw=st.binary(max_size=300), data=st.data())
    def test_random_bytes_never_raise_and_splits_agree(self, raw: bytes, data):
        whole = SSEDecoder("r")
        expected = whole.feed(raw) + whole.close()
        cut = data.draw(st.integers(0, len(raw)))
        split = SSEDecoder("r")
        got = split.feed(raw[:cut]) + split.feed(raw[cut:]) + split.close()
        assert [type(e) for e in got] == [type(e) for e in expected]
        assert [str(getattr(e, "error", e)) for e in got] == [
            str(getattr(e, "error", e)) for e in expected
        ]
