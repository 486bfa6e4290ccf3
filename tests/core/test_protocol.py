"""The sans-I/O Protocol: caller actions → frames, server frames → routed events.

No sockets and no event loop: frames go in as strings, and tests assert on
``data_to_send()`` and ``events_received()`` (the websockets ``test_protocol`` pattern).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from smallest_core.errors import (
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidState,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
)
from smallest_core.events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from smallest_core.options import TTSOptions
from smallest_core.protocol import Protocol
from smallest_core.state import UtteranceState

OPTS = TTSOptions(complete_backoff_ms=0)
PCM = b"\x00\x01" * 4


# -- helpers ----------------------------------------------------------------------------------
def drive(proto: Protocol, *frames: str | bytes | dict[str, Any]) -> list[Event]:
    """Feed server frames (dicts are JSON-encoded; bytes are binary frames) → events."""
    for f in frames:
        if isinstance(f, bytes):
            proto.receive_bytes(f)
        else:
            proto.receive_text(f if isinstance(f, str) else json.dumps(f))
    return proto.events_received()


def sent(proto: Protocol) -> list[dict[str, Any]]:
    """The frames the protocol wants written, decoded."""
    return [json.loads(f) for f in proto.data_to_send()]


def ids(rid: str | None, *, context: bool = True) -> dict[str, str]:
    """Correlation fields as the server echoes them (§5.3, §12)."""
    out = {"session_id": "ws_1", "request_id": f"task-{rid}"}
    if rid is not None:
        out["external_request_id"] = rid
        if context:
            out["context_id"] = rid
    return out


def chunk(rid: str | None, audio: bytes = PCM) -> dict[str, Any]:
    return {**ids(rid), "status": "chunk", "data": {"audio": base64.b64encode(audio).decode()}}


def word(rid: str, index: int, text: str, start: float, end: float) -> dict[str, Any]:
    data = {"id": index, "word": text, "start": start, "end": end}
    return {**ids(rid), "status": "word_timestamp", "data": data}


def complete(rid: str | None) -> dict[str, Any]:
    return {**ids(rid), "status": "complete"}


def error(rid: str | None, message: str, code: str = "X") -> dict[str, Any]:
    return {
        **ids(rid),
        "status": "error",
        "message": message,
        "error": {"code": code, "message": message},
    }


def cont(**kw: Any) -> Protocol:
    return Protocol(kw.pop("options", OPTS), mode="continuations")


def flushing(**kw: Any) -> Protocol:
    return Protocol(kw.pop("options", OPTS), mode="flush")


# -- tests ------------------------------------------------------------------------------------
class TestConstruction:
    """§5.2 vs §12: two modes; only continuations are multiplexed."""

    def test_modes(self):
        assert cont().multiplexed and not flushing().multiplexed

    def test_unknown_mode_is_rejected(self):
        with pytest.raises(InvalidOptionError, match=r"^mode='duplex'"):
            Protocol(OPTS, mode="duplex")  # type: ignore[arg-type]

    def test_options_must_be_tts_options(self):
        with pytest.raises(InvalidOptionError, match=r"^options="):
            Protocol({"voice_id": "x"})  # type: ignore[arg-type]

    def test_a_fresh_protocol_has_nothing_to_say(self):
        proto = cont()
        assert proto.data_to_send() == [] and proto.events_received() == []
        assert (proto.active, proto.dropped, proto.poisoned, proto.error) == ((), 0, False, None)


class TestOpen:
    """Opening an utterance: ids, duplicates, and flush mode's one-open-at-a-time rule."""

    def test_generated_ids_are_u_dash_uuid_hex(self):
        proto = cont()
        rid = proto.open()
        assert rid.startswith("u-") and len(rid) == 34 and int(rid[2:], 16) >= 0
        assert proto.open() != rid
        assert proto.open("").startswith("u-")  # empty means "not given"

    def test_open_sends_nothing_and_the_utterance_is_active(self):
        proto = cont()
        proto.open("a")
        assert proto.data_to_send() == [] and proto.active == ("a",)
        assert proto.state("a") is UtteranceState.OPEN

    def test_duplicate_active_id_is_rejected(self):
        proto = cont()
        proto.open("a")
        with pytest.raises(InvalidState, match="already active"):
            proto.open("a")

    def test_a_finished_id_cannot_be_reused_on_the_same_connection(self):
        proto = cont()
        proto.open("a")
        proto.end("a")
        with pytest.raises(InvalidState, match="already used"):
            proto.open("a")

    def test_bad_id_is_rejected_before_anything_happens(self):
        proto = cont()
        with pytest.raises(InvalidOptionError, match=r"^request_id="):
            proto.open("has space")
        assert proto.active == ()

    def test_per_utterance_options_are_used_for_its_frames(self):
        proto = cont()
        proto.open("a", options=OPTS.replace(voice_id="liam", speed=1.5))
        proto.open("b")
        proto.end("a", "x")
        proto.end("b", "y")
        a, b = sent(proto)
        assert (a["voice_id"], a["speed"]) == ("liam", 1.5)
        assert (b["voice_id"], b["speed"]) == ("meher", 1.0)

    def test_flush_mode_allows_one_open_utterance_at_a_time(self):
        proto = flushing()
        proto.open("a")
        with pytest.raises(InvalidState, match="'a' is still open"):
            proto.open("b")

    def test_flush_mode_pipelines_after_end(self):
        proto = flushing()
        proto.open("a")
        proto.end("a", "one")
        proto.open("b")
        assert proto.active == ("a", "b")

    def test_continuations_multiplex_open_utterances(self):
        proto = cont()
        proto.open("a")
        proto.open("b")
        proto.send_text("a", "x")
        proto.send_text("b", "y")
        assert [f["context_id"] for f in sent(proto)] == ["a", "b"]


