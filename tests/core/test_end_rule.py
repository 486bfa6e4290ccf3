"""The continuations end rule and the utterance timeline, sans-I/O (docs/protocol.md §13).

A server may send one ``complete`` per context or one per sentence release (with a fresh
server ``request_id`` per release and word times restarting at 0). These tests feed both
readings into a bare :class:`Protocol` and check that no utterance is cut off, none waits
when it need not, the timers the transport must run are asked for, and word timestamps
land on the utterance's own timeline.
"""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from smallest_core import (
    AudioChunk,
    Complete,
    EndRule,
    InvalidOptionError,
    Protocol,
    TTSOptions,
    UtteranceState,
    WordTimestamp,
)

OPTS = TTSOptions(sample_rate=8000)
#: 0.5 s of s16 mono at 8 kHz.
HALF_SECOND = b"\x01\x00" * 4000


def frame(rid: str, server: str, status: str, data: dict[str, Any] | None = None) -> str:
    out: dict[str, Any] = {
        "session_id": "ws_1",
        "request_id": server,
        "external_request_id": rid,
        "status": status,
    }
    if data is not None:
        out["data"] = data
    return json.dumps(out)


def chunk(rid: str, server: str, audio: bytes = HALF_SECOND) -> str:
    return frame(rid, server, "chunk", {"audio": base64.b64encode(audio).decode()})


def word(rid: str, server: str, index: int, text: str, start: float, end: float) -> str:
    data = {"id": index, "word": text, "start": start, "end": end}
    return frame(rid, server, "word_timestamp", data)


def complete(rid: str, server: str) -> str:
    return frame(rid, server, "complete")


def feed(proto: Protocol, *frames: str) -> list[Any]:
    for f in frames:
        proto.receive_text(f)
    return proto.events_received()


def speak(proto: Protocol, rid: str, *texts: str) -> None:
    """Open ``rid``, send ``texts`` and close it (the closing fragment goes out)."""
    proto.open(rid)
    for text in texts:
        proto.send_text(rid, text)
    proto.end(rid)
    proto.data_to_send()


def ended(events: list[Any]) -> bool:
    return any(isinstance(e, Complete) for e in events)


class TestOneCompletePerContext:
    """The server completes a context once, after its closing fragment (today's local server)."""

    def test_single_sentence_ends_on_its_complete(self):
        proto = Protocol(OPTS)
        speak(proto, "a", "Hello there.")
        assert ended(feed(proto, chunk("a", "s1"), complete("a", "s1")))
        assert proto.timers_to_start() == []

    def test_several_sentences_wait_the_window_then_end(self):
        proto = Protocol(OPTS, end_rule=EndRule(window=0.3))
        speak(proto, "a", "One. Two. Three.")
        assert not ended(feed(proto, chunk("a", "s1"), complete("a", "s1")))
        [(rid, gen, seconds)] = proto.timers_to_start()
        assert (rid, seconds) == ("a", 0.3)
        assert proto.state("a") is UtteranceState.ENDING
        proto.quiet_elapsed(rid, gen)
        assert proto.events_received() == [Complete("a")]
        assert proto.state("a") is UtteranceState.DONE

    def test_learns_the_reading_after_clean_endings_then_ends_at_once(self):
        rule = EndRule(window=0.3)
        proto = Protocol(OPTS, end_rule=rule)
        for n in range(2):
            rid = f"u{n}"
            speak(proto, rid, "One. Two.")
            feed(proto, chunk(rid, "s"), complete(rid, "s"))
            [(_, gen, _)] = proto.timers_to_start()
            proto.quiet_elapsed(rid, gen)
            assert ended(proto.events_received())
        assert rule.reading == "context" and rule.clean_endings == 2
        speak(proto, "u2", "One. Two. Three.")
        assert ended(feed(proto, chunk("u2", "s"), complete("u2", "s")))
        assert proto.timers_to_start() == []

    def test_a_known_reading_skips_learning(self):
        proto = Protocol(OPTS, end_rule=EndRule(reading="context"))
        speak(proto, "a", "One. Two. Three.")
        assert ended(feed(proto, chunk("a", "s1"), complete("a", "s1")))


