"""Audio helpers for the five output formats: PCM, WAV, G.711 (μ-law, A-law) and MP3.

Lives here: pure byte-level helpers a client needs to use what the server sends
(docs/protocol.md §2, §3: ``pcm`` = headerless s16le mono, ``wav`` = RIFF s16le mono,
``ulaw``/``alaw`` = 8-bit G.711, ``mp3``): durations, WAV headers and parsing, G.711
encode/decode, MP3 frame walking, and :class:`Rechunker` for fixed-size frames.

Must not live here: I/O, asyncio, resampling or an MP3 decoder. The core depends on
httpx and websockets only, so this is stdlib-only Python; G.711 runs through
precomputed tables so a second of audio costs milliseconds.
"""

from __future__ import annotations

import functools
import io
import struct
import sys
from array import array

from .errors import InvalidOptionError
from .options import OUTPUT_FORMATS

__all__ = [
    "Rechunker",
    "alaw_decode",
    "alaw_encode",
    "decode_to_pcm",
    "duration",
    "mp3_info",
    "mp3_to_pcm",
    "pcm_duration",
    "pcm_to_wav",
    "ulaw_decode",
    "ulaw_encode",
    "wav_header",
    "wav_to_pcm",
]

_SAMPLE_WIDTH = 2  # s16le
_WAV_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_STREAMING_SIZES = (0, 0xFFFFFFFF)  # what streaming writers put where the size goes
_WAVE_FORMAT_PCM = 0x0001
_WAVE_FORMAT_EXTENSIBLE = 0xFFFE


def _check_rate(sample_rate: int) -> None:
    if sample_rate <= 0:
        raise ValueError(f"sample_rate must be positive, got {sample_rate}")


def _check_even(pcm: bytes) -> None:
    if len(pcm) % _SAMPLE_WIDTH:
        raise ValueError(
            f"PCM s16le needs an even number of bytes, got {len(pcm)}; "
            "use Rechunker to align streamed chunks"
        )


def pcm_duration(pcm: bytes, sample_rate: int) -> float:
    """Seconds of audio in PCM s16le mono; a trailing half sample counts for nothing.

    Raises:
        ValueError: ``sample_rate`` is not positive.
    """
    _check_rate(sample_rate)
    return len(pcm) // _SAMPLE_WIDTH / sample_rate


# --------------------------------------------------------------------------- WAV


def wav_header(sample_rate: int, num_samples: int | None = None) -> bytes:
    """The 44-byte RIFF header for PCM s16le mono.

    Args:
        sample_rate: Samples per second.
        num_samples: Samples that follow, or None when streaming and the length is not
            known yet: the RIFF and data sizes are then ``0xFFFFFFFF``, which most
            readers (and :func:`wav_to_pcm`) take as "until the end".

    Raises:
        ValueError: the rate is not positive, or the sizes do not fit in 32 bits.
    """
    _check_rate(sample_rate)
    if num_samples is None:
        riff_size = data_size = 0xFFFFFFFF
    else:
        data_size = num_samples * _SAMPLE_WIDTH
        riff_size = data_size + _WAV_HEADER.size - 8
        if num_samples < 0 or riff_size > 0xFFFFFFFF:
            raise ValueError(f"num_samples out of range for a WAV file: {num_samples}")
    return _WAV_HEADER.pack(
        b"RIFF",
        riff_size,
        b"WAVE",
        b"fmt ",
        16,
        _WAVE_FORMAT_PCM,
        1,
        sample_rate,
        sample_rate * _SAMPLE_WIDTH,
        _SAMPLE_WIDTH,
        8 * _SAMPLE_WIDTH,
        b"data",
        data_size,
    )


