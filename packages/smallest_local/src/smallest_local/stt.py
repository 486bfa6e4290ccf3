"""Pulse speech-to-text, protocol-independent parts: options, audio bytes, segmenting, events.

Everything here follows the wire digest ``smallest-api/STT.md`` (cited as §n / Dn) and
is shared by the WebSocket (``stt_ws``) and batch (``stt_http``) routes:

* :func:`parse_options` reads the query string (§1.2) — booleans are exactly ``"true"``,
  unknown parameters are ignored, a bad known one is a :class:`~.wire.RequestError`
  naming the field and what is allowed (a 400 before the upgrade).
* :class:`AudioDecoder` turns the declared ``encoding`` into PCM s16le, carrying partial
  samples across frames (D13) and refusing bytes that are clearly a container file.
* :class:`Segmenter` drives one recognizer stream: a VAD over 20 ms frames gives
  ``speech_started``/``speech_ended`` and the endpoint (trailing silence), partials come
  once per audio frame while speech is open, finals at the endpoint, at the word-count
  rollover, on ``finalize`` and on ``close_stream`` (§4).
* :func:`event_frame` renders an event for a dialect (both text fields, D3; int or string
  speakers, D7; ``from_finalize``, D5).
"""

from __future__ import annotations

import re
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .audio import decode_g711
from .config import SttDialect
from .engines.recognizer import RecognizedWord, RecognizerStream
from .wire import RequestError, short

__all__ = [
    "BATCH_LANGUAGES",
    "ENCODINGS",
    "STREAM_LANGUAGES",
    "STT_SAMPLE_RATES",
    "AudioDecoder",
    "SttEvent",
    "SttOptions",
    "event_frame",
    "parse_options",
    "read_wav",
    "sniff_container",
]

STT_SAMPLE_RATES = (8000, 16000, 22050, 24000, 44100, 48000)
#: Encodings this server decodes; ``opus``/``ogg_opus`` are valid Pulse values it cannot.
ENCODINGS = ("linear16", "linear32", "alaw", "mulaw")
_UNSUPPORTED_ENCODINGS = ("opus", "ogg_opus")
STREAM_LANGUAGES = (
    *("en", "hi", "de", "es", "ru", "it", "fr", "nl", "pt", "zh", "yue", "ja", "ko"),
    *("gu", "mr", "or", "bn", "ta", "te", "kn", "ml"),
    "north_indic",
    "multi-asian",
    "multi-south-indic",
    # D12: `multi` was accepted live and LiveKit recommends it; `multi-eu` is the legacy default
    "multi",
    "multi-eu",
)
BATCH_LANGUAGES = (
    *("en", "hi", "de", "es", "ru", "it", "fr", "nl", "pt", "uk", "pl", "cs", "sk"),
    *("lv", "et", "ro", "fi", "sv", "bg", "hu", "da", "lt", "mt", "zh", "ja", "ko"),
    "multi-eu",
    "multi-asian",
    "multi-indic",
    "multi",
)
STREAM_MODELS = ("pulse", "pulse-2")
BATCH_MODELS = ("pulse", "pulse-pro")
_PULSE_PRO_WS = (
    "Pulse Pro has no streaming transport; use POST /waves/v1/stt/?model=pulse-pro (batch)."
)
#: VAD frame length.
FRAME_MS = 20
#: Voiced frames in a row before speech counts as started (a click is not speech).
MIN_SPEECH_FRAMES = 2
#: A segment with no speech is dropped (not decoded, not sent) after this much audio,
#: bounding memory and the silence a later final re-decodes.
SILENT_SEGMENT_S = 1.0
#: A segment is cut (a final) after this much audio even while speech goes on.
MAX_SEGMENT_S = 30.0
#: Word-count rollover when ``finalize_on_words`` is on and ``max_words`` unset (§4: ≤10).
DEFAULT_MAX_WORDS = 10


