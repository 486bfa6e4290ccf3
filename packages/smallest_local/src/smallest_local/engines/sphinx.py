"""The ``pocketsphinx`` recognizer: real, offline English speech recognition.

Set up as measured in guides/speech-stack.md §3: audio resampled to 16 kHz with soxr
(streaming), seeded Gaussian dither (σ=100 on int16) because digital-zero silence (as
espeak makes) breaks pocketsphinx's noise and CMN estimation, and the bundled en-us
model. Partials come from a light live decoder (one per stream) as audio arrives; a
final re-decodes the whole segment in one pass with the full search (``full_utt``, batch
CMN) on a decoder borrowed for that moment, which is what the measured WER relies on —
the live pass alone is markedly worse on espeak speech (the real service also holds
finals back for accuracy).

Decoders take 0.2-0.4 s of CPU and ~100 MB each to load, so both kinds are pooled per
process, shared by every stream of every recognizer: a test suite that starts a server per
test loads them once, not twice per server. Idle decoders stay loaded for the process's
life (as many as were ever busy at once). Each one handed out has its front end (noise and
CMN estimates) reset: otherwise it carries over from whichever stream used the decoder
last, and one stream's final would depend on another caller's audio (after three seconds
of loud noise on one stream, the next stream's "open the door" changed).

Voice activity is a plain energy detector: a 20 ms frame whose RMS is at least
:data:`VAD_RMS` (about -42 dBFS) is speech.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import numpy as np
import soxr
from pocketsphinx import Decoder

from smallest_local.engines.recognizer import RecognizedWord

__all__ = ["VAD_RMS", "PocketsphinxRecognizer", "PocketsphinxStream"]

#: RMS (int16 units) from which a frame counts as speech.
VAD_RMS = 250.0
_RATE = 16000
_FRAMES_PER_S = 100  # pocketsphinx's frame rate
_DITHER_SIGMA = 100.0
_ALTERNATE = re.compile(r"\(\d+\)$")


#: The live (partials) decoder: no second passes and a tight HMM budget — measured 4×
#: faster than the full search on espeak speech, with partials that are mostly right.
LIVE_CONFIG: dict[str, Any] = {"fwdflat": False, "bestpath": False, "maxhmmpf": 1500, "maxwpf": 5}


class _Pool:
    """Idle decoders of one configuration, shared by every stream of every recognizer."""

    def __init__(self, **config: Any) -> None:
        self._lock = threading.Lock()
        self._idle: list[Decoder] = []
        self._config = config

    def take(self) -> Decoder:
        """A decoder that has forgotten the audio of its previous user (a fresh one, or an
        idle one with its front end reset: 0.04 ms)."""
        with self._lock:
            if self._idle:
                decoder = self._idle.pop()
                decoder.reinit_feat()
                return decoder
        return Decoder(samprate=_RATE, loglevel="FATAL", **self._config)

    def give(self, decoder: Decoder) -> None:
        with self._lock:
            self._idle.append(decoder)


class PocketsphinxStream:
    """One stream: live partials, a full re-decode per final (see the module docstring)."""

    def __init__(self, live: _Pool, full: _Pool, sample_rate: int, seed: int = 0) -> None:
        self._pool = live
        self._full = full
        self._decoder: Decoder | None = live.take()
        self._resampler = (
            soxr.ResampleStream(sample_rate, _RATE, 1, dtype="int16")
            if sample_rate != _RATE
            else None
        )
        self._rng = np.random.default_rng(seed)
        self._fed = 0  # 16 kHz samples fed so far (the clock)
        self._segment_start = 0
        self._segment: list[bytes] = []
        self._segment_len = 0
        self._in_utt = False

    def _ensure_utt(self, decoder: Decoder) -> None:
        if not self._in_utt:
            decoder.start_utt()
            self._in_utt = True

    def feed(self, pcm: bytes) -> None:
        decoder = self._decoder
        if decoder is None or not pcm:
            return
        samples = np.frombuffer(pcm, dtype="<i2")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples)
        if samples.size == 0:
            return
        noise = self._rng.normal(0.0, _DITHER_SIGMA, samples.size)
        dithered = np.clip(samples.astype(np.float32) + noise, -32768, 32767).astype("<i2")
        raw = dithered.tobytes()
        self._ensure_utt(decoder)
        decoder.process_raw(raw, False, False)
        self._segment.append(raw)
        self._segment_len += samples.size
        self._fed += samples.size

    def is_speech(self, pcm: bytes) -> bool:
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
        if samples.size == 0:
            return False
        return float(np.sqrt(np.mean(samples * samples))) >= VAD_RMS

    def partial(self) -> str:
        decoder = self._decoder
        if decoder is None or not self._in_utt:
            return ""
        hyp = decoder.hyp()
        return _clean_text(hyp.hypstr) if hyp is not None else ""

    def cut(self, *, hold_last: bool = False) -> list[RecognizedWord]:
        decoder = self._decoder
        if decoder is None:
            return []
        if self._in_utt:
            decoder.end_utt()
            self._in_utt = False
        audio = b"".join(self._segment)
        offset = self._segment_start / _RATE
        self._segment = []
        self._segment_len = 0
        self._segment_start = self._fed
        if not audio:
            return []
        full = self._full.take()  # only held while a final is decoded
        try:
            words = self._decode(full, audio, offset)
        finally:
            self._full.give(full)
        if hold_last and len(words) > 1:
            # the last word goes back into a new live segment, with its audio
            keep_from = round((words[-1].start - offset) * _RATE) * 2
            held = audio[keep_from:]
            self._segment_start = self._fed - len(held) // 2
            if held:
                decoder.start_utt()
                self._in_utt = True
                decoder.process_raw(held, False, False)
                self._segment = [held]
                self._segment_len = len(held) // 2
            return words[:-1]
        return words

    def discard(self) -> None:
        """Drop the open segment without the full re-decode: a second or more of CPU per
        second of (dithered) silence, which a silence-only stream cannot afford."""
        decoder = self._decoder
        if decoder is not None and self._in_utt:
            decoder.end_utt()
            self._in_utt = False
        self._segment = []
        self._segment_len = 0
        self._segment_start = self._fed

    @staticmethod
    def _decode(decoder: Decoder, audio: bytes, offset: float) -> list[RecognizedWord]:
        """One full-utterance decode of a segment; word times offset to the stream clock."""
        decoder.start_utt()
        decoder.process_raw(audio, False, True)
        decoder.end_utt()
        words: list[RecognizedWord] = []
        for seg in decoder.seg():
            word = _ALTERNATE.sub("", seg.word)
            if not word or word.startswith(("<", "[")):
                continue
            words.append(
                RecognizedWord(
                    word=word,
                    start=round(offset + seg.start_frame / _FRAMES_PER_S, 3),
                    end=round(offset + (seg.end_frame + 1) / _FRAMES_PER_S, 3),
                    confidence=round(min(1.0, max(0.0, float(seg.prob))), 3),
                )
            )
        return words

    def close(self) -> None:
        decoder, self._decoder = self._decoder, None
        if decoder is None:
            return
        if self._in_utt:
            decoder.end_utt()
            self._in_utt = False
        self._pool.give(decoder)


def _clean_text(text: str) -> str:
    words = (_ALTERNATE.sub("", w) for w in text.split())
    return " ".join(w for w in words if w and not w.startswith(("<", "[")))


class PocketsphinxRecognizer:
    """Opens :class:`PocketsphinxStream` s over the process's decoder pools (English model)."""

    name = "pocketsphinx"
    blocking = True

    def open(self, sample_rate: int, language: str) -> PocketsphinxStream:
        """A new stream; every language is decoded with the en-us model (echoed as asked)."""
        return PocketsphinxStream(_LIVE, _FULL, sample_rate)


#: The process's decoders: live ones (one per open stream) and full-search ones (one per
#: final being decoded).
_LIVE = _Pool(**LIVE_CONFIG)
_FULL = _Pool()
