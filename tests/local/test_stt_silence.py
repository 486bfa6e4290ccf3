"""A silence-only stretch costs the server nothing to recognise: the segmenter drops a
segment with no speech undecoded (pocketsphinx's full re-decode takes about as long as
the silence itself on this machine, so a silent session used to stall the server's
whole process — and, embedded, the client's event loop — once per dropped segment)."""

from __future__ import annotations

from smallest_local.engines.recognizer import RecognizedWord
from smallest_local.engines.sphinx import PocketsphinxRecognizer
from smallest_local.engines.stt_tone import ToneStream
from smallest_local.stt import SILENT_SEGMENT_S, Segmenter, parse_options

RATE = 16000


class Recording(ToneStream):
    """A tone stream that notes which segment ends it was asked for."""

    def __init__(self) -> None:
        super().__init__(RATE, 200.0)
        self.calls: list[str] = []

    def cut(self, *, hold_last: bool = False) -> list[RecognizedWord]:
        self.calls.append("cut")
        return super().cut(hold_last=hold_last)

    def discard(self) -> None:
        self.calls.append("discard")
        super().discard()


def test_silent_segments_are_discarded_not_recognised():
    stream = Recording()
    segmenter = Segmenter(stream, parse_options({"model": "pulse", "language": "en"}, legacy=False))
    events = []
    for _ in range(int(3 * SILENT_SEGMENT_S / 0.02)):
        events += segmenter.feed(bytes(2 * RATE // 50))  # 20 ms of digital silence
    assert events == []
    assert stream.calls == ["discard"] * 3


def test_pocketsphinx_discard_ends_the_segment_without_words():
    stream = PocketsphinxRecognizer().open(RATE, "en")
    try:
        stream.feed(bytes(2 * RATE))  # a second of silence (dithered inside)
        stream.discard()
        assert stream.partial() == ""
        assert stream.cut() == []  # nothing left to decode
    finally:
        stream.close()


def _segmenter() -> tuple[Recording, Segmenter]:
    stream = Recording()
    return stream, Segmenter(
        stream, parse_options({"model": "pulse", "language": "en"}, legacy=False)
    )


def test_finalize_and_close_over_silence_answer_empty_without_recognising():
    """``finalize`` / ``close_stream`` over a segment the VAD heard no speech in: the
    empty final at once, the segment dropped (the full decode of dithered silence held
    ``is_last`` back by about a second per second of tail)."""
    stream, segmenter = _segmenter()
    segmenter.feed(bytes(2 * RATE // 2))  # half a second of silence
    answer = segmenter.finalize()
    assert (answer.kind, answer.words, answer.from_finalize) == ("final", [], True)
    segmenter.feed(bytes(2 * RATE // 4))
    (last,) = segmenter.close()
    assert (last.kind, last.words, last.is_last) == ("final", [], True)
    assert stream.calls == ["discard", "discard"]


def test_finalize_and_close_over_speech_are_recognised():
    stream, segmenter = _segmenter()
    loud = b"\x10\x27" * (RATE // 10)  # 100 ms of non-zero samples: speech to this VAD
    segmenter.feed(loud)
    assert segmenter.finalize().from_finalize and stream.calls == ["cut"]
    segmenter.feed(loud)
    (last,) = segmenter.close()
    assert last.is_last and stream.calls == ["cut", "cut"]