@dataclass(frozen=True, slots=True)
class SttOptions:
    """A validated streaming or batch request (the query string, §1.2/§1.6)."""

    model: str = "pulse"
    language: str = "en"
    sample_rate: int = 16000
    encoding: str = "linear16"
    word_timestamps: bool = False
    sentence_timestamps: bool = False
    diarize: bool = False
    format: bool = True
    punctuate: bool = True
    capitalize: bool = True
    itn_normalize: bool = False
    finalize_on_words: bool = True
    max_words: int | None = None
    eou_timeout_ms: int = 800
    endpointing: bool = True
    endpointing_timeout: int = 600
    vad_events: bool = False
    full_transcript: bool = False
    encoding_given: bool = False

    @property
    def rollover_words(self) -> int | None:
        """Words after which a final is forced (None: no rollover)."""
        if self.max_words is not None:
            return self.max_words
        return DEFAULT_MAX_WORDS if self.finalize_on_words else None

    @property
    def endpoint_ms(self) -> int:
        """Trailing silence that ends a segment: the VAD window, capped by the EOU timer."""
        if self.endpointing:
            return min(self.endpointing_timeout, self.eou_timeout_ms)
        return self.eou_timeout_ms


def _allowed(values: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in values)


def _flag(query: Mapping[str, str], name: str, default: bool) -> bool:
    """§1.2: the gateway compares ``=== "true"``; absent → the documented default."""
    raw = query.get(name)
    return default if raw is None else raw == "true"


def _int(query: Mapping[str, str], name: str, default: int, lo: int, hi: int) -> int:
    raw = query.get(name)
    if raw is None:
        return default
    if not (raw.isascii() and raw.isdecimal() and len(raw) <= 6) or not lo <= int(raw) <= hi:
        raise RequestError(f"Invalid '{name}': {short(raw)}. Must be a whole number {lo}-{hi}.")
    return int(raw)


def _choice(query: Mapping[str, str], name: str, allowed: tuple[str, ...], default: str) -> str:
    raw = query.get(name)
    if raw is None:
        return default
    if raw not in allowed:
        raise RequestError(f"Invalid '{name}': {short(raw)}. Allowed values: {_allowed(allowed)}.")
    return raw


