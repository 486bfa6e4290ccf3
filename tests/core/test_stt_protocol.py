"""The sans-I/O Pulse session and its parsers: every event shape of docs/stt.md §2-§3 and the
readings of §6 (D1, D3, D4, D5, D7, D13, D22), with plain strings, no event loop."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallest_core.classify import error_from_close, error_from_status
from smallest_core.errors import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidState,
    ProtocolError,
    RateLimitError,
    ServerError,
    SmallestError,
    TranscriptionLostError,
)
from smallest_core.events import ErrorEvent
from smallest_core.stt_codec import parse_stt_frame, parse_transcription
from smallest_core.stt_events import (
    FinalTranscript,
    InterimTranscript,
    Segment,
    SpeechEnded,
    SpeechStarted,
    Word,
)
from smallest_core.stt_options import STTOptions
from smallest_core.stt_protocol import STTProtocol, STTState

FINALIZE, CLOSE, KEEPALIVE = (
    '{"type":"finalize"}',
    '{"type":"close_stream"}',
    '{"type":"keepalive"}',
)


def frame(**fields: object) -> str:
    return json.dumps(fields)


def final(text: str = "", **fields: object) -> str:
    base: dict[str, object] = {
        "type": "transcription",
        "status": "success",
        "session_id": "s-1",
        "transcript": text,
        "transcription": text,
        "is_final": True,
        "is_last": False,
    }
    return json.dumps(base | fields)


def word(**fields: object) -> dict[str, object]:
    return {"word": "x", "start": 0, "end": 1} | fields


def drive(proto: STTProtocol, *frames: str) -> list:
    for text in frames:
        proto.receive_text(text)
    return proto.events_received()


def drive_at(proto: STTProtocol, now: float, *frames: str) -> list:
    for text in frames:
        proto.receive_text(text, now)
    return proto.events_received()


def pcm(seconds: float, rate: int = 16000) -> bytes:
    return b"\x01\x00" * int(rate * seconds)


class TestFraming:
    """D13: 50 ms frames whatever the caller's chunk size; tails go out before controls."""

    def test_any_chunk_sizes_become_50_ms_frames(self):
        proto = STTProtocol(STTOptions())
        for size in (1, 999, 3000, 1):  # 4001 bytes in odd pieces
            proto.send_audio(b"\x00" * size)
        out = proto.data_to_send()
        assert [len(f) for f in out] == [1600, 1600]
        assert proto.audio_bytes_sent == 3200

    def test_finalize_sends_the_tail_first_and_whole_samples_only(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(b"\x00" * 1601)  # one frame and a half sample
        proto.finalize()
        assert proto.data_to_send() == [b"\x00" * 1600, FINALIZE]
        proto.send_audio(b"\x00" * 1001)
        proto.finalize()
        assert proto.data_to_send() == [b"\x00" * 1000, FINALIZE]  # the odd byte is never sent

    def test_g711_frames_are_one_byte_per_sample(self):
        proto = STTProtocol(STTOptions(encoding="mulaw", sample_rate=8000))
        proto.send_audio(b"\xff" * 900)
        assert [len(f) for f in proto.data_to_send()] == [400, 400]
        proto.end()
        assert proto.data_to_send() == [b"\xff" * 100, CLOSE]

    def test_opus_frames_pass_through_unchanged(self):
        proto = STTProtocol(STTOptions(encoding="opus", sample_rate=48000))
        proto.send_audio(b"abc")
        proto.send_audio(b"defgh")
        assert proto.data_to_send() == [b"abc", b"defgh"]
        assert proto.audio_seconds is None

    def test_frame_ms_is_checked(self):
        with pytest.raises(InvalidOptionError, match="frame_ms=5 "):
            STTProtocol(STTOptions(), frame_ms=5)
        proto = STTProtocol(STTOptions(), frame_ms=100)
        proto.send_audio(b"\0" * 3200)
        assert proto.data_to_send() == [b"\0" * 3200]  # 100 ms of 16 kHz PCM16: one frame

    def test_send_audio_says_whether_a_frame_is_ready(self):
        proto = STTProtocol(STTOptions())
        # 20 ms chunks (640 bytes) into 50 ms frames (1600): the third completes one
        assert [proto.send_audio(b"\1" * 640) for _ in range(5)] == [
            False,
            False,
            True,
            True,  # the frame is still queued: pending until data_to_send()
            True,  # and the fifth completes a second one
        ]
        assert proto.pending
        assert proto.data_to_send() == [b"\1" * 1600, b"\1" * 1600]
        assert not proto.pending and not proto.send_audio(b"")
        assert proto.audio_bytes_queued == 3200 and proto.audio_bytes_sent == 3200

    def test_one_chunk_of_many_frames_keeps_its_bytes_in_order(self):
        proto = STTProtocol(STTOptions(), frame_ms=10)  # 320-byte frames
        proto.send_audio(b"\0" * 100)
        data = bytes(range(256)) * 4  # 1024 bytes: 1124 held = 3 frames and 164 left
        assert proto.send_audio(bytearray(data))
        out = proto.data_to_send()
        assert [len(f) for f in out] == [320, 320, 320]
        assert all(type(f) is bytes for f in out)
        proto.finalize()
        tail = proto.data_to_send()
        assert b"".join(out) + tail[0] == b"\0" * 100 + data and tail[1] == FINALIZE
        assert proto.audio_bytes_sent == 1124

    def test_queued_frames_stay_pending_while_a_chunk_fills_nothing(self):
        proto = STTProtocol(STTOptions())
        proto.finalize()  # a control frame waiting for a socket (a reconnect)
        assert proto.send_audio(b"\0" * 2)  # no frame filled, but there is something to write
        assert proto.data_to_send() == [FINALIZE]
        assert proto.audio_bytes_sent == 0

    def test_cancel_drops_queued_audio_from_the_count(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.1))
        proto.cancel()
        assert proto.data_to_send() == [] and proto.audio_bytes_sent == 0

    def test_streaming_refuses_batch_options(self):
        with pytest.raises(InvalidOptionError, match="model='pulse-pro'"):
            STTProtocol(STTOptions(model="pulse-pro"))