def pcm_to_wav(pcm: bytes, sample_rate: int) -> bytes:
    """Wrap PCM s16le mono in a WAV container.

    Raises:
        ValueError: odd byte count (not whole samples) or a bad rate.
    """
    _check_even(pcm)
    return wav_header(sample_rate, len(pcm) // _SAMPLE_WIDTH) + pcm


def wav_to_pcm(data: bytes) -> tuple[bytes, int]:
    """Parse a WAV body into ``(pcm_s16le_mono, sample_rate)``.

    Tolerates what streamed WAVs look like: RIFF or data sizes of ``0`` or
    ``0xFFFFFFFF`` (read to the end), a data size larger than the body (truncated
    stream), and extra chunks (``LIST``, ``fact``) before the data. A trailing half
    sample is dropped.

    Raises:
        ValueError: not RIFF/WAVE, no ``fmt `` before ``data``, a format other than
            16-bit PCM mono, or a chunk that runs past the end.
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"not a WAV file: starts with {bytes(data[:12])!r}")
    pos, sample_rate = 12, None
    while pos + 8 <= len(data):
        chunk_id, size = struct.unpack_from("<4sI", data, pos)
        body = pos + 8
        if chunk_id == b"data":
            if sample_rate is None:
                raise ValueError("WAV data chunk comes before any fmt chunk")
            end = len(data) if size in _STREAMING_SIZES else min(body + size, len(data))
            end -= (end - body) % _SAMPLE_WIDTH
            return bytes(data[body:end]), sample_rate
        if body + size > len(data):
            raise ValueError(f"WAV chunk {chunk_id!r} of {size} bytes runs past the end")
        if chunk_id == b"fmt ":
            sample_rate = _parse_fmt(data[body : body + size])
        pos = body + size + (size & 1)  # chunks are padded to even sizes
    raise ValueError("WAV file has no data chunk")


def _parse_fmt(fmt: bytes) -> int:
    """Sample rate from a ``fmt `` chunk, after checking it is 16-bit PCM mono."""
    if len(fmt) < 16:
        raise ValueError(f"WAV fmt chunk too short: {len(fmt)} bytes")
    tag, channels, rate, _, _, bits = struct.unpack_from("<HHIIHH", fmt)
    if tag == _WAVE_FORMAT_EXTENSIBLE and len(fmt) >= 26:
        tag = struct.unpack_from("<H", fmt, 24)[0]  # first two bytes of the sub-format GUID
    if tag != _WAVE_FORMAT_PCM or bits != 16 or channels != 1:
        raise ValueError(
            f"unsupported WAV format: tag {tag:#06x}, {channels} channel(s), {bits}-bit; "
            "expected PCM 16-bit mono"
        )
    _check_rate(rate)
    return int(rate)


# ------------------------------------------------------------------------- G.711
# ITU-T G.711, with negative inputs quantised through the one's complement as in the
# ITU's reference code (G.191 STL), which makes the quantiser symmetric around -0.5.
# Encoding looks each 16-bit sample up in a 64 KiB table; decoding maps each byte
# through two 256-byte tables (low and high output byte) with bytes.translate.


def _ulaw_code(sample: int) -> int:
    """μ-law code of one int16 sample (14-bit magnitude, bias 33, clipped)."""
    magnitude = (sample if sample >= 0 else ~sample) >> 2
    biased = min(magnitude + 33, 0x1FFF)
    exponent = (biased >> 6).bit_length()
    mantissa = (biased >> (exponent + 1)) & 0x0F
    sign = 0x00 if sample >= 0 else 0x80
    return ~(sign | (exponent << 4) | mantissa) & 0xFF


def _ulaw_value(code: int) -> int:
    """int16 value of one μ-law code."""
    inverted = ~code & 0xFF
    exponent = (inverted >> 4) & 0x07
    magnitude = ((((inverted & 0x0F) << 3) + 0x84) << exponent) - 0x84
    return -magnitude if inverted & 0x80 else magnitude


def _alaw_code(sample: int) -> int:
    """A-law code of one int16 sample (12-bit magnitude, even bits inverted)."""
    magnitude = (sample if sample >= 0 else ~sample) >> 4
    if magnitude < 16:
        code = magnitude
    else:
        exponent = magnitude.bit_length() - 4
        code = (exponent << 4) | ((magnitude >> (exponent - 1)) & 0x0F)
    if sample >= 0:
        code |= 0x80
    return code ^ 0x55


def _alaw_value(code: int) -> int:
    """int16 value of one A-law code."""
    code ^= 0x55
    exponent = (code >> 4) & 0x07
    mantissa = code & 0x0F
    if exponent:
        mantissa += 16
    magnitude = (mantissa << 4) + 8
    if exponent > 1:
        magnitude <<= exponent - 1
    return magnitude if code & 0x80 else -magnitude


@functools.cache
def _encode_table(law: str) -> bytes:
    """Code for every int16, indexed by the sample's unsigned 16-bit pattern."""
    code = _ulaw_code if law == "ulaw" else _alaw_code
    return bytes(code(u - 0x10000 if u & 0x8000 else u) for u in range(0x10000))


@functools.cache
def _decode_tables(law: str) -> tuple[bytes, bytes]:
    """Low and high output byte for every code, for :meth:`bytes.translate`."""
    value = _ulaw_value if law == "ulaw" else _alaw_value
    words = [value(code) & 0xFFFF for code in range(256)]
    return bytes(w & 0xFF for w in words), bytes(w >> 8 for w in words)


def _g711_encode(pcm: bytes, law: str) -> bytes:
    _check_even(pcm)
    samples = array("H")
    samples.frombytes(pcm)
    if sys.byteorder == "big":
        samples.byteswap()
    return bytes(map(_encode_table(law).__getitem__, samples))


def _g711_decode(data: bytes, law: str) -> bytes:
    low, high = _decode_tables(law)
    out = bytearray(2 * len(data))
    out[0::2] = data.translate(low)
    out[1::2] = data.translate(high)
    return bytes(out)


def ulaw_encode(pcm: bytes) -> bytes:
    """Encode PCM s16le to 8-bit μ-law (G.711), one byte per sample.

    Raises:
        ValueError: odd byte count.
    """
    return _g711_encode(pcm, "ulaw")


def ulaw_decode(data: bytes) -> bytes:
    """Decode 8-bit μ-law (G.711) to PCM s16le."""
    return _g711_decode(bytes(data), "ulaw")


def alaw_encode(pcm: bytes) -> bytes:
    """Encode PCM s16le to 8-bit A-law (G.711), one byte per sample.

    Raises:
        ValueError: odd byte count.
    """
    return _g711_encode(pcm, "alaw")


def alaw_decode(data: bytes) -> bytes:
    """Decode 8-bit A-law (G.711) to PCM s16le."""
    return _g711_decode(bytes(data), "alaw")


# --------------------------------------------------------------------------- MP3
# ISO/IEC 11172-3 and 13818-3 frame headers. Index by version bits (3 = MPEG-1,
# 2 = MPEG-2, 0 = MPEG-2.5; 1 is reserved).
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
_MP3_KBPS_V1 = (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320)
_MP3_KBPS_V2 = (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160)


def _mp3_frame(data: bytes, pos: int) -> tuple[int, int, int, int] | None:
    """``(frame_length, samples, sample_rate, version)`` of a Layer III header at pos.

    None when the four bytes there are not a usable header (no sync, reserved values,
    another layer, or free-format bitrate, whose length cannot be read from the header).
    """
    if pos + 4 > len(data) or data[pos] != 0xFF or data[pos + 1] & 0xE0 != 0xE0:
        return None
    version = (data[pos + 1] >> 3) & 0x03
    layer = (data[pos + 1] >> 1) & 0x03
    bitrate_index = data[pos + 2] >> 4
    rate_index = (data[pos + 2] >> 2) & 0x03
    if version == 1 or layer != 0x01 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    padding = (data[pos + 2] >> 1) & 0x01
    sample_rate = _MP3_RATES[version][rate_index]
    if version == 3:
        kbps, samples = _MP3_KBPS_V1[bitrate_index], 1152
    else:
        kbps, samples = _MP3_KBPS_V2[bitrate_index], 576
    # bytes per frame = samples / 8 bits * bitrate / rate, plus one padding byte
    length = samples // 8 * kbps * 1000 // sample_rate + padding
    return length, samples, sample_rate, version


def _info_frame(data: bytes, pos: int, version: int) -> tuple[int, int] | None:
    """If the frame at pos is a Xing/Info or VBRI tag: ``(encoder delay, padding)``.

    The delay and padding come from a LAME extension when there is one (0, 0 without);
    None means the frame is audio.
    """
    mono = data[pos + 3] >> 6 == 0x03
    crc = 0 if data[pos + 1] & 0x01 else 2
    # side information: MPEG-1 17 (mono) or 32 bytes, MPEG-2/2.5 9 or 17 bytes
    side_info = (17 if mono else 32) if version == 3 else (9 if mono else 17)
    xing = pos + 4 + crc + side_info
    if data[pos + 36 : pos + 40] == b"VBRI":
        return 0, 0
    if data[xing : xing + 4] not in (b"Xing", b"Info"):
        return None
    flags = int.from_bytes(data[xing + 4 : xing + 8], "big")
    # optional fields in flag order: frames (4), bytes (4), TOC (100), quality (4)
    ext = xing + 8 + sum(size for bit, size in ((1, 4), (2, 4), (4, 100), (8, 4)) if flags & bit)
    if data[ext : ext + 4] not in (b"LAME", b"Lavf", b"Lavc") or ext + 24 > len(data):
        return 0, 0
    packed = int.from_bytes(data[ext + 21 : ext + 24], "big")
    return packed >> 12, packed & 0xFFF


def _skip_id3v2(data: bytes) -> int:
    """Offset after any ID3v2 tags at the start (size is 4 synchsafe bytes)."""
    pos = 0
    while data[pos : pos + 3] == b"ID3" and pos + 10 <= len(data):
        size = 0
        for byte in data[pos + 6 : pos + 10]:
            size = (size << 7) | (byte & 0x7F)
        footer = 10 if data[pos + 5] & 0x10 else 0
        pos += 10 + size + footer
    return pos


def mp3_info(data: bytes) -> tuple[int, int]:
    """``(num_samples, sample_rate)`` of an MP3 (MPEG-1/2/2.5 Layer III), without decoding.

    Walks the frame headers after any ID3v2 tag. To avoid false syncs, a frame counts
    only if its header agrees with the first frame's version and rate; bytes that are
    not such a frame are skipped to the next one (trailing ID3v1/APE tags included).
    A last frame cut short by the end of the data is not counted. A leading Xing/Info
    or VBRI frame is skipped, as decoders that understand it do: it carries the tag,
    not audio. When that tag has a LAME extension, its encoder delay and padding are
    subtracted (gapless length, what ffmpeg decodes); without one, a decoder may return
    up to about two frames fewer samples than counted here.

    Raises:
        ValueError: no Layer III frame found.
    """
    data = bytes(data)
    pos = _skip_id3v2(data)
    first = _find_first_frame(data, pos)
    if first is None:
        raise ValueError("no MPEG audio Layer III frame found")
    pos, (_, _, sample_rate, version) = first
    num_samples, is_first, trim = 0, True, 0
    while pos + 4 <= len(data):
        frame = _mp3_frame(data, pos)
        if frame is None or frame[2] != sample_rate or frame[3] != version:
            pos = data.find(b"\xff", pos + 1)
            if pos < 0:
                break
            continue
        length, samples = frame[0], frame[1]
        if pos + length > len(data):
            break
        tag = _info_frame(data, pos, version) if is_first else None
        if tag is None:
            num_samples += samples
        else:
            trim = sum(tag)
        is_first = False
        pos += length
    return max(0, num_samples - trim), sample_rate


def _find_first_frame(data: bytes, pos: int) -> tuple[int, tuple[int, int, int, int]] | None:
    """The first header whose frame is followed by another header (or the end of data)."""
    pos = data.find(b"\xff", pos)
    while pos >= 0:
        frame = _mp3_frame(data, pos)
        if frame is not None:
            following = pos + frame[0]
            if following >= len(data) or _mp3_frame(data, following) is not None:
                return pos, frame
        pos = data.find(b"\xff", pos + 1)
    return None


# ----------------------------------------------------------------------- formats


def _check_format(fmt: str) -> None:
    if fmt not in OUTPUT_FORMATS:  # docs/protocol.md §2, defined once in options
        raise InvalidOptionError("output_format", fmt, ", ".join(OUTPUT_FORMATS))


def decode_to_pcm(data: bytes, fmt: str, sample_rate: int) -> bytes:
    """PCM s16le mono from a body in ``fmt`` (``pcm``, ``wav``, ``ulaw``, ``alaw``, ``mp3``).

    ``sample_rate`` is the rate that was asked for; a WAV header that says otherwise
    is an error rather than silently wrong-speed audio. Nothing is resampled.

    ``mp3`` is decoded by :func:`mp3_to_pcm` (needs ``soundfile``).

    Raises:
        ValueError: an unknown format, a malformed WAV or MP3, a WAV or MP3 rate other
            than ``sample_rate``, or ``mp3`` without ``soundfile`` installed.
    """
    _check_format(fmt)
    _check_rate(sample_rate)
    if fmt == "pcm":
        return bytes(data)
    if fmt == "ulaw":
        return ulaw_decode(data)
    if fmt == "alaw":
        return alaw_decode(data)
    if fmt == "mp3":
        return mp3_to_pcm(data, sample_rate)
    pcm, wav_rate = wav_to_pcm(data)
    if wav_rate != sample_rate:
        raise ValueError(f"WAV sample rate is {wav_rate} Hz, expected {sample_rate} Hz")
    return pcm


def mp3_to_pcm(data: bytes, sample_rate: int) -> bytes:
    """PCM s16le mono from an MP3 body, decoded by ``soundfile`` (libsndfile).

    ``soundfile`` is not a dependency of the core (the REST client returns MP3 bytes as
    they are); Pipecat installs it. A stereo body keeps its first channel.

    Raises:
        ValueError: the body does not decode, its rate is not ``sample_rate``, or
            ``soundfile`` is not installed.
    """
    _check_rate(sample_rate)
    try:
        import numpy as np
        import soundfile  # type: ignore[import-untyped]
    except ImportError:
        raise ValueError(
            "decoding mp3 needs the soundfile package (pip install soundfile); "
            "mp3_info gives the duration without it"
        ) from None
    try:
        samples, rate = soundfile.read(io.BytesIO(data), dtype="int16")
    except RuntimeError as err:  # soundfile.LibsndfileError
        raise ValueError(f"mp3 body does not decode: {err}") from None
    if rate != sample_rate:
        raise ValueError(f"mp3 sample rate is {rate} Hz, expected {sample_rate} Hz")
    if samples.ndim > 1:
        samples = samples[:, 0]
    return bytes(np.ascontiguousarray(samples, dtype="<i2").tobytes())


def duration(data: bytes, fmt: str, sample_rate: int) -> float:
    """Seconds of audio in a body of any output format.

    ``sample_rate`` applies to headerless formats (``pcm``, ``ulaw``, ``alaw``); WAV and
    MP3 use the rate in their own headers.

    Raises:
        ValueError: unknown format, or a malformed WAV or MP3.
    """
    _check_format(fmt)
    _check_rate(sample_rate)
    if fmt == "pcm":
        return pcm_duration(data, sample_rate)
    if fmt in ("ulaw", "alaw"):
        return len(data) / sample_rate
    if fmt == "mp3":
        num_samples, mp3_rate = mp3_info(data)
        return num_samples / mp3_rate
    pcm, wav_rate = wav_to_pcm(data)
    return pcm_duration(pcm, wav_rate)


# ---------------------------------------------------------------------- framing


class Rechunker:
    """Regroup a byte stream into fixed-size frames.

    Network chunks come in any size, and a chunk may end in the middle of a sample;
    audio sinks (LiveKit, Pipecat, sound cards) want whole frames of, say, 10 ms.
    Bytes that do not yet fill a frame are kept for the next :meth:`push`.

    Args:
        frame_bytes: Size of every frame returned by :meth:`push`, e.g.
            ``sample_rate // 100 * 2`` for 10 ms of PCM s16le.

    Raises:
        ValueError: ``frame_bytes`` is not positive.
    """

    __slots__ = ("_buf", "_frame")

    def __init__(self, frame_bytes: int) -> None:
        if frame_bytes <= 0:
            raise ValueError(f"frame_bytes must be positive, got {frame_bytes}")
        self._frame = frame_bytes
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held back, waiting to fill a frame."""
        return len(self._buf)

    def push(self, data: bytes) -> list[bytes]:
        """Add bytes; return every complete frame now available (maybe none)."""
        self._buf += data
        size = self._frame
        whole = len(self._buf) - len(self._buf) % size
        frames = [bytes(self._buf[i : i + size]) for i in range(0, whole, size)]
        del self._buf[:whole]
        return frames

    def take(self, data: bytes) -> bytes:
        """Add bytes; return every complete frame now available as one ``bytes`` (maybe
        empty). With ``frame_bytes=2`` this carries an odd byte over to the next chunk,
        so PCM s16le read from a byte stream always comes out in whole samples."""
        self._buf += data
        whole = len(self._buf) - len(self._buf) % self._frame
        out = bytes(self._buf[:whole])
        del self._buf[:whole]
        return out

    def flush(self) -> bytes:
        """Return the held-back bytes (shorter than a frame, maybe odd) and empty the buffer."""
        rest = bytes(self._buf)
        self._buf.clear()
        return rest