def parse_options(
    query: Mapping[str, str], *, legacy: bool, batch: bool = False, strict: bool = False
) -> SttOptions:
    """Validate a Pulse query string; every error names its field and the allowed values.

    Args:
        query: the request's query parameters (unknown ones are ignored, §7.3).
        legacy: the ``/waves/v1/pulse/get_text`` path: no ``model``, ``language`` defaults
            to ``multi-eu`` and ``word_timestamps`` to true (D6, D12).
        batch: the batch route (its language list, ``pulse-pro`` allowed).
        strict: ``ServerConfig.stt_strict`` (D10, D12).

    Raises:
        RequestError: a missing or invalid value (HTTP 400 before any audio).
    """
    models = BATCH_MODELS if batch else STREAM_MODELS
    model = query.get("model")
    if legacy:
        model = model if model in models else "pulse"
    elif model is None:
        raise RequestError(f"Missing 'model'. Allowed values: {_allowed(models)}.")
    elif model == "pulse-pro" and not batch:
        raise RequestError(_PULSE_PRO_WS)
    elif model not in models:
        raise RequestError(f"Invalid 'model': {short(model)}. Allowed values: {_allowed(models)}.")
    languages = BATCH_LANGUAGES if batch else STREAM_LANGUAGES
    if "language" not in query and strict and not legacy:
        raise RequestError(f"Missing 'language'. Allowed values: {_allowed(languages)}.")
    language = _choice(query, "language", languages, "multi-eu")
    raw_rate = query.get("sample_rate")
    sample_rate = 16000
    if raw_rate is not None:
        if not (
            raw_rate.isascii() and raw_rate.isdecimal() and int(raw_rate[:7]) in STT_SAMPLE_RATES
        ):
            raise RequestError(
                f"Invalid 'sample_rate': {short(raw_rate)}. "
                f"Allowed values: {_allowed(STT_SAMPLE_RATES)}."
            )
        sample_rate = int(raw_rate)
    raw_encoding = query.get("encoding")
    if raw_encoding in _UNSUPPORTED_ENCODINGS:
        raise RequestError(
            f"Invalid 'encoding': {short(raw_encoding)} is a Pulse encoding smallest-local "
            f"cannot decode. Allowed values here: {_allowed(ENCODINGS)}."
        )
    encoding = _choice(query, "encoding", ENCODINGS, "linear16")
    eou_raw = query.get("eou_timeout_ms")
    if eou_raw is not None and not strict and eou_raw.isascii() and eou_raw.isdecimal():
        eou = min(10000, max(100, int(eou_raw[:6])))  # D10: clamped unless strict
    else:
        eou = _int(query, "eou_timeout_ms", 800, 100, 10000)
    max_words = _int(query, "max_words", 0, 1, 100000) if "max_words" in query else None
    vad_events = _flag(query, "vad_events", False) if "vad_events" in query else None
    return SttOptions(
        model=model,
        language=language,
        sample_rate=sample_rate,
        encoding=encoding,
        word_timestamps=_flag(query, "word_timestamps", legacy),
        sentence_timestamps=_flag(query, "sentence_timestamps", False),
        diarize=_flag(query, "diarize", False),
        format=_flag(query, "format", True),
        punctuate=_flag(query, "punctuate", True),
        capitalize=_flag(query, "capitalize", True),
        itn_normalize=_flag(query, "itn_normalize", False),
        finalize_on_words=_flag(query, "finalize_on_words", True),
        max_words=max_words,
        eou_timeout_ms=eou,
        endpointing=_flag(query, "endpointing", True),
        endpointing_timeout=_int(query, "endpointing_timeout", 600, 10, 10000),
        vad_events=vad_events if vad_events is not None else _flag(query, "vad", False),
        full_transcript=_flag(query, "full_transcript", False),
        encoding_given=raw_encoding is not None,
    )


# -- audio bytes -------------------------------------------------------------------------
_CONTAINERS = (
    (b"OggS", "an Ogg file"),
    (b"fLaC", "a FLAC file"),
    (b"ID3", "an MP3 file"),
    (b"\x1a\x45\xdf\xa3", "a WebM/Matroska file"),
)


def sniff_container(data: bytes) -> str | None:
    """Name the container file ``data`` starts with (not WAV), or None for raw bytes."""
    for magic, name in _CONTAINERS:
        if data.startswith(magic):
            return name
    if data[4:8] == b"ftyp":
        return "an MP4/M4A file"
    if _mp3_frame_header(data):
        return "an MP3 file"
    return None


def _mp3_frame_header(data: bytes) -> bool:
    """Whether ``data`` starts with a valid MPEG Layer III frame header: the 11-bit sync, a
    defined version, layer III, a bitrate index of 1–14 and a defined sample rate.

    The sync alone (``FF Ex``) is not enough: raw PCM16 whose first sample is -1 starts
    ``FF FF`` (dithered silence does, one stream in three), and must not be refused as MP3.
    """
    if len(data) < 4 or data[0] != 0xFF or data[1] & 0xE0 != 0xE0:
        return False
    version = (data[1] >> 3) & 0x03  # 01 is reserved
    layer = (data[1] >> 1) & 0x03  # 01 is layer III
    bitrate = data[2] >> 4  # 0 (free) and 15 (bad) are not taken
    rate = (data[2] >> 2) & 0x03  # 11 is reserved
    return version != 0x01 and layer == 0x01 and 0 < bitrate < 15 and rate != 0x03


@dataclass(frozen=True, slots=True)
class WavInfo:
    """A parsed WAV header: format tag, channels, rate, bits, and where the data starts."""

    format_tag: int
    channels: int
    sample_rate: int
    bits: int
    data_offset: int
    data_size: int | None