class TestControl:
    """D1: finalize per turn, one close_stream at the end; D2: keepalive on request."""

    def test_finalize_end_keepalive_frames(self):
        proto = STTProtocol(STTOptions())
        proto.keepalive()
        proto.finalize()
        proto.end()
        proto.end()  # idempotent: close_stream goes out once
        proto.keepalive()
        assert proto.data_to_send() == [KEEPALIVE, FINALIZE, CLOSE, KEEPALIVE]
        assert proto.state is STTState.ENDING

    def test_audio_and_finalize_after_end_are_caller_bugs(self):
        proto = STTProtocol(STTOptions())
        proto.end()
        with pytest.raises(InvalidState, match="cannot send audio: the transcription is ending"):
            proto.send_audio(b"\0\0")
        with pytest.raises(InvalidState, match="cannot finalize"):
            proto.finalize()

    def test_cancel_drops_queued_frames_and_later_events(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.1))
        proto.cancel()
        assert proto.data_to_send() == []
        assert drive(proto, final("late")) == []
        assert proto.frames_dropped == 1 and proto.state is STTState.CANCELLED
        with pytest.raises(InvalidState):
            proto.end()

    def test_sends_after_a_failure_are_dropped_not_raised(self):
        proto = STTProtocol(STTOptions())
        drive(proto, frame(type="error", status="error", message="boom"))
        proto.send_audio(pcm(0.1))
        proto.finalize()
        proto.end()
        assert proto.data_to_send() == [] and proto.state is STTState.FAILED


