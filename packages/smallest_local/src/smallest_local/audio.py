"""Encoders from PCM s16le mono to the output formats of docs/protocol.md §3.

Formats: ``pcm`` (headerless s16le, the identity), ``wav`` (RIFF, s16le mono), ``mp3``
(``lameenc``), ``ulaw`` and ``alaw`` (8-bit G.711). ``encode`` does a whole body at once;
``StreamEncoder`` does the same for a body sent in pieces, for the streamed HTTP
response. G.711 is implemented with numpy lookup tables (``audioop`` is gone in Python
3.13) following the ITU-T G.711 segment/mantissa layout; ``decode_g711`` inverts it.
Both directions were checked bit-identical to ``audioop`` on all 65536 int16 values.
"""

from __future__ import annotations

import struct
from functools import cache

import lameenc
import numpy as np

__all__ = [
    "FORMATS",
    "StreamEncoder",
    "content_type",
    "decode_g711",
    "encode",
    "wav_header",
]

#: Output formats the protocol allows (``output_format``).
FORMATS: tuple[str, ...] = ("pcm", "wav", "mp3", "ulaw", "alaw")

_STREAMING_SIZE = 0xFFFFFFFF  # RIFF/data size for a WAV whose length is unknown
_ULAW_BIAS = 0x21  # at the 14-bit scale the encoder works on
_ULAW_BIAS_16 = 0x84  # the same bias at the 16-bit scale the decoder returns
_ULAW_CLIP = 8159
_ULAW_SEGMENT_ENDS = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_ALAW_SEGMENT_ENDS = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_MP3_QUALITY = 5  # lameenc: 2 best ... 7 fastest


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ValueError(f"unknown output format {fmt!r}; allowed: {', '.join(FORMATS)}")


def content_type(fmt: str) -> str:
    """HTTP Content-Type for a body in ``fmt``: audio/wav, audio/mpeg or octet-stream."""
    _check_format(fmt)
    return {"wav": "audio/wav", "mp3": "audio/mpeg"}.get(fmt, "application/octet-stream")


def wav_header(sample_rate: int, data_size: int | None = None) -> bytes:
    """The 44-byte RIFF header for s16le mono.

    Args:
        sample_rate: Hz.
        data_size: bytes of PCM that follow; None for a stream of unknown length, which
            gets 0xFFFFFFFF in both size fields (what streaming WAV readers expect).
    """
    if data_size is None:
        riff_size = size = _STREAMING_SIZE
    else:
        riff_size, size = 36 + data_size, data_size
    return (
        struct.pack("<4sI4s", b"RIFF", riff_size, b"WAVE")
        + struct.pack("<4sIHHIIHH", b"fmt ", 16, 1, 1, sample_rate, sample_rate * 2, 2, 16)
        + struct.pack("<4sI", b"data", size)
    )


@cache
def _ulaw_table() -> np.ndarray:
    """μ-law code for every int16, indexed by the sample's uint16 bit pattern.

    G.711 μ-law works on 14-bit input: floor-shift, bias by 33, find the segment,
    keep 4 mantissa bits, invert. (Bit-identical to the classic reference coder.)
    """
    x = np.arange(65536, dtype=np.int32)
    x = np.where(x >= 32768, x - 65536, x) >> 2  # 14-bit
    negative = x < 0
    biased = np.minimum(np.where(negative, -x, x), _ULAW_CLIP) + _ULAW_BIAS  # 33..8192
    segment = np.searchsorted(_ULAW_SEGMENT_ENDS, biased).astype(np.int32)  # 0..8
    code = np.where(
        segment >= 8, 0x7F, (segment << 4) | ((biased >> (np.minimum(segment, 7) + 1)) & 0x0F)
    )
    return (code ^ np.where(negative, 0x7F, 0xFF)).astype(np.uint8)


@cache
def _alaw_table() -> np.ndarray:
    """A-law code for every int16, indexed by the sample's uint16 bit pattern."""
    x = np.arange(65536, dtype=np.int32)
    x = np.where(x >= 32768, x - 65536, x) >> 3  # 13-bit
    negative = x < 0
    value = np.where(negative, -x - 1, x)  # 0..4095
    segment = np.searchsorted(_ALAW_SEGMENT_ENDS, value).astype(np.int32)  # 0..7
    shift = np.where(segment < 2, 1, segment)
    code = (segment << 4) | ((value >> shift) & 0x0F)
    return (code ^ np.where(negative, 0x55, 0xD5)).astype(np.uint8)