class TestSendingFlushMode:
    """§5.2 frames and §5.4 empty input, in flush mode."""

    def test_one_shot_is_one_closing_frame(self):
        proto = flushing()
        rid = proto.open("a")
        proto.end(rid, "Hello there.")
        [frame] = sent(proto)
        assert (frame["text"], frame["continue"], frame["flush"]) == ("Hello there.", False, True)
        assert frame["request_id"] == "a" and "context_id" not in frame

    def test_streamed_fragments_then_an_empty_closing_frame(self):
        proto = flushing()
        proto.open("a")
        proto.send_text("a", "Hello, ")
        proto.send_text("a", "how are you?")
        proto.end("a")
        frames = sent(proto)
        assert [(f["text"], f["continue"], f["flush"]) for f in frames] == [
            ("Hello, ", True, False),
            ("how are you?", True, False),
            ("", False, True),
        ]
        assert all(f["voice_id"] == "meher" and "text" in f for f in frames)

    def test_flush_sends_a_flush_frame(self):
        proto = flushing()
        proto.open("a")
        proto.send_text("a", "Hi.")
        proto.flush("a")
        assert [(f["text"], f["continue"], f["flush"]) for f in sent(proto)] == [
            ("Hi.", True, False),
            ("", True, True),
        ]

    def test_text_with_flush_is_one_frame(self):
        proto = flushing()
        proto.open("a")
        proto.send_text("a", "Hi", flush=True)
        proto.flush("a")  # nothing new since: nothing more to send
        proto.send_text("a", "then", flush=False)
        assert [(f["text"], f["continue"], f["flush"]) for f in sent(proto)] == [
            ("Hi", True, True),
            ("then", True, False),
        ]

    def test_whitespace_with_flush_flushes_what_was_sent(self):
        proto = flushing()
        proto.open("a")
        proto.send_text("a", "Hi")
        proto.send_text("a", " ", flush=True)
        assert [(f["text"], f["flush"]) for f in sent(proto)] == [("Hi", False), ("", True)]
        assert proto.state("a") is UtteranceState.OPEN

    def test_state_moves_to_ending_on_end(self):
        proto = flushing()
        proto.open("a")
        proto.end("a", "x")
        assert proto.state("a") is UtteranceState.ENDING