def read_wav(data: bytes) -> WavInfo | None:
    """Parse a RIFF/WAVE header (None when ``data`` is not one or it is cut short)."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    pos = 12
    fmt: tuple[int, int, int, int] | None = None
    for _ in range(64):  # bounded chunk walk
        if pos + 8 > len(data):
            return None
        cid, size = data[pos : pos + 4], struct.unpack("<I", data[pos + 4 : pos + 8])[0]
        body = pos + 8
        if cid == b"fmt " and size >= 16 and body + 16 <= len(data):
            tag, channels, rate = struct.unpack("<HHI", data[body : body + 8])
            bits = struct.unpack("<H", data[body + 14 : body + 16])[0]
            if tag == 0xFFFE and size >= 40 and body + 26 <= len(data):
                tag = struct.unpack("<H", data[body + 24 : body + 26])[0]
            fmt = (tag, channels, rate, bits)
        elif cid == b"data" and fmt is not None:
            remaining = len(data) - body
            data_size = None if size in (0, 0xFFFFFFFF) else min(size, remaining)
            return WavInfo(*fmt, data_offset=body, data_size=data_size)
        pos = body + size + (size & 1)
    return None


def wav_to_pcm16(data: bytes) -> tuple[bytes, int]:
    """Decode a whole WAV file to mono PCM s16le; returns (pcm, sample rate).

    Raises:
        RequestError: not a WAV this server reads (PCM 8/16/24/32-bit, float 32, G.711).
    """
    info = read_wav(data)
    if info is None:
        raise RequestError("Invalid audio: the body starts with RIFF but is not a readable WAV.")
    if info.channels < 1 or info.sample_rate < 1000 or info.sample_rate > 192000:
        raise RequestError("Invalid audio: the WAV header has an unusable channel count or rate.")
    end = len(data) if info.data_size is None else info.data_offset + info.data_size
    body = data[info.data_offset : end]
    tag, bits = info.format_tag, info.bits
    if tag == 1 and bits == 16:
        samples = _frames(body, "<i2", info.channels).astype(np.int32)
    elif tag == 1 and bits == 8:
        samples = (_frames(body, "u1", info.channels).astype(np.int32) - 128) << 8
    elif tag == 1 and bits == 24:
        raw = np.frombuffer(body[: len(body) - len(body) % 3], dtype=np.uint8).reshape(-1, 3)
        wide = (raw[:, 0].astype(np.int32) | raw[:, 1].astype(np.int32) << 8) | (
            raw[:, 2].astype(np.int8).astype(np.int32) << 16
        )
        samples = (wide[: len(wide) - len(wide) % info.channels].reshape(-1, info.channels)) >> 8
    elif tag == 1 and bits == 32:
        samples = _frames(body, "<i4", info.channels).astype(np.int64) >> 16
    elif tag == 3 and bits == 32:
        floats = np.nan_to_num(_frames(body, "<f4", info.channels))
        samples = np.clip(floats * 32767.0, -32768, 32767).astype(np.int32)
    elif tag in (6, 7) and bits == 8:
        fmt = "alaw" if tag == 6 else "ulaw"
        first = body[:: info.channels] if info.channels > 1 else body
        return decode_g711(first, fmt), info.sample_rate
    else:
        raise RequestError(
            f"Invalid audio: WAV format {tag} with {bits}-bit samples is not supported; "
            "send 16-bit PCM."
        )
    mono = samples[:, 0] if samples.ndim == 2 else samples
    return np.clip(mono, -32768, 32767).astype("<i2").tobytes(), info.sample_rate


def _frames(body: bytes, dtype: str, channels: int) -> np.ndarray:
    width = np.dtype(dtype).itemsize * channels
    arr = np.frombuffer(body[: len(body) - len(body) % width], dtype=dtype)
    return arr.reshape(-1, channels)


class AudioError(Exception):
    """Bytes that cannot be the declared encoding (answered with an error frame + close)."""


class AudioDecoder:
    """Declared ``encoding`` bytes → PCM s16le, whatever the frame boundaries (D13).

    ``linear16``: little-endian int16. ``linear32``: 32-bit samples, int or float (§1.5
    leaves it open — tolerate both): the first frame with any non-zero sample decides;
    if every value reads as a finite float within ±2, it is float. ``alaw``/``mulaw``:
    G.711. A first frame that is a WAV header matching the declaration is skipped (a
    client streaming a file as-is); one that is another container is an :class:`AudioError`.
    """

    def __init__(self, encoding: str, sample_rate: int) -> None:
        self.encoding = encoding
        self.sample_rate = sample_rate
        self._width = {"linear16": 2, "linear32": 4}.get(encoding, 1)
        self._carry = b""
        self._first = True
        self._float32: bool | None = None

    def decode(self, data: bytes) -> bytes:
        """PCM s16le for ``data`` (a partial trailing sample waits for the next call)."""
        if self._first and data:
            self._first = False
            data = self._check_start(data)
        data = self._carry + data
        whole = len(data) - len(data) % self._width
        self._carry = data[whole:]
        body = data[:whole]
        if not body:
            return b""
        if self.encoding == "linear16":
            return body
        if self.encoding == "linear32":
            return self._linear32(body)
        return decode_g711(body, "alaw" if self.encoding == "alaw" else "ulaw")

    def _check_start(self, data: bytes) -> bytes:
        if data.startswith(b"RIFF"):
            info = read_wav(data)
            ok = (
                info is not None
                and info.sample_rate == self.sample_rate
                and info.channels == 1
                and (
                    (self.encoding == "linear16" and info.format_tag == 1 and info.bits == 16)
                    or (self.encoding == "linear32" and info.bits == 32)
                    or (self.encoding == "alaw" and info.format_tag == 6)
                    or (self.encoding == "mulaw" and info.format_tag == 7)
                )
            )
            if not ok or info is None:
                raise AudioError(
                    f"The audio starts with a WAV header that does not match "
                    f"encoding={self.encoding}, sample_rate={self.sample_rate} (mono); send "
                    "raw samples in the declared encoding."
                )
            if self.encoding == "linear32":
                self._float32 = info.format_tag == 3
            return data[info.data_offset :]
        container = sniff_container(data)
        if container is not None:
            raise AudioError(
                f"The audio looks like {container}, but encoding={self.encoding} declares "
                "raw samples; decode it to PCM first (binary frames carry raw audio only)."
            )
        return data

    def _linear32(self, body: bytes) -> bytes:
        if self._float32 is None:
            ints = np.frombuffer(body, dtype="<i4")
            if not ints.any():
                return np.zeros(len(ints), dtype="<i2").tobytes()
            floats = np.frombuffer(body, dtype="<f4")
            self._float32 = bool(np.all(np.isfinite(floats)) and np.abs(floats).max() <= 2.0)
        if self._float32:
            floats = np.nan_to_num(np.frombuffer(body, dtype="<f4"))
            return np.clip(floats * 32767.0, -32768, 32767).astype("<i2").tobytes()
        return (np.frombuffer(body, dtype="<i4") >> 16).astype("<i2").tobytes()


# -- segmenting --------------------------------------------------------------------------
@dataclass(slots=True)
class SttEvent:
    """One thing to tell the client, before rendering (see :func:`event_frame`).

    ``kind``: ``partial``, ``final``, ``speech_started`` or ``speech_ended``.
    """

    kind: str
    words: list[RecognizedWord] = field(default_factory=list)
    text: str = ""
    timestamp: float = 0.0
    from_finalize: bool = False
    is_last: bool = False
    speech_final: bool = False


class Segmenter:
    """One recognizer stream cut into finals by VAD, rollover and client controls (§4).

    Sans-I/O: ``feed``/``finalize``/``close`` return the events to send, in order. The
    stream's clock is the PCM fed (samples ÷ rate), so every time is seconds of this
    session's audio and finals are monotonic.
    """

    def __init__(self, stream: RecognizerStream, options: SttOptions) -> None:
        self.stream = stream
        self.options = options
        self.rate = options.sample_rate
        self._frame_bytes = 2 * self.rate * FRAME_MS // 1000
        self._carry = b""
        self.samples = 0  # samples fed (the clock)
        self._segment_samples = 0
        self._segment_speech = False
        self._voiced_run = 0
        self._silence_ms = 0
        self._in_speech = False
        self._speech_end = 0.0
        self._last_partial = ""
        self._chunk = b""
        self._unfed_from = 0

    @property
    def seconds(self) -> float:
        """Audio received so far, in seconds."""
        return self.samples / self.rate

    def feed(self, pcm: bytes) -> list[SttEvent]:
        """Recognise more audio: VAD events and finals as they happen, then one partial."""
        events: list[SttEvent] = []
        data = self._carry + pcm
        step = self._frame_bytes
        whole = len(data) - len(data) % step
        self._carry = data[whole:]
        self._unfed_from = 0
        self._chunk = data
        for pos in range(0, whole, step):
            self._frame(data[pos : pos + step], pos + step, events)
        self._feed_upto(whole)
        if self._segment_speech:
            text = self.stream.partial()
            limit = self.options.rollover_words
            if limit is not None and len(text.split()) > limit:
                # the word past the limit has begun: the limit's words are complete
                events.extend(self._cut(hold_last=True))
            elif text and text != self._last_partial:
                self._last_partial = text
                events.append(SttEvent("partial", text=text))
        return events

    def _feed_upto(self, end: int) -> None:
        """Feed the chunk's frames not yet given to the recognizer (one call, not per frame)."""
        if end > self._unfed_from:
            self.stream.feed(self._chunk[self._unfed_from : end])
            self._unfed_from = end

    def _frame(self, frame: bytes, end: int, events: list[SttEvent]) -> None:
        speech = self.stream.is_speech(frame)
        start = self.samples / self.rate
        self.samples += len(frame) // 2
        self._segment_samples += len(frame) // 2
        window = self.options.endpointing_timeout
        if speech:
            self._silence_ms = 0
            self._voiced_run += 1
            if self._voiced_run >= MIN_SPEECH_FRAMES:
                self._segment_speech = True
                if not self._in_speech:
                    self._in_speech = True
                    began = start - (MIN_SPEECH_FRAMES - 1) * FRAME_MS / 1000
                    if self.options.vad_events:
                        events.append(SttEvent("speech_started", timestamp=round(began, 3)))
            self._speech_end = self.samples / self.rate
        else:
            self._voiced_run = 0
            self._silence_ms += FRAME_MS
            if self._in_speech and self._silence_ms >= window:
                self._in_speech = False
                if self.options.vad_events:
                    events.append(SttEvent("speech_ended", timestamp=round(self._speech_end, 3)))
            if self._segment_speech and self._silence_ms >= self.options.endpoint_ms:
                self._feed_upto(end)
                events.extend(self._cut(speech_final=True))
        seconds = self._segment_samples / self.rate
        if not self._segment_speech and not self._voiced_run and seconds >= SILENT_SEGMENT_S:
            self._feed_upto(end)
            self._drop_segment()
        elif seconds >= MAX_SEGMENT_S:
            self._feed_upto(end)
            events.extend(self._cut())

    def _cut(
        self, *, speech_final: bool = False, always: bool = False, hold_last: bool = False
    ) -> list[SttEvent]:
        words = self.stream.cut(hold_last=hold_last)
        had_speech = self._segment_speech
        self._segment_samples = 0
        self._segment_speech = hold_last  # a held word is speech of the next segment
        self._last_partial = ""
        if not words and not always:
            return []
        if not had_speech and not always:
            return []
        return [SttEvent("final", words=words, speech_final=speech_final)]

    def finalize(self) -> SttEvent:
        """The answer to ``finalize``: one final of what is pending, even if empty (§3)."""
        event = self._end_segment()
        event.from_finalize = True
        if not event.words:
            event.words = []
        return event

    def close(self) -> list[SttEvent]:
        """The end of the stream (``close_stream``): the last final, marked ``is_last``."""
        event = self._end_segment()
        event.is_last = True
        return [event]

    def _end_segment(self) -> SttEvent:
        """The open segment's final, for ``finalize``/``close_stream``: decoded when the
        VAD heard speech in it, else an empty final with the segment dropped undecoded
        (the full decode of dithered silence costs about a second of CPU per second and
        can only find noise words; it held ``is_last`` back by that long)."""
        self._flush_carry()
        if self._segment_speech:
            return self._cut(always=True)[0]
        self._drop_segment()
        return SttEvent("final", words=[])

    def _drop_segment(self) -> None:
        """Nothing was said in the open segment: drop it undecoded and unsent; the next
        segment starts here."""
        self.stream.discard()
        self._segment_samples = 0
        self._last_partial = ""

    def _flush_carry(self) -> None:
        if len(self._carry) >= 2:
            pad = self._carry[: len(self._carry) - len(self._carry) % 2]
            self.stream.feed(pad)
            self.samples += len(pad) // 2
        self._carry = b""