class TestTranscripts:
    """§3 transcript events; D3 text field order; D7 speakers as strings."""

    def test_partial_with_both_text_fields(self):
        text = frame(
            type="transcription",
            status="success",
            session_id="s-1",
            transcript="hello wor",
            transcription="hello wor",
            is_final=False,
            is_last=False,
        )
        assert drive(STTProtocol(STTOptions()), text) == [
            InterimTranscript(text="hello wor", session_id="s-1")
        ]

    @pytest.mark.parametrize(
        ("fields", "text"),
        [
            ({"transcription": "only transcription"}, "only transcription"),
            ({"transcript": "only transcript"}, "only transcript"),
            ({"text": "ci test"}, "ci test"),
            ({"transcript": "first", "transcription": "second", "text": "third"}, "first"),
            ({}, ""),
        ],
    )
    def test_text_field_order(self, fields, text):
        [event] = drive(
            STTProtocol(STTOptions()), frame(type="transcription", is_final=True, **fields)
        )
        assert isinstance(event, FinalTranscript) and event.text == text

    def test_legacy_frame_without_type_or_status(self):
        legacy = frame(session_id="s", transcript="legacy", is_final=True, language="en")
        [event] = drive(STTProtocol(STTOptions()), legacy)
        assert event == FinalTranscript(text="legacy", language="en", session_id="s")

    def test_final_with_everything(self):
        text = final(
            "Hello, [FIRSTNAME_1].",
            language="en",
            languages=["en", "hi"],
            speech_final=True,
            words=[
                {"word": "Hello,", "start": 0.16, "end": 0.62, "confidence": 0.99,
                 "speaker": 0, "speaker_confidence": 1.0},
                {"word": "[FIRSTNAME_1].", "start": 0.7, "end": 1.4, "confidence": 0.9,
                 "speaker": "speaker_1"},
            ],
            utterances=[{"text": "Hello, [FIRSTNAME_1].", "start": 0.16, "end": 1.4, "speaker": 0}],
            redacted_entities=["[FIRSTNAME_1]"],
        )  # fmt: skip
        [event] = drive(STTProtocol(STTOptions()), text)
        assert event == FinalTranscript(
            text="Hello, [FIRSTNAME_1].",
            words=(
                Word(word="Hello,", start=0.16, end=0.62, confidence=0.99, speaker="0",
                     speaker_confidence=1.0),
                Word(word="[FIRSTNAME_1].", start=0.7, end=1.4, confidence=0.9,
                     speaker="speaker_1"),
            ),
            start=0.16,
            end=1.4,
            language="en",
            languages=("en", "hi"),
            speech_final=True,
            segments=(Segment(text="Hello, [FIRSTNAME_1].", start=0.16, end=1.4, speaker="0"),),
            redacted_entities=("[FIRSTNAME_1]",),
            session_id="s-1",
        )  # fmt: skip

    def test_utterance_text_under_transcript_is_read_too(self):
        text = final("x", utterances=[{"transcript": "x", "start": 0, "end": 1}])
        [event] = drive(STTProtocol(STTOptions()), text)
        assert event.segments == (Segment(text="x", start=0.0, end=1.0),)

    def test_repr_is_short(self):
        [event] = drive(STTProtocol(STTOptions()), final("word " * 40, from_finalize=True))
        assert len(repr(event)) < 120 and "from_finalize=True" in repr(event)


class TestVadAndSkipped:
    """§3 VAD events; pong and unknown types are skipped (§5, §7.15)."""

    def test_speech_started_and_ended(self):
        events = drive(
            STTProtocol(STTOptions()),
            frame(type="speech_started", session_id="s", timestamp=1.84),
            frame(type="speech_ended", session_id="s", timestamp=4.52),
        )
        assert events == [
            SpeechStarted(timestamp=1.84, session_id="s"),
            SpeechEnded(timestamp=4.52, session_id="s"),
        ]

    def test_pong_and_unknown_types_are_skipped(self):
        proto = STTProtocol(STTOptions())
        assert drive(proto, frame(type="pong"), frame(type="metrics", x=1), frame(foo=1)) == []
        assert proto.state is STTState.OPEN