class TestSendingContinuations:
    """§12 frames: ``context_id`` = ``request_id``; no ``flush`` on text frames."""

    def test_fragments_and_closing_frame(self):
        proto = cont()
        proto.open("c")
        proto.send_text("c", "Hello, ")
        proto.end("c")
        first, last = sent(proto)
        assert (first["context_id"], first["request_id"], first["continue"]) == ("c", "c", True)
        assert (last["text"], last["continue"]) == ("", False)
        assert "flush" not in first and "flush" not in last

    def test_one_shot_is_one_frame(self):
        proto = cont()
        proto.open("c")
        proto.end("c", "All at once.")
        [frame] = sent(proto)
        assert (frame["text"], frame["continue"]) == ("All at once.", False)

    def test_text_with_flush_is_one_frame_that_keeps_the_context_open(self):
        proto = cont()
        proto.open("c")
        proto.send_text("c", "Hi", flush=True)
        proto.send_text("c", " more")
        first, second = sent(proto)
        assert (first["text"], first["continue"], first["flush"]) == ("Hi", True, True)
        assert (second["text"], second["continue"]) == (" more", True)
        assert "flush" not in second

    def test_flush_is_a_flush_frame_that_keeps_the_context_open(self):
        proto = cont()
        proto.open("c")
        proto.send_text("c", "Hi.")
        proto.flush("c")
        frame = sent(proto)[1]
        assert (frame["text"], frame["continue"], frame["flush"]) == ("", True, True)
        assert (frame["context_id"], frame["voice_id"]) == ("c", "meher")


class TestEmptyAndWhitespace:
    """§5.4: whitespace-only text produces no audio; an empty request produces no frames."""

    @pytest.mark.parametrize("factory", [cont, flushing])
    def test_whitespace_only_text_is_not_sent_but_separates_the_next_text(self, factory):
        proto = factory()
        proto.open("a")
        proto.send_text("a", "end.")
        proto.send_text("a", " ")
        proto.send_text("a", "\n")
        proto.send_text("a", "Next")
        assert [f["text"] for f in sent(proto)] == ["end.", " \nNext"]

    @pytest.mark.parametrize("factory", [cont, flushing])
    def test_end_without_any_text_sends_nothing_and_completes_locally(self, factory):
        proto = factory()
        proto.open("a")
        proto.send_text("a", "   ")
        proto.flush("a")
        proto.end("a", " ")
        assert proto.data_to_send() == []
        assert proto.events_received() == [Complete("a")]
        assert proto.state("a") is UtteranceState.DONE and proto.active == ()

    def test_trailing_whitespace_is_dropped_at_end(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "Hi")
        proto.send_text("a", "  ")
        proto.end("a", "\t")
        assert [f["text"] for f in sent(proto)] == ["Hi", ""]

    def test_pending_whitespace_prefixes_the_end_text(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "Hi.")
        proto.send_text("a", " ")
        proto.end("a", "Bye.")
        assert [f["text"] for f in sent(proto)] == ["Hi.", " Bye."]

    def test_flush_with_nothing_new_sends_nothing(self):
        proto = flushing()
        proto.open("a")
        proto.flush("a")
        proto.send_text("a", "x")
        proto.flush("a")
        proto.flush("a")
        assert [f["flush"] for f in sent(proto)] == [False, True]


