"""A final depends on its own audio only, not on what the server heard before, nor on
anything else that changes from run to run.

The pocketsphinx recognizer pools its decoders and lends them to every stream, and a
decoder's front end keeps noise and CMN estimates from the last audio it decoded. Without
a reset on each loan, another caller's stream changed this stream's final: after three
seconds of loud noise, "open the door" came back differently than on a fresh server.
Which takes of the sentence the old decoders got wrong depended on espeak's output, which
drifts a little from call to call: on the old code this test failed in some runs and
passed in others; with the reset it holds for every take.
"""

from __future__ import annotations

from smallest_local.engines.sphinx import PocketsphinxRecognizer
from tests.support.asr import loud_noise

from .sttclient import espeak_speech, recognizer_words
from .sttclient import recognizer_final as final

RATE = 16000


def test_another_streams_audio_does_not_change_a_final() -> None:
    speech = espeak_speech("open the door")
    recognizer = PocketsphinxRecognizer()
    first = final(recognizer, speech)
    assert first  # words came back
    final(recognizer, loud_noise(RATE))  # another caller's stream, on the same decoders
    assert final(recognizer, speech) == first


def test_the_same_audio_at_24khz_gives_the_same_final_every_time() -> None:
    """Audio at another rate is resampled to the decoder's 16 kHz in float: soxr's int16
    output is dithered with a seed of its own per stream (±2 LSB on ~45 % of samples), so
    the same audio came back with other confidences (0.748 then 0.742 for "call") and, on
    the edge, other words."""
    sentence = "please call me back tomorrow morning"
    speech = espeak_speech(sentence, rate=24000)
    recognizer = PocketsphinxRecognizer()
    first, second = (recognizer_words(recognizer, speech, 24000) for _ in range(2))
    assert " ".join(w.word for w in first) == sentence
    assert first == second