class TestErrors:
    """§2 / D4: four error shapes, classified by the same tables as TTS."""

    def drive_error(self, text: str):
        proto = STTProtocol(STTOptions())
        [event] = drive(proto, text)
        assert isinstance(event, ErrorEvent) and event.request_id is None
        assert proto.state is STTState.FAILED and proto.error is event.error
        assert drive(proto, final("after")) == []  # later frames are dropped
        return event.error

    def test_shape_a_type_status_message(self):
        error = self.drive_error(frame(type="error", status="error", message="Invalid sample_rate"))
        assert isinstance(error, InvalidRequestError) and "Invalid sample_rate" in str(error)

    def test_shape_b_region_error_code_is_permanent(self):
        error = self.drive_error(
            frame(
                type="error", error_code="LANGUAGE_NOT_ENABLED_IN_REGION", message="ta: India only"
            )
        )
        assert isinstance(error, InvalidRequestError) and not error.retryable
        assert error.code == "LANGUAGE_NOT_ENABLED_IN_REGION"

    def test_shape_c_nested_error(self):
        error = self.drive_error(
            frame(
                status="error",
                error={"message": "Too many concurrent sessions", "code": "RATE_LIMIT"},
            )
        )
        assert isinstance(error, RateLimitError) and error.retryable

    def test_shape_d_direct_server(self):
        error = self.drive_error(frame(error="inference failed"))
        assert isinstance(error, ServerError) and "inference failed" in str(error)

    def test_error_key_next_to_a_transcript_is_not_an_error(self):
        [event] = drive(
            STTProtocol(STTOptions()),
            frame(type="transcription", transcript="ok", is_final=True, error="x"),
        )
        assert isinstance(event, FinalTranscript) and event.text == "ok"

    def test_auth_error_frame(self):
        error = self.drive_error(frame(type="error", message="Unauthorized: bad api key"))
        assert isinstance(error, AuthenticationError)

    @pytest.mark.parametrize(
        "bad",
        [
            "not json",
            "[1, 2]",
            '"text"',
            frame(type="transcription", is_final="yes"),
            frame(type="transcription", is_final=True, transcript=5),
            frame(type="transcription", is_final=True, words={"word": "x"}),
            frame(type="transcription", is_final=True, words=[word(start="0")]),
            frame(type="transcription", is_final=True, words=[{"start": 0, "end": 1}]),
            frame(type="transcription", is_final=True, words=[word(speaker=1.5)]),
            frame(type="transcription", is_final=True, words=[word(confidence="hi")]),
            frame(type="transcription", is_final=True, language=3),
            frame(type="transcription", is_final=True, languages="en"),
            frame(type="transcription", is_final=True, utterances=[{"text": "x"}]),
            frame(type="speech_started"),
            '{"type": "transcription", "is_final": true, "words": '
            '[{"word": "x", "start": NaN, "end": 1}]}',
        ],
    )
    def test_bad_frames_become_protocol_errors(self, bad):
        proto = STTProtocol(STTOptions())
        [event] = drive(proto, bad)
        assert isinstance(event.error, ProtocolError) and "unparseable frame" in str(event.error)

    def test_word_numbers_ints_become_floats_and_the_rest_is_refused(self):
        [event] = drive(
            STTProtocol(STTOptions()),
            final("x", words=[word(start=0, end=1, confidence=1, speaker=2, speaker_confidence=0)]),
        )
        [got] = event.words
        assert got == Word(
            word="x", start=0.0, end=1.0, confidence=1.0, speaker="2", speaker_confidence=0.0
        )
        assert all(type(v) is float for v in (got.start, got.end, got.confidence))
        assert type(got.speaker_confidence) is float

    @pytest.mark.parametrize(
        ("fields", "why"),
        [
            ({"start": True}, "a word's start/end are not finite numbers"),
            ({"end": None}, "a word's start/end are not finite numbers"),
            ({"word": 3, "start": "0"}, "a word has no word string"),  # text is checked first
            ({"confidence": False}, "confidence is not a finite number"),
            ({"speaker_confidence": "1"}, "speaker_confidence is not a finite number"),
            ({"speaker": True}, "speaker is neither an integer nor a string"),
        ],
    )
    def test_bad_word_fields_say_which(self, fields, why):
        with pytest.raises(ProtocolError, match=why):
            parse_stt_frame(final("x", words=[word(**fields)]))

    @pytest.mark.parametrize("where", ["start", "end", "confidence", "speaker_confidence"])
    def test_non_finite_word_numbers_are_refused(self, where):
        raw = final("x", words=[word(**{where: 0.5})]).replace("0.5", "Infinity")
        with pytest.raises(ProtocolError, match=r"not a finite number|not finite numbers"):
            parse_stt_frame(raw)

    def test_binary_frame_is_a_protocol_error(self):
        proto = STTProtocol(STTOptions())
        proto.receive_bytes(b"\x00\x01")
        [event] = proto.events_received()
        assert isinstance(event.error, ProtocolError) and "binary frame of 2 bytes" in str(
            event.error
        )

    def test_error_quotes_are_redacted(self):
        with pytest.raises(ProtocolError) as info:
            parse_stt_frame('{"key": "sk_live_abcdef123456", broken')
        assert "sk_live" not in str(info.value)

    @given(
        st.recursive(
            st.none() | st.booleans() | st.floats() | st.text(),
            lambda inner: st.lists(inner) | st.dictionaries(st.text(), inner),
        )
    )
    def test_parsing_never_raises_anything_but_protocol_error(self, value):
        kinds = (InterimTranscript, FinalTranscript, SpeechStarted, SpeechEnded, ErrorEvent)
        for text in (
            json.dumps(value),
            json.dumps({"type": "transcription", "is_final": True, "words": value}),
        ):
            try:
                event = parse_stt_frame(text)
            except ProtocolError as exc:
                assert "unparseable frame" in str(exc)
            else:
                assert event is None or isinstance(event, kinds)