class TestOneCompletePerRelease:
    """The server completes each sentence release (LiveKit plugin PR #7111's reading)."""

    def test_text_faster_than_speech_is_not_cut_off(self):
        # The whole reply and the closing fragment are out before the first release has
        # finished: the first complete after end() belongs to release 1 of 2.
        proto = Protocol(OPTS)
        speak(proto, "a", "First sentence. ", "Second sentence.")
        events = feed(proto, chunk("a", "r1"), complete("a", "r1"))
        assert not ended(events)
        assert len(proto.timers_to_start()) == 1
        events = feed(proto, chunk("a", "r2"), complete("a", "r2"))
        assert [type(e) for e in events] == [AudioChunk, Complete]
        assert proto.end_rule.reading == "release"

    def test_ends_at_once_when_every_release_has_completed(self):
        proto = Protocol(OPTS)
        proto.open("a")
        proto.send_text("a", "One. Two. ")
        # release 1 completes before the closing fragment (proof of the reading)
        assert feed(proto, chunk("a", "r1"), complete("a", "r1")) == [
            AudioChunk("a", HALF_SECOND, "r1")
        ]
        assert proto.end_rule.reading == "release"
        proto.send_text("a", "Three.")
        proto.end("a")
        assert not ended(feed(proto, chunk("a", "r2"), complete("a", "r2")))
        assert proto.timers_to_start()[-1][0] == "a"  # 2 of 3 possible releases: wait
        assert ended(feed(proto, chunk("a", "r3"), complete("a", "r3")))  # 3 of 3: at once
        assert proto.timers_to_start() == []
        assert proto.state("a") is UtteranceState.DONE

    def test_a_release_reading_never_learns_per_context(self):
        rule = EndRule(reading="release")
        proto = Protocol(OPTS, end_rule=rule)
        for n in range(3):
            rid = f"u{n}"
            speak(proto, rid, "One. Two.")
            feed(proto, chunk(rid, "s"), complete(rid, "s"))
            [(_, gen, _)] = proto.timers_to_start()
            proto.quiet_elapsed(rid, gen)
        assert rule.reading == "release"

    def test_a_stale_timer_does_nothing(self):
        proto = Protocol(OPTS)
        speak(proto, "a", "One. Two. Three.")
        feed(proto, chunk("a", "r1"), complete("a", "r1"))
        [(_, old, _)] = proto.timers_to_start()
        feed(proto, chunk("a", "r2"))  # quiet broken: release 2 speaks
        proto.quiet_elapsed("a", old)
        assert proto.events_received() == []
        assert proto.state("a") is UtteranceState.ENDING


class TestLateFrames:
    def test_audio_after_the_end_is_dropped_counted_and_makes_the_rule_strict(self):
        rule = EndRule(reading="context")
        proto = Protocol(OPTS, end_rule=rule)
        speak(proto, "a", "One. Two.")
        assert ended(feed(proto, chunk("a", "r1"), complete("a", "r1")))
        assert feed(proto, chunk("a", "r2"), complete("a", "r2")) == []
        assert rule.late_frames == 1 and rule.strict and rule.reading == "release"
        # strict: even a single-release text now waits the window
        speak(proto, "b", "Hello.")
        assert not ended(feed(proto, chunk("b", "s"), complete("b", "s")))
        assert len(proto.timers_to_start()) == 1

    def test_window_grows_with_the_gaps_seen(self):
        rule = EndRule(window=0.2)
        rule.saw_gap(0.35)
        assert rule.quiet == pytest.approx(0.7)


class TestReleaseCounting:
    """Release boundaries are counted generously, across fragments."""

    @pytest.mark.parametrize(
        ("texts", "window"),
        [
            (("Hello.",), False),
            (("Hello. ",), False),
            (("Pi is 3.14 exactly",), False),
            (("Hello.", " World"), True),
            (("One. Two",), True),
            (("Wait; what",), True),
        ],
    )
    def test_window_only_when_more_releases_are_possible(self, texts, window):
        proto = Protocol(OPTS)
        speak(proto, "a", *texts)
        feed(proto, chunk("a", "s"), complete("a", "s"))
        assert bool(proto.timers_to_start()) is window


