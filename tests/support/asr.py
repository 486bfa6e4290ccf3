"""Offline speech check for tests: pocketsphinx transcripts and a WER that ignores case.

Set up exactly as measured in the team's speech-stack guide (its §3): audio resampled to
16 kHz with soxr, seeded Gaussian dither (σ=100 on int16) because espeak's digital-zero
silence breaks pocketsphinx's noise and CMN estimation, the bundled en-us model, and one
cached ``Decoder`` (0.23 s to load). Same input and seed → same transcript, whatever the
decoder heard before: its front end (noise and CMN estimates) is reset for every call,
since it otherwise carries over (after three seconds of loud noise, "open the door" came
back as "oh to gore").
"""

from __future__ import annotations

import threading
import unicodedata
from functools import cache

import jiwer
import numpy as np
import soxr
from pocketsphinx import Decoder

__all__ = ["loud_noise", "transcribe", "wer"]

_ASR_RATE = 16000
_DITHER_SIGMA = 100.0
_lock = threading.Lock()  # a Decoder holds one utterance at a time


class _RemovePunctuation(jiwer.AbstractTransform):
    """``jiwer.RemovePunctuation``'s rule (drop every character of a Unicode ``P*``
    category), applied per character of the text: jiwer's own transform first walks all
    1.1 M code points (~0.9 s of CPU in every xdist worker)."""

    def process_string(self, s: str) -> str:
        return "".join(c for c in s if not unicodedata.category(c).startswith("P"))


_TRANSFORM = jiwer.Compose(
    [
        jiwer.ToLowerCase(),
        _RemovePunctuation(),
        jiwer.RemoveMultipleSpaces(),
        jiwer.Strip(),
        jiwer.ReduceToListOfListOfWords(),
    ]
)


@cache
def _decoder() -> Decoder:
    return Decoder(samprate=_ASR_RATE, loglevel="FATAL")


def transcribe(pcm: bytes, sample_rate: int, seed: int = 0) -> str:
    """Transcribe PCM s16le mono with pocketsphinx; "" when nothing was recognised."""
    samples = np.frombuffer(pcm, dtype="<i2")
    if samples.size == 0:
        return ""
    if sample_rate != _ASR_RATE:
        samples = soxr.resample(samples, sample_rate, _ASR_RATE)
    noise = np.random.default_rng(seed).normal(0.0, _DITHER_SIGMA, len(samples))
    dithered = np.clip(samples.astype(np.float32) + noise, -32768, 32767).astype("<i2")
    with _lock:
        decoder = _decoder()
        decoder.reinit_feat()  # forget the previous call's audio (0.04 ms)
        decoder.start_utt()
        decoder.process_raw(dithered.tobytes(), full_utt=True)
        decoder.end_utt()
        hyp = decoder.hyp()
    return hyp.hypstr if hyp is not None else ""


def wer(reference: str | list[str], hypothesis: str | list[str]) -> float:
    """Word error rate over lower-cased, punctuation-free words (pooled over lists)."""
    return float(
        jiwer.wer(
            reference,
            hypothesis,
            reference_transform=_TRANSFORM,
            hypothesis_transform=_TRANSFORM,
        )
    )


def loud_noise(sample_rate: int, seconds: float = 3.0) -> bytes:
    """Seeded Gaussian noise at σ=8000 (about -12 dBFS), PCM s16le mono: what a decoder
    may hear before the audio under test (it used to move pocketsphinx's estimates)."""
    samples = np.random.default_rng(1).normal(0.0, 8000.0, round(seconds * sample_rate))
    return samples.clip(-32768, 32767).astype("<i2").tobytes()