class TestFinalize:
    """D5: a final answers our finalize by its flag, or by being the first one after it."""

    def test_server_without_the_flag(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(1.0))
        proto.finalize()
        proto.data_to_send()
        [event] = drive(proto, final("one", words=[{"word": "one", "start": 0.1, "end": 0.4}]))
        assert event.from_finalize and proto.pending_finalizes == 0
        assert proto.covered_seconds == 1.0  # everything before the finalize
        [event] = drive(proto, final("two"))
        assert not event.from_finalize  # an endpointing final, no finalize pending

    def test_server_that_sends_the_flag_is_trusted(self):
        proto = STTProtocol(STTOptions())
        proto.finalize()
        drive(proto, final("a", from_finalize=True))
        proto.finalize()
        [rollover, answer] = drive(proto, final("b"), final("", from_finalize=True))
        assert not rollover.from_finalize and answer.from_finalize
        assert proto.pending_finalizes == 0

    def test_an_unanswered_finalize_expires(self):
        """A server that ignores finalize: a final 2 s later is an endpoint, not the answer."""
        proto = STTProtocol(STTOptions())
        proto.finalize(now=10.0)
        [late] = drive_at(proto, 12.5, final("endpoint"))
        assert not late.from_finalize and proto.pending_finalizes == 0
        proto.finalize(now=20.0)
        [answer] = drive_at(proto, 21.9, final("answer"))
        assert answer.from_finalize

    def test_finalize_answer_may_be_empty(self):
        proto = STTProtocol(STTOptions())
        proto.finalize()
        [event] = drive(proto, final("", from_finalize=True))
        assert event.text == "" and proto.finals == 1 and proto.state is STTState.OPEN