class TestCallerMisuse:
    """Misuse raises InvalidState (a bug, never retried), like h11's LocalProtocolError."""

    def test_send_after_end(self):
        proto = cont()
        proto.open("a")
        proto.end("a", "x")
        with pytest.raises(InvalidState, match="cannot send_text request 'a': it is ENDING"):
            proto.send_text("a", "more")

    def test_end_twice(self):
        proto = cont()
        proto.open("a")
        proto.end("a", "x")
        with pytest.raises(InvalidState, match="cannot end"):
            proto.end("a")

    def test_send_after_done(self):
        proto = cont()
        proto.open("a")
        proto.end("a")
        with pytest.raises(InvalidState, match="DONE"):
            proto.flush("a")

    def test_send_after_cancel(self):
        proto = cont()
        proto.open("a")
        proto.cancel("a")
        with pytest.raises(InvalidState, match="CANCELLED"):
            proto.send_text("a", "x")

    @pytest.mark.parametrize("call", ["send_text", "flush", "end", "cancel", "state"])
    def test_unknown_id(self, call: str):
        proto = cont()
        args: tuple[str, ...] = ("ghost", "x") if call == "send_text" else ("ghost",)
        with pytest.raises(InvalidState, match="unknown request 'ghost'"):
            getattr(proto, call)(*args)

    def test_text_must_be_a_string(self):
        proto = cont()
        proto.open("a")
        with pytest.raises(InvalidOptionError, match=r"^text=b'x'"):
            proto.send_text("a", b"x")  # type: ignore[arg-type]


class TestRouting:
    """§5.3: every frame is routed by its id; what belongs to nobody is dropped and counted."""

    def test_audio_and_words_reach_their_utterance_in_server_order(self):
        proto = cont()
        proto.open("a")
        proto.end("a", "Pay $100 now")
        events = drive(
            proto,
            chunk("a", b"1"),
            word("a", 0, "Pay", 0.0, 0.2),
            chunk("a", b"2"),
            word("a", 1, "$100", 0.2, 0.9),
            complete("a"),
        )
        assert events == [
            AudioChunk("a", b"1", "task-a"),
            WordTimestamp("a", 0, "Pay", 0.0, 0.2, "task-a"),
            AudioChunk("a", b"2", "task-a"),
            WordTimestamp("a", 1, "$100", 0.2, 0.9, "task-a"),
            Complete("a"),
        ]
        assert proto.state("a") is UtteranceState.DONE and proto.dropped == 0

    def test_interleaved_utterances_each_get_their_own_frames(self):
        proto = cont()
        for rid in ("a", "b"):
            proto.open(rid)
            proto.end(rid, rid)
        events = drive(
            proto, chunk("a", b"a1"), chunk("b", b"b1"), chunk("a", b"a2"), complete("b")
        )
        assert [(e.request_id, getattr(e, "audio", None)) for e in events] == [
            ("a", b"a1"),
            ("b", b"b1"),
            ("a", b"a2"),
            ("b", None),
        ]
        assert proto.active == ("a",)

    def test_frame_for_unknown_request_is_dropped(self):
        proto = cont()
        proto.open("a")
        assert drive(proto, chunk("stranger"), complete("stranger")) == []
        assert proto.dropped == 2 and not proto.poisoned

    def test_frame_without_any_id_is_dropped(self):
        proto = cont()
        proto.open("a")
        assert drive(proto, chunk(None), complete(None)) == []
        assert proto.dropped == 2

    def test_frame_for_finished_request_is_dropped(self):
        proto = cont()
        proto.open("a")
        proto.end("a", "x")
        drive(proto, complete("a"))
        assert drive(proto, chunk("a"), complete("a"), error("a", "late")) == []
        assert proto.dropped == 3 and proto.state("a") is UtteranceState.DONE

    def test_context_id_alone_routes(self):
        proto = cont()
        proto.open("a")
        frame = {"status": "chunk", "context_id": "a", "data": {"audio": "AAA="}}
        assert drive(proto, frame) == [AudioChunk("a", b"\x00\x00")]

    def test_drained_queues_are_empty_until_something_new_happens(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "x")
        assert len(proto.data_to_send()) == 1
        assert len(drive(proto, chunk("a"))) == 1
        assert proto.data_to_send() == [] and proto.events_received() == []