@cache
def _ulaw_decode_table() -> np.ndarray:
    u = ~np.arange(256, dtype=np.int32) & 0xFF
    exponent = (u >> 4) & 0x07
    magnitude = ((((u & 0x0F) << 3) + _ULAW_BIAS_16) << exponent) - _ULAW_BIAS_16
    return np.where(u & 0x80, -magnitude, magnitude).astype("<i2")


@cache
def _alaw_decode_table() -> np.ndarray:
    a = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (a & 0x70) >> 4
    base = (a & 0x0F) << 4
    magnitude = np.where(
        segment == 0,
        base + 8,
        (base + 0x108) << np.maximum(segment - 1, 0),
    )
    return np.where(a & 0x80, magnitude, -magnitude).astype("<i2")


def _g711(pcm: bytes, fmt: str) -> bytes:
    table = _ulaw_table() if fmt == "ulaw" else _alaw_table()
    return table[np.frombuffer(pcm, dtype="<u2")].tobytes()


def decode_g711(data: bytes, fmt: str) -> bytes:
    """Decode 8-bit G.711 (``ulaw`` or ``alaw``) back to PCM s16le."""
    if fmt not in ("ulaw", "alaw"):
        raise ValueError(f"not a G.711 format: {fmt!r}; allowed: ulaw, alaw")
    table = _ulaw_decode_table() if fmt == "ulaw" else _alaw_decode_table()
    return table[np.frombuffer(data, dtype=np.uint8)].tobytes()


def _mp3_encoder(sample_rate: int) -> lameenc.Encoder:
    """A mono CBR encoder at the input rate (no resampling by LAME)."""
    if sample_rate <= 8000:
        kbps = 24
    elif sample_rate <= 16000:
        kbps = 32
    elif sample_rate <= 24000:
        kbps = 48
    else:
        kbps = 64
    encoder = lameenc.Encoder()
    encoder.set_bit_rate(kbps)
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_out_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(_MP3_QUALITY)
    encoder.silence()
    return encoder


def _check_pcm(pcm: bytes, sample_rate: int) -> None:
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")
    if len(pcm) % 2:
        raise ValueError(f"PCM s16le must have an even number of bytes, got {len(pcm)}")


