"""The ``pocketsphinx`` recognizer: real, offline English speech recognition.

Set up as measured in guides/speech-stack.md §3: audio resampled to 16 kHz with soxr
(streaming), seeded Gaussian dither (σ=100 on int16) because digital-zero silence (as
espeak makes) breaks pocketsphinx's noise and CMN estimation, and the bundled en-us
model. Partials come from a light live decoder (one per stream) as audio arrives; a
final re-decodes the whole segment in one pass with the full search (``full_utt``, batch
CMN), which is what the measured WER relies on — the live pass alone is markedly worse
on espeak speech (the real service also holds finals back for accuracy).

The full decode runs in a process of its own (:mod:`.sphinx_worker`): pocketsphinx holds
the GIL for a whole ``process_raw`` call, seconds for a long segment, and a server
embedded in a program (the demo, a quick start, a test) would stop answering — and stop
its clients' timers — for that long. The live decoder's calls are a chunk of audio each,
milliseconds, and stay in this process.

Decoders take 0.2-0.4 s of CPU and ~100 MB each to load, so both kinds are pooled per
process, shared by every stream of every recognizer: a test suite that starts a server per
test loads them once, not twice per server. Idle ones stay loaded for the process's life
(as many as were ever busy at once); the first stream opened starts a decoder process, so
it is ready by the first final. Each decoder handed out has its front end (noise and CMN
estimates) reset: otherwise it carries over from whichever stream used the decoder last,
and one stream's final would depend on another caller's audio (after three seconds of
loud noise on one stream, the next stream's "open the door" changed).

Voice activity is a plain energy detector: a 20 ms frame whose RMS is at least
:data:`VAD_RMS` (about -42 dBFS) is speech.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import re
import struct
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO, Any

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


class _DecoderProcess:
    """One :mod:`.sphinx_worker` process: a full-search decoder, one segment at a time."""

    def __init__(self) -> None:
        self._process = subprocess.Popen(
            [sys.executable, str(_WORKER)], stdin=subprocess.PIPE, stdout=subprocess.PIPE
        )

    def decode(self, audio: bytes) -> list[tuple[str, int, int, float]]:
        """The segment's words as pocketsphinx gives them: (word, start, end frame, prob).

        Raises:
            RuntimeError: the process is gone (killed, out of memory).
        """
        stdin, stdout = self._pipes()
        try:
            stdin.write(struct.pack("<I", len(audio)))
            stdin.write(audio)
            stdin.flush()
            answer = stdout.readline()
        except OSError:  # BrokenPipeError: it died before reading
            answer = b""
        if not answer:
            code = self._process.poll()
            raise RuntimeError(
                "the pocketsphinx decoder process exited"
                + (f" (code {code})" if code is not None else "")
            )
        return [(str(w), int(s), int(e), float(p)) for w, s, e, p in json.loads(answer)]

    def close(self) -> None:
        """End the process: it exits when its input closes (killed after 5 s)."""
        stdin, _ = self._pipes()
        with contextlib.suppress(OSError):  # a broken pipe: it is gone already
            stdin.close()
        try:
            self._process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()
        assert self._process.stdout is not None
        self._process.stdout.close()

    def alive(self) -> bool:
        """Whether the process is still running (an idle one can be killed from outside)."""
        return self._process.poll() is None

    def _pipes(self) -> tuple[IO[bytes], IO[bytes]]:
        stdin, stdout = self._process.stdin, self._process.stdout
        assert stdin is not None and stdout is not None  # both are PIPE
        return stdin, stdout


class _ProcessPool:
    """Idle decoder processes, shared by every stream of every recognizer."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: list[_DecoderProcess] = []
        self._started = 0

    def prestart(self) -> None:
        """Start the first process ahead of the first final (it loads while audio
        streams in); later ones start when more finals are decoded at once than ever."""
        with self._lock:
            if self._started == 0:
                self._idle.append(self._start())

    def decode(self, audio: bytes) -> list[tuple[str, int, int, float]]:
        """One full-utterance decode of ``audio`` (16 kHz int16) in an idle process."""
        process = self._take()
        try:
            words = process.decode(audio)
        except BaseException:  # gone, or interrupted mid-answer: not reused
            self._retire(process)
            raise
        with self._lock:
            self._idle.append(process)
        return words

    def close(self) -> None:
        """End the idle processes (at exit: they would also end on their own)."""
        with self._lock:
            idle, self._idle = self._idle, []
            self._started -= len(idle)
        for process in idle:
            process.close()

    def _take(self) -> _DecoderProcess:
        """An idle process, or a new one; idle ones that died meanwhile (killed from
        outside) are retired on the way."""
        while True:
            with self._lock:
                if not self._idle:
                    return self._start()
                process = self._idle.pop()
            if process.alive():
                return process
            self._retire(process)

    def _start(self) -> _DecoderProcess:
        """A new process, counted (call with the lock held)."""
        self._started += 1
        return _DecoderProcess()

    def _retire(self, process: _DecoderProcess) -> None:
        process.close()
        with self._lock:
            self._started -= 1


class PocketsphinxStream:
    """One stream: live partials, a full re-decode per final (see the module docstring)."""

    def __init__(self, live: _Pool, full: _ProcessPool, sample_rate: int, seed: int = 0) -> None:
        self._pool = live
        self._full = full
        full.prestart()
        self._decoder: Decoder | None = live.take()
        # In float32: soxr's int16 output is dithered with a seed of its own, which differs
        # per stream, so the same audio got other confidences (and, on the edge, other
        # words) from run to run. Float output is exact; the one dither is ours, seeded.
        self._resampler = (
            soxr.ResampleStream(sample_rate, _RATE, 1, dtype="float32")
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
        samples: np.ndarray = np.frombuffer(pcm, dtype="<i2")
        if self._resampler is not None:
            samples = self._resampler.resample_chunk(samples.astype(np.float32))
        if samples.size == 0:
            return
        noise = self._rng.normal(0.0, _DITHER_SIGMA, samples.size)
        # (resampled audio is float32 already: no second copy on the audio path)
        dithered = np.clip(samples.astype(np.float32, copy=False) + noise, -32768, 32767)
        raw = dithered.astype("<i2").tobytes()
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
        words = self._decode(audio, offset)
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

    def _decode(self, audio: bytes, offset: float) -> list[RecognizedWord]:
        """One full-utterance decode of a segment; word times offset to the stream clock."""
        words: list[RecognizedWord] = []
        for word, start_frame, end_frame, prob in self._full.decode(audio):
            word = _ALTERNATE.sub("", word)
            if not word or word.startswith(("<", "[")):
                continue
            words.append(
                RecognizedWord(
                    word=word,
                    start=round(offset + start_frame / _FRAMES_PER_S, 3),
                    end=round(offset + (end_frame + 1) / _FRAMES_PER_S, 3),
                    confidence=round(min(1.0, max(0.0, prob)), 3),
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


#: The process's decoders: live ones (one per open stream) and full-search processes (one
#: per final being decoded).
_WORKER = Path(__file__).with_name("sphinx_worker.py")
_LIVE = _Pool(**LIVE_CONFIG)
_FULL = _ProcessPool()
atexit.register(_FULL.close)