class TestTimes:
    """§4: times are seconds of the stream's audio, monotonic across finals."""

    def test_words_before_the_previous_final_are_clamped(self):
        proto = STTProtocol(STTOptions())
        w = lambda word, s, e: {"word": word, "start": s, "end": e}  # noqa: E731
        first, second = drive(
            proto,
            final("a b", words=[w("a", 0.5, 1.0), w("b", 1.0, 2.0)]),
            final("c d", words=[w("c", 1.5, 1.8), w("d", 2.2, 2.6)]),
        )
        assert (first.start, first.end) == (0.5, 2.0)
        assert [(x.start, x.end) for x in second.words] == [(2.0, 2.0), (2.2, 2.6)]
        assert (second.start, second.end) == (2.0, 2.6)
        assert proto.covered_seconds == 2.6


class TestEnd:
    """§3 clean end and D22: is_last, or the server's close after close_stream."""

    def test_is_last_final_ends_the_session(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.5))
        proto.end()
        proto.data_to_send()
        events = drive(proto, final("pending"), final("", is_last=True))
        assert [e.is_last for e in events] == [False, True]
        assert proto.state is STTState.DONE and proto.finished
        assert proto.covered_seconds == 0.5
        assert drive(proto, final("late")) == [] and proto.frames_dropped == 1

    def test_is_last_without_is_final_is_final(self):
        proto = STTProtocol(STTOptions())
        [event] = drive(proto, frame(type="transcription", transcript="x", is_last=True))
        assert isinstance(event, FinalTranscript) and event.is_last

    def test_clean_close_after_close_stream_is_done(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.2))
        proto.end()
        proto.data_to_send()
        proto.connection_lost(error_from_close(1000, ""))
        assert proto.state is STTState.DONE and proto.events_received() == []


class TestConnectionLost:
    """Retry only where nothing was lost; after audio, say how much finals covered."""

    def test_drop_before_audio_keeps_the_retryable_error(self):
        proto = STTProtocol(STTOptions())
        proto.finalize()
        proto.data_to_send()
        proto.connection_lost(error_from_close(None, "dropped"))
        [event] = proto.events_received()
        assert type(event.error) is ConnectionLostError and event.error.retryable

    def test_drop_after_audio_is_transcription_lost(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(2.0))
        proto.finalize()
        proto.data_to_send()
        drive(proto, final("first", words=[{"word": "first", "start": 0.2, "end": 0.9}]))
        proto.send_audio(pcm(1.0))
        proto.data_to_send()
        proto.connection_lost(error_from_close(1011, "internal"))
        [event] = proto.events_received()
        error = event.error
        assert isinstance(error, TranscriptionLostError) and not error.retryable
        assert (error.covered_seconds, error.audio_seconds) == (2.0, 3.0)
        assert "after 3.00 s of audio; finals cover the first 2.00 s" in str(error)
        assert isinstance(error.__cause__, ConnectionLostError)

    def test_permanent_errors_after_audio_stay_themselves(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.1))
        proto.data_to_send()
        [event] = drive(proto, frame(type="error", message="invalid encoding"))
        assert type(event.error) is InvalidRequestError

    def test_unsent_audio_is_not_lost(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.1))  # queued, never handed to a socket
        proto.connection_lost(error_from_close(None))
        assert type(proto.events_received()[0].error) is ConnectionLostError

    def test_reconnected_keeps_unsent_frames(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(b"\0" * 100)
        proto.finalize()
        proto.connection_lost(error_from_close(1013))  # the upgrade never completed
        assert isinstance(proto.events_received()[0].error, ServerError)
        proto.reconnected()
        assert proto.state is STTState.OPEN and proto.error is None
        assert proto.pending_finalizes == 1
        assert proto.data_to_send() == [b"\0" * 100, FINALIZE]

    def test_reconnected_replays_what_the_lost_socket_took(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.1))
        proto.keepalive()
        proto.finalize()
        proto.end()
        took = proto.data_to_send()
        assert took == [pcm(0.05), pcm(0.05), KEEPALIVE, FINALIZE, CLOSE]
        proto.connection_lost(error_from_close(None))
        # the server acknowledged nothing: nothing was lost, the error stays itself
        assert type(proto.events_received()[0].error) is ConnectionLostError
        assert proto.can_replay
        proto.reconnected()
        assert proto.state is STTState.ENDING and proto.pending_finalizes == 1
        assert proto.audio_bytes_sent == 0
        assert proto.data_to_send() == [pcm(0.05), pcm(0.05), FINALIZE, CLOSE]
        assert proto.audio_bytes_sent == 3200

    def test_an_event_acknowledges_and_ends_the_replay(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.1))
        proto.data_to_send()
        drive(proto, frame(type="transcription", transcript="x", is_final=False))
        assert not proto.can_replay
        with pytest.raises(InvalidState, match="had acknowledged audio"):
            proto.reconnected()

    def test_an_error_frame_is_no_acknowledgement(self):
        proto = STTProtocol(STTOptions())
        proto.send_audio(pcm(0.1))
        proto.data_to_send()
        [event] = drive(proto, frame(type="error", message="Too many concurrent sessions"))
        assert proto.can_replay and type(event.error) is RateLimitError

    def test_replay_is_capped(self):
        proto = STTProtocol(STTOptions(), replay_bytes=3200)
        proto.send_audio(pcm(0.1))
        proto.data_to_send()
        assert proto.can_replay
        proto.send_audio(pcm(0.05))
        proto.data_to_send()
        assert not proto.can_replay
        proto.connection_lost(error_from_close(1006))
        assert isinstance(proto.events_received()[0].error, TranscriptionLostError)