def encode(pcm: bytes, sample_rate: int, fmt: str) -> bytes:
    """Encode a complete PCM s16le mono body into ``fmt``.

    Raises:
        ValueError: unknown ``fmt`` (the message lists the allowed ones), odd-length PCM,
            or a non-positive rate.
    """
    _check_format(fmt)
    _check_pcm(pcm, sample_rate)
    if fmt == "pcm":
        return bytes(pcm)
    if fmt == "wav":
        return wav_header(sample_rate, len(pcm)) + pcm
    if fmt == "mp3":
        encoder = _mp3_encoder(sample_rate)
        frames = bytes(encoder.encode(pcm)) + bytes(encoder.flush())
        return _info_frame(frames, len(pcm) // 2) + frames
    return _g711(pcm, fmt)


# -- gapless MP3: a LAME "Info" frame in front of a complete file -------------------------
_LAME_DELAY = 576  # samples LAME puts before the audio (its documented encoder delay)
_KBPS_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_KBPS_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)
_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _crc16(data: bytes) -> int:
    """CRC-16/ARC, the checksum of the LAME tag."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def _info_frame(frames: bytes, num_samples: int) -> bytes:
    """A Xing "Info" frame with a LAME extension saying how long the audio really is.

    A complete MP3 body carries the encoder delay and the padding of its last frame;
    decoders that read the LAME tag (ffmpeg, browsers, our core's ``mp3_info``) trim
    them, so the file decodes to exactly ``num_samples`` (gapless). Empty input → b"".
    """
    if len(frames) < 4 or frames[0] != 0xFF:
        return b""
    b1, b2, b3 = frames[1], frames[2], frames[3]
    version = (b1 >> 3) & 0x03
    rate = _RATES[version][(b2 >> 2) & 0x03]
    spf, kbps_table, side = (1152, _KBPS_V1, 17) if version == 3 else (576, _KBPS_V2, 9)
    # count the audio frames (all the same size class; walk the headers)
    count, pos = 0, 0
    while pos + 4 <= len(frames) and frames[pos] == 0xFF:
        kbps = kbps_table[frames[pos + 2] >> 4]
        pos += spf // 8 * kbps * 1000 // rate + ((frames[pos + 2] >> 1) & 1)
        count += 1
    padding = max(0, count * spf - num_samples - _LAME_DELAY)
    index = next(i for i in range(1, 15) if spf // 8 * kbps_table[i] * 1000 // rate >= 192)
    length = spf // 8 * kbps_table[index] * 1000 // rate
    frame = bytearray(length)
    frame[0:4] = bytes((0xFF, b1 | 0x01, (index << 4) | (b2 & 0x0C), b3))  # no CRC, no pad
    tag = 4 + side
    frame[tag : tag + 4] = b"Info"
    frame[tag + 4 : tag + 8] = (0x0F).to_bytes(4, "big")  # frames, bytes, TOC, quality
    frame[tag + 8 : tag + 12] = count.to_bytes(4, "big")
    frame[tag + 12 : tag + 16] = (len(frames) + length).to_bytes(4, "big")
    frame[tag + 16 : tag + 116] = bytes(i * 256 // 100 for i in range(100))  # CBR: linear
    frame[tag + 116 : tag + 120] = (50).to_bytes(4, "big")
    lame = tag + 120
    frame[lame : lame + 9] = b"LAME3.100"
    delay_padding = (_LAME_DELAY << 12) | min(padding, 0xFFF)
    frame[lame + 21 : lame + 24] = delay_padding.to_bytes(3, "big")
    frame[lame + 28 : lame + 32] = (len(frames) + length).to_bytes(4, "big")
    frame[lame + 34 : lame + 36] = _crc16(bytes(frame[:190])).to_bytes(2, "big")
    return bytes(frame)


class StreamEncoder:
    """Encode a PCM body that arrives in chunks, emitting bytes as early as possible.

    ``pcm`` passes each chunk through unchanged; ``ulaw``/``alaw`` encode per chunk (a
    sample split across chunks is carried over), so their concatenated output equals
    ``encode`` of the whole; ``wav`` starts with a header whose sizes are 0xFFFFFFFF
    (length unknown) and then passes PCM through; ``mp3`` feeds LAME incrementally and
    flushes on ``finish``.

    Args:
        fmt: one of ``FORMATS``.
        sample_rate: Hz of the PCM that will be passed in.
    """

    def __init__(self, fmt: str, sample_rate: int) -> None:
        _check_format(fmt)
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        self.fmt = fmt
        self.sample_rate = sample_rate
        self._carry = b""
        self._header_sent = False
        self._finished = False
        self._mp3 = _mp3_encoder(sample_rate) if fmt == "mp3" else None

    @property
    def content_type(self) -> str:
        """HTTP Content-Type of the encoded stream."""
        return content_type(self.fmt)

    def encode(self, chunk: bytes) -> bytes:
        """Encode the next piece of PCM; may return b"" (e.g. LAME still buffering)."""
        if self._finished:
            raise RuntimeError("StreamEncoder.encode() after finish()")
        if self.fmt == "pcm":
            return bytes(chunk)
        data = self._carry + chunk
        whole = len(data) - len(data) % 2
        data, self._carry = data[:whole], data[whole:]
        if self.fmt == "wav":
            return self._header() + data
        if self._mp3 is not None:
            return bytes(self._mp3.encode(data))
        return _g711(data, self.fmt)

    def finish(self) -> bytes:
        """End the stream: the header if nothing was sent yet (wav), LAME's last frames.

        Raises:
            ValueError: a trailing half sample was never completed.
        """
        if self._finished:
            raise RuntimeError("StreamEncoder.finish() called twice")
        self._finished = True
        if self._carry:
            raise ValueError("PCM stream ended in the middle of a sample (odd byte count)")
        if self.fmt == "wav":
            return self._header()
        if self._mp3 is not None:
            tail = bytes(self._mp3.encode(b""))  # lameenc refuses flush() before encode()
            return tail + bytes(self._mp3.flush())
        return b""

    def _header(self) -> bytes:
        if self._header_sent:
            return b""
        self._header_sent = True
        return wav_header(self.sample_rate)