class TestCancel:
    """§12 ``cancel_request``; §5.4: flush mode has no cancel, frames are dropped here."""

    def test_continuations_cancel_sends_cancel_request(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "Hello")
        proto.data_to_send()
        proto.cancel("a")
        [frame] = sent(proto)
        assert frame["cancel_request"] is True and frame["context_id"] == "a"
        assert proto.state("a") is UtteranceState.CANCELLED and proto.active == ()

    def test_cancel_before_any_text_sends_nothing(self):
        proto = cont()
        proto.open("a")
        proto.cancel("a")
        assert proto.data_to_send() == []

    def test_flush_mode_cancel_sends_nothing(self):
        proto = flushing()
        proto.open("a")
        proto.send_text("a", "Hello")
        proto.data_to_send()
        proto.cancel("a")
        assert proto.data_to_send() == [] and proto.state("a") is UtteranceState.CANCELLED

    @pytest.mark.parametrize("factory", [cont, flushing])
    def test_frame_for_cancelled_request_is_dropped(self, factory):
        proto = factory()
        proto.open("a")
        proto.end("a", "Hello")
        proto.cancel("a")
        assert drive(proto, chunk("a"), word("a", 0, "Hello", 0, 1), complete("a")) == []
        assert proto.dropped == 3

    def test_events_not_yet_collected_are_discarded_by_cancel(self):
        proto = cont()
        proto.open("a")
        proto.open("b")
        proto.end("a", "x")
        proto.end("b", "y")
        proto.receive_text(json.dumps(chunk("a")))
        proto.receive_text(json.dumps(chunk("b")))
        proto.cancel("a")
        assert [e.request_id for e in proto.events_received()] == ["b"]

    def test_cancel_is_idempotent(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "x")
        proto.cancel("a")
        proto.data_to_send()
        proto.cancel("a")
        assert proto.data_to_send() == [] and proto.state("a") is UtteranceState.CANCELLED

    def test_cancel_after_completion_does_nothing(self):
        proto = cont()
        proto.open("a")
        proto.end("a")
        proto.events_received()
        proto.cancel("a")
        assert proto.state("a") is UtteranceState.DONE and proto.data_to_send() == []

    def test_cancel_lets_flush_mode_open_the_next_utterance(self):
        proto = flushing()
        proto.open("a")
        proto.cancel("a")
        assert proto.open("b") == "b"


class TestCompleteContinuations:
    """§12: one complete per context after its closing fragment; earlier ones are dropped."""

    def test_complete_while_open_is_dropped(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "First sentence. ")
        assert drive(proto, chunk("a"), complete("a")) == [AudioChunk("a", PCM, "task-a")]
        assert proto.dropped == 1 and proto.state("a") is UtteranceState.OPEN
        proto.end("a")
        assert drive(proto, chunk("a"), complete("a"))[-1] == Complete("a")

    def test_complete_ends_only_its_own_context(self):
        proto = cont()
        for rid in ("a", "b"):
            proto.open(rid)
            proto.end(rid, rid)
        assert drive(proto, complete("b")) == [Complete("b")]
        assert proto.active == ("a",)


class TestCompleteFlushMode:
    """§5.4/§9.2: a burst of pipelined requests may get one complete with the latest ids."""

    def pipelined(self, *rids: str) -> Protocol:
        proto = flushing()
        for rid in rids:
            proto.open(rid)
            proto.end(rid, f"text of {rid}")
        proto.data_to_send()
        return proto

    def test_complete_for_the_latest_completes_the_whole_burst_in_order(self):
        proto = self.pipelined("a", "b", "c")
        assert drive(proto, complete("c")) == [Complete("a"), Complete("b"), Complete("c")]
        assert proto.active == ()

    def test_complete_for_an_earlier_one_completes_only_up_to_it(self):
        proto = self.pipelined("a", "b", "c")
        assert drive(proto, complete("b")) == [Complete("a"), Complete("b")]
        assert proto.active == ("c",)

    def test_complete_for_a_cancelled_request_completes_the_ones_before_it(self):
        proto = self.pipelined("a", "b")
        proto.cancel("b")
        assert drive(proto, complete("b")) == [Complete("a")]

    def test_complete_for_the_open_request_completes_earlier_ones_only(self):
        proto = self.pipelined("a")
        proto.open("b")
        proto.send_text("b", "more")
        assert drive(proto, complete("b")) == [Complete("a")]
        assert proto.state("b") is UtteranceState.OPEN

    def test_complete_with_nothing_waiting_is_dropped(self):
        proto = flushing()
        proto.open("a")
        proto.send_text("a", "x")
        assert drive(proto, complete("a"), complete("ghost")) == []
        assert proto.dropped == 2