class TestTimeline:
    """Word timestamps land on the utterance's own timeline across releases."""

    def test_restarting_releases_are_shifted_by_the_audio_before_them(self):
        proto = Protocol(OPTS)
        speak(proto, "a", "Hi there. Bye now.")
        events = feed(
            proto,
            chunk("a", "r1"),
            word("a", "r1", 0, "Hi", 0.05, 0.2),
            word("a", "r1", 1, "there.", 0.2, 0.45),
            complete("a", "r1"),
            chunk("a", "r2"),
            word("a", "r2", 0, "Bye", 0.04, 0.2),
            word("a", "r2", 1, "now.", 0.2, 0.4),
            complete("a", "r2"),
        )
        words = [e for e in events if isinstance(e, WordTimestamp)]
        assert [(w.index, w.word) for w in words] == [
            (0, "Hi"),
            (1, "there."),
            (2, "Bye"),
            (3, "now."),
        ]
        assert [round(w.start, 3) for w in words] == [0.05, 0.2, 0.54, 0.7]
        assert ended(events)

    def test_a_server_counting_across_releases_is_left_alone(self):
        proto = Protocol(OPTS)
        speak(proto, "a", "Hi there. Bye now.")
        events = feed(
            proto,
            chunk("a", "r1"),
            word("a", "r1", 0, "Hi", 0.05, 0.2),
            chunk("a", "r2"),
            word("a", "r2", 1, "Bye", 0.52, 0.7),
        )
        words = [e for e in events if isinstance(e, WordTimestamp)]
        assert [(w.index, w.start) for w in words] == [(0, 0.05), (1, 0.52)]

    def test_one_release_is_untouched(self):
        proto = Protocol(OPTS)
        speak(proto, "a", "Hello world.")
        events = feed(proto, chunk("a", "s"), word("a", "s", 1, "world.", 0.3, 0.6))
        assert events[-1] == WordTimestamp("a", 1, "world.", 0.3, 0.6, "s")


class TestValidation:
    @pytest.mark.parametrize("window", [-1, 11, "1", True])
    def test_bad_window_names_the_field(self, window):
        with pytest.raises(InvalidOptionError, match="window"):
            EndRule(window=window)

    def test_bad_reading_names_the_allowed_values(self):
        with pytest.raises(InvalidOptionError, match="unknown, context, release"):
            EndRule(reading="sometimes")  # type: ignore[arg-type]

    def test_protocol_rejects_a_non_rule(self):
        with pytest.raises(InvalidOptionError, match="end_rule"):
            Protocol(OPTS, end_rule=0.5)  # type: ignore[arg-type]


class TestClosingAfterReleases:
    """A per-release server may answer an empty closing fragment with nothing at all."""

    def test_every_release_completed_before_the_close_ends_at_once(self):
        proto = Protocol(OPTS)
        proto.open("a")
        proto.send_text("a", "One. Two. ")
        feed(proto, chunk("a", "r1"), complete("a", "r1"), chunk("a", "r2"), complete("a", "r2"))
        proto.end("a")
        assert proto.events_received() == [Complete("a")]
        assert len(proto.data_to_send()) == 2  # the text and the closing fragment

    def test_text_left_unreleased_waits_for_quiet_or_more_audio(self):
        proto = Protocol(OPTS)
        proto.open("a")
        proto.send_text("a", "One. Two")
        feed(proto, chunk("a", "r1"), complete("a", "r1"))
        proto.end("a")
        [(_, gen, _)] = proto.timers_to_start()
        assert proto.events_received() == []
        feed(proto, chunk("a", "r2"))  # the tail is spoken: the quiet is broken
        proto.quiet_elapsed("a", gen)
        assert proto.events_received() == []
        assert ended(feed(proto, complete("a", "r2")))
