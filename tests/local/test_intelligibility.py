"""The espeak engine produces speech a recogniser understands (guides/speech-stack.md §3).

pocketsphinx on the guide's "easy" sentences (0 WER when the guide measured them) at
140 wpm and 24 kHz. Measured here: overall WER 0.02-0.12 (depending on the dither seed
and on espeak's pitch-flutter state left by earlier calls) against the 0.35 bound; the
wrong-reference control scores 1.12 against the 0.6 bound, so the check discriminates.
"""

from __future__ import annotations

import pytest

from smallest_local.engines import EspeakEngine
from tests.support.asr import loud_noise, transcribe, wer

pytestmark = pytest.mark.slow

SAMPLE_RATE = 24000
SPEED = 0.8  # 175 wpm × 0.8 = 140 wpm, the rate the guide measured

EASY = [
    "one two three four five six seven eight nine ten",
    "my phone number is five five five one two three four",
    "open the door",
    "stop the music",
    "please call me back tomorrow morning",
    "i would like to order a large pizza",
    "your appointment is scheduled for monday at three o'clock",
]


def test_espeak_speech_is_recognised_and_a_wrong_reference_is_not() -> None:
    """One decode of the sentences serves both checks (pocketsphinx: ~10 s of CPU)."""
    engine = EspeakEngine()
    transcripts = []
    for sentence in EASY:
        synthesis = engine.synthesize(
            sentence, voice_id="magnus", sample_rate=SAMPLE_RATE, speed=SPEED
        )
        transcripts.append(transcribe(synthesis.pcm, SAMPLE_RATE, seed=0))
    score = wer(EASY, transcripts)
    assert score <= 0.35, f"WER {score:.2f}: {list(zip(EASY, transcripts, strict=True))}"
    shifted = EASY[1:] + EASY[:1]  # each audio against a different sentence
    wrong = wer(shifted, transcripts)
    assert wrong >= 0.6, f"WER against wrong references only {wrong:.2f}"


def test_transcription_is_deterministic_for_a_seed() -> None:
    """Same audio and seed, same transcript — also after the decoder heard something
    else: three seconds of loud noise used to turn "open the door" into "oh to gore"."""
    synthesis = EspeakEngine().synthesize(
        "open the door", voice_id="magnus", sample_rate=SAMPLE_RATE, speed=SPEED
    )
    first = transcribe(synthesis.pcm, SAMPLE_RATE, seed=3)
    assert first == transcribe(synthesis.pcm, SAMPLE_RATE, seed=3)
    transcribe(loud_noise(16000), 16000)
    assert transcribe(synthesis.pcm, SAMPLE_RATE, seed=3) == first
    assert first != "" and transcribe(b"", SAMPLE_RATE) == ""