# -- rendering ---------------------------------------------------------------------------
_SENTENCE_END = re.compile(r"[.!?]$")


def format_text(words: list[str], options: SttOptions) -> str:
    """A final's text under ``format``/``punctuate``/``capitalize`` (D20: flags take effect)."""
    text = " ".join(words)
    if not text or not options.format:
        return text.lower()
    if options.capitalize:
        text = text[0].upper() + text[1:]
    if options.punctuate and not _SENTENCE_END.search(text):
        text += "."
    return text


def event_frame(
    event: SttEvent,
    *,
    session_id: str,
    options: SttOptions,
    dialect: SttDialect,
    full_text: str = "",
) -> dict[str, Any]:
    """The JSON object for ``event`` (§3 "Server → client")."""
    if event.kind in ("speech_started", "speech_ended"):
        return {"type": event.kind, "session_id": session_id, "timestamp": event.timestamp}
    final = event.kind == "final"
    text = format_text([w.word for w in event.words], options) if final else event.text
    frame: dict[str, Any] = {"type": "transcription", "status": "success", "session_id": session_id}
    if dialect.text_fields in ("both", "transcript"):
        frame["transcript"] = text
    if dialect.text_fields in ("both", "transcription"):
        frame["transcription"] = text
    frame["is_final"] = final
    frame["is_last"] = event.is_last
    if not final:
        return frame
    if event.from_finalize and (
        dialect.from_finalize == "always"
        or (dialect.from_finalize == "itn" and options.itn_normalize)
    ):
        frame["from_finalize"] = True
    frame["speech_final"] = event.speech_final
    language = "en" if options.language.startswith("multi") else options.language
    frame["language"] = language
    frame["languages"] = [language]
    speaker: int | str = "speaker_0" if dialect.string_speakers else 0
    if options.word_timestamps or options.diarize:
        words = []
        for w in event.words:
            item: dict[str, Any] = {
                "word": w.word if options.format else w.word.lower(),
                "start": round(w.start, 3),
                "end": round(w.end, 3),
                "confidence": w.confidence,
            }
            if options.diarize:
                item["speaker"] = speaker
                item["speaker_confidence"] = 1.0
            words.append(item)
        frame["words"] = words
    if options.sentence_timestamps and event.words:
        utterance: dict[str, Any] = {
            "text": text,
            "start": round(event.words[0].start, 3),
            "end": round(event.words[-1].end, 3),
        }
        if options.diarize:
            utterance["speaker"] = speaker
        frame["utterances"] = [utterance]
    if options.full_transcript:
        frame["full_transcript"] = full_text
    return frame


def error_payload(shape: str, message: str, code: str, session_id: str) -> dict[str, Any]:
    """An in-session error frame in one of the shapes of §2 (a, c, d)."""
    if shape == "c":
        return {"status": "error", "error": {"message": message, "code": code}}
    if shape == "d":
        return {"error": message}
    return {
        "type": "error",
        "status": "error",
        "message": message,
        "error_code": code,
        "session_id": session_id,
    }