class TestHttpErrors:
    """§2: the unified STT body ``{"error", "message"}`` may carry the same text twice."""

    def test_repeated_message_is_not_a_code(self):
        body = '{"error": "Invalid \'model\': pulse-9", "message": "Invalid \'model\': pulse-9"}'
        error = error_from_status(400, body)
        assert isinstance(error, InvalidRequestError) and error.code is None
        assert str(error) == "HTTP 400 Bad Request: Invalid 'model': pulse-9"

    def test_413_is_a_permanent_invalid_request(self):
        error = error_from_status(413, '{"error": "Audio file exceeds the limit."}')
        assert isinstance(error, InvalidRequestError) and not error.retryable


class TestBatchResponses:
    """§1.6 / D17: only the text is required."""

    def test_pulse_example(self):
        body = (
            '{"status":"success","transcription":"Hello, how are you?","words":[{"word":"Hello,",'
            '"start":0.16,"end":0.62,"confidence":0.99,"speaker":0,"speaker_confidence":1.0}],'
            '"utterances":[{"text":"Hello, how are you?","start":0.16,"end":1.4,"speaker":0}],'
            '"metadata":{"duration":1.6,"fileSize":51244}}'
        )
        result = parse_transcription(body.encode())
        assert result.text == "Hello, how are you?" and result.duration == 1.6
        assert result.words[0] == Word(
            word="Hello,",
            start=0.16,
            end=0.62,
            confidence=0.99,
            speaker="0",
            speaker_confidence=1.0,
        )
        assert result.segments[0].end == 1.4 and result.language is None

    def test_pulse_pro_and_legacy_shapes(self):
        pro = parse_transcription(
            '{"status":"success","transcription":"hi","language":"en","request_id":"r-1",'
            '"metadata":{"duration":0.5,"rtfx":80}}'
        )
        assert (pro.language, pro.request_id, pro.duration) == ("en", "r-1", 0.5)
        legacy = parse_transcription('{"transcript":"old","audio_length":2.5}')
        assert (legacy.text, legacy.duration) == ("old", 2.5)

    def test_error_body_and_missing_text(self):
        with pytest.raises(SmallestError, match=r"handling audio data \(Audio data too large\)"):
            parse_transcription(
                '{"status":"error","message":"Error handling audio data",'
                '"errors":"Audio data too large"}'
            )
        with pytest.raises(ProtocolError, match="no transcription text"):
            parse_transcription('{"status":"success"}')
        with pytest.raises(ProtocolError, match="not JSON"):
            parse_transcription(b"<html>")