class TestErrorFrames:
    """§5.3 error frames: routed ones fail their utterance; id-less ones the connection."""

    def test_error_with_id_fails_only_that_utterance(self):
        proto = cont()
        proto.open("a")
        proto.open("b")
        proto.end("a", "x")
        [event] = drive(proto, error("a", "Invalid 'voice_id'", "INVALID_REQUEST"))
        assert isinstance(event, ErrorEvent) and event.request_id == "a"
        assert isinstance(event.error, InvalidRequestError)
        assert proto.state("a") is UtteranceState.FAILED
        assert proto.active == ("b",) and not proto.poisoned

    def test_concurrency_rejection_is_a_rate_limit_error(self):
        proto = cont()
        proto.open("a")
        proto.end("a", "x")
        [event] = drive(proto, error("a", "Concurrency limit exceeded"))
        assert isinstance(event, ErrorEvent) and isinstance(event.error, RateLimitError)

    def test_sends_after_a_routed_error_are_absorbed(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "x")
        proto.data_to_send()
        drive(proto, error("a", "bad"))
        proto.send_text("a", "y")
        proto.flush("a")
        proto.end("a", "z")
        assert proto.data_to_send() == [] and proto.events_received() == []

    def test_idle_timeout_without_id_fails_every_active_utterance(self):
        proto = cont()
        proto.open("a")
        proto.open("b")
        frame = {
            "status": "error",
            "message": "Connection timed out after 60 seconds of inactivity",
        }
        events = drive(proto, frame)
        assert [e.request_id for e in events] == ["a", "b"]
        assert all(
            isinstance(e, ErrorEvent) and isinstance(e.error, RequestTimeoutError) for e in events
        )
        assert proto.poisoned and isinstance(proto.error, RequestTimeoutError)


class TestPoisoning:
    """§5.3: malformed or binary frames break the connection for everyone on it."""

    @pytest.mark.parametrize(
        "bad",
        ["not json", '{"status":"mystery"}', '{"status":"chunk","data":{"audio":"!"}}', b"\x00"],
    )
    def test_malformed_frame_fails_every_active_utterance_with_protocol_error(self, bad):
        proto = cont()
        proto.open("a")
        proto.open("b")
        events = drive(proto, bad)
        assert [e.request_id for e in events] == ["a", "b"]
        assert all(isinstance(e, ErrorEvent) and isinstance(e.error, ProtocolError) for e in events)
        assert proto.poisoned and proto.active == ()
        assert proto.state("a") is UtteranceState.FAILED

    def test_poisoned_connection_refuses_further_calls(self):
        proto = cont()
        proto.open("a")
        drive(proto, b"binary")
        with pytest.raises(InvalidState, match="connection failed"):
            proto.open("b")
        for call, args in (("send_text", ("a", "x")), ("flush", ("a",)), ("end", ("a",))):
            with pytest.raises(InvalidState):
                getattr(proto, call)(*args)

    def test_cancel_after_poisoning_does_nothing(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "x")
        drive(proto, "garbage")
        proto.cancel("a")
        assert proto.data_to_send() == [] and proto.state("a") is UtteranceState.FAILED

    def test_frames_after_poisoning_are_dropped(self):
        proto = cont()
        proto.open("a")
        drive(proto, "garbage")
        assert drive(proto, chunk("a"), b"more") == []
        assert proto.dropped == 2

    def test_unsent_frames_are_discarded_on_failure(self):
        proto = cont()
        proto.open("a")
        proto.send_text("a", "x")
        drive(proto, "garbage")
        assert proto.data_to_send() == []

    def test_connection_lost_fails_everyone_with_the_given_error(self):
        proto = flushing()
        proto.open("a")
        proto.end("a", "x")
        proto.open("b")
        lost = ConnectionLostError("WebSocket closed with code 1006")
        proto.connection_lost(lost)
        events = proto.events_received()
        assert events == [ErrorEvent("a", lost), ErrorEvent("b", lost)]
        assert proto.error is lost

    def test_connection_lost_is_idempotent_and_keeps_the_first_error(self):
        proto = cont()
        proto.open("a")
        drive(proto, "garbage")
        proto.connection_lost(ConnectionLostError("later"))
        assert isinstance(proto.error, ProtocolError) and proto.events_received() == []

    def test_finished_utterances_are_not_failed_again(self):
        proto = cont()
        proto.open("a")
        proto.end("a")
        proto.events_received()
        proto.connection_lost(ConnectionLostError("bye"))
        assert proto.events_received() == [] and proto.state("a") is UtteranceState.DONE


