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