class TestRepr:
    def test_repr_is_short_and_counts(self):
        proto = cont()
        proto.open("a")
        drive(proto, chunk("x"))
        assert repr(proto) == "Protocol(mode='continuations', ok, active=1, dropped=1)"


class TestSansIO:
    """style guide §2: the protocol layer imports without asyncio, websockets or httpx."""

    def test_protocol_modules_import_no_io_libraries(self):
        import subprocess
        import sys
        from pathlib import Path

        import smallest_core

        package_dir = Path(smallest_core.__file__).parent
        # Load the submodules under a bare package, skipping __init__ (which pulls in the
        # transports on purpose).
        script = f"""
import sys, types
pkg = types.ModuleType("smallest_core")
pkg.__path__ = [{str(package_dir)!r}]
sys.modules["smallest_core"] = pkg
import importlib
for name in ("errors", "options", "events", "codec", "state", "protocol", "retry"):
    importlib.import_module("smallest_core." + name)
loaded = sorted({{m.split(".")[0] for m in sys.modules}} & {{"asyncio", "websockets", "httpx"}})
print(",".join(loaded))
"""
        out = subprocess.run(
            [sys.executable, "-c", script], capture_output=True, text=True, check=True
        )
        assert out.stdout.strip() == ""


class TestFlushModeDrained:
    """§5.4: a ``complete`` while the utterance is still open, then an empty end."""

    def test_empty_end_after_a_mid_utterance_complete_completes_locally(self):
        proto = Protocol(TTSOptions(), mode="flush")
        rid = proto.open("a")
        proto.send_text(rid, "Hello there. ")
        proto.data_to_send()
        proto.receive_text(json.dumps({"status": "complete", "external_request_id": "a"}))
        assert proto.state(rid) is UtteranceState.OPEN
        proto.end(rid)
        assert proto.data_to_send() == []  # the server would answer nothing
        assert [type(e) for e in proto.events_received()] == [Complete]

    def test_new_text_after_the_complete_waits_for_the_server_again(self):
        proto = Protocol(TTSOptions(), mode="flush")
        rid = proto.open("a")
        proto.send_text(rid, "Hello there. ")
        proto.receive_text(json.dumps({"status": "complete", "external_request_id": "a"}))
        proto.send_text(rid, "More words")
        proto.end(rid)
        assert len(proto.data_to_send()) == 3
        assert proto.events_received() == []
        assert proto.state(rid) is UtteranceState.ENDING


class TestFlushModeDraining:
    """§5.4: flush mode has no cancel; the server finishes the abandoned request."""

    def test_cancelled_request_keeps_the_socket_draining_until_its_complete(self):
        proto = Protocol(TTSOptions(), mode="flush")
        rid = proto.open("old")
        proto.end(rid, "a long answer")
        proto.cancel(rid)
        assert proto.draining
        proto.receive_text(json.dumps({"status": "complete", "external_request_id": "old"}))
        assert not proto.draining
        assert proto.events_received() == []  # nothing of the cancelled one surfaces

    def test_cancel_before_any_text_does_not_drain(self):
        proto = Protocol(TTSOptions(), mode="flush")
        proto.cancel(proto.open("quiet"))
        assert not proto.draining

    def test_continuations_never_drain(self):
        proto = Protocol(TTSOptions())
        rid = proto.open("c")
        proto.end(rid, "text")
        proto.cancel(rid)
        assert not proto.draining
