"""Output formats of the local server (PROTOCOL.md §3): pcm, wav, mp3, ulaw, alaw."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest

from smallest_local.audio import (
    FORMATS,
    StreamEncoder,
    content_type,
    decode_g711,
    encode,
    wav_header,
)

RATES = (8000, 16000, 24000, 44100)


def _tone_pcm(sample_rate: int, seconds: float = 0.5) -> bytes:
    """A 440 Hz sine with a slow amplitude sweep: exercises every G.711 segment."""
    t = np.arange(int(sample_rate * seconds)) / sample_rate
    envelope = np.linspace(0.001, 1.0, t.size)
    return (np.sin(2 * np.pi * 440 * t) * envelope * 30000).astype("<i2").tobytes()


def _chunks(data: bytes, sizes: tuple[int, ...] = (1, 3, 7, 160, 999)) -> list[bytes]:
    """Split ``data`` into odd-sized pieces (half samples included)."""
    out, i, k = [], 0, 0
    while i < len(data):
        size = sizes[k % len(sizes)]
        out.append(data[i : i + size])
        i, k = i + size, k + 1
    return out


def _mp3_sample_rate(frame: bytes) -> int:
    """Sample rate from the first MPEG audio frame header."""
    assert frame[0] == 0xFF and frame[1] & 0xE0 == 0xE0, "no MPEG frame sync"
    version = (frame[1] >> 3) & 0x03  # 3 = MPEG-1, 2 = MPEG-2, 0 = MPEG-2.5
    layer = (frame[1] >> 1) & 0x03
    assert layer == 0x01, "not Layer III"
    table = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}
    return table[version][(frame[2] >> 2) & 0x03]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sample_rate", RATES)
def test_every_format_encodes(fmt: str, sample_rate: int) -> None:
    pcm = _tone_pcm(sample_rate)
    body = encode(pcm, sample_rate, fmt)
    expected_size = {"pcm": len(pcm), "wav": 44 + len(pcm), "ulaw": len(pcm) // 2}
    expected_size["alaw"] = len(pcm) // 2
    if fmt in expected_size:
        assert len(body) == expected_size[fmt]
    else:  # mp3: compressed, but not to nothing
        assert len(pcm) // 100 < len(body) < len(pcm) // 2


def test_pcm_is_identity() -> None:
    pcm = _tone_pcm(16000)
    assert encode(pcm, 16000, "pcm") == pcm
    assert encode(b"", 16000, "pcm") == b""


@pytest.mark.parametrize("sample_rate", RATES)
def test_wav_parses_with_stdlib_wave(sample_rate: int) -> None:
    pcm = _tone_pcm(sample_rate)
    with wave.open(io.BytesIO(encode(pcm, sample_rate, "wav"))) as reader:
        assert reader.getnchannels() == 1
        assert reader.getsampwidth() == 2
        assert reader.getframerate() == sample_rate
        assert reader.getnframes() == len(pcm) // 2
        assert reader.readframes(reader.getnframes()) == pcm


def test_wav_header_layout() -> None:
    header = wav_header(24000, 1000)
    assert len(header) == 44
    assert struct.unpack("<4sI4s", header[:12]) == (b"RIFF", 1036, b"WAVE")
    assert struct.unpack("<4sIHHIIHH", header[12:36]) == (b"fmt ", 16, 1, 1, 24000, 48000, 2, 16)
    assert struct.unpack("<4sI", header[36:]) == (b"data", 1000)
    streaming = wav_header(24000)
    assert struct.unpack("<I", streaming[4:8])[0] == 0xFFFFFFFF
    assert struct.unpack("<I", streaming[40:44])[0] == 0xFFFFFFFF
    assert streaming[8:40] == header[8:40]


@pytest.mark.parametrize("fmt", ["ulaw", "alaw"])
def test_g711_round_trip_is_within_quantisation_error(fmt: str) -> None:
    x = np.arange(-32768, 32768, dtype=np.int32)
    codes = encode(x.astype("<i2").tobytes(), 8000, fmt)
    assert len(codes) == x.size
    y = np.frombuffer(decode_g711(codes, fmt), dtype="<i2").astype(np.int32)
    error = np.abs(y - x)
    # Half a quantisation step: ≤ 16 near zero, ~1/32 (A-law) to ~1/20 (μ-law) of the
    # magnitude above, plus μ-law's clipping at ±32124 at the very top.
    assert np.all(error <= np.maximum(16, 0.055 * np.abs(x)))
    assert np.all(np.diff(y) >= 0), "decoding is not monotonic"
    # Decoded values are code points: encoding them again is lossless.
    again = encode(decode_g711(codes, fmt), 8000, fmt)
    assert decode_g711(again, fmt) == decode_g711(codes, fmt)


def test_g711_known_code_points() -> None:
    samples = np.array([0, -1, 32767, -32768], dtype="<i2").tobytes()
    # μ-law: zero is 0xFF, full scale 0x80 / 0x00 (codes are bit-inverted); -1 floors to
    # -1 at 14 bits, one step below zero.
    assert encode(samples, 8000, "ulaw") == bytes([0xFF, 0x7E, 0x80, 0x00])
    # A-law: even bits inverted (xor 0x55), sign bit set for positive.
    assert encode(samples, 8000, "alaw") == bytes([0xD5, 0x55, 0xAA, 0x2A])
    assert decode_g711(bytes([0xFF, 0x80, 0x00]), "ulaw") == (
        np.array([0, 32124, -32124], dtype="<i2").tobytes()
    )
    assert decode_g711(bytes([0xD5, 0xAA, 0x2A]), "alaw") == (
        np.array([8, 32256, -32256], dtype="<i2").tobytes()
    )
    with pytest.raises(ValueError, match="ulaw, alaw"):
        decode_g711(b"\x00", "pcm")


@pytest.mark.parametrize("sample_rate", RATES)
def test_mp3_is_mpeg_layer3_at_the_input_rate(sample_rate: int) -> None:
    body = encode(_tone_pcm(sample_rate), sample_rate, "mp3")
    if body.startswith(b"ID3"):  # skip a tag if the encoder ever writes one
        size = body[6] << 21 | body[7] << 14 | body[8] << 7 | body[9]
        body = body[10 + size :]
    assert _mp3_sample_rate(body) == sample_rate


def test_mp3_of_empty_input_is_still_mp3() -> None:
    body = encode(b"", 16000, "mp3")
    assert body[:3] == b"ID3" or _mp3_sample_rate(body) == 16000


@pytest.mark.parametrize("fmt", ["pcm", "ulaw", "alaw"])
def test_stream_encoder_matches_one_shot(fmt: str) -> None:
    pcm = _tone_pcm(8000)
    encoder = StreamEncoder(fmt, 8000)
    pieces = [encoder.encode(chunk) for chunk in _chunks(pcm)]
    streamed = b"".join(pieces) + encoder.finish()
    assert streamed == encode(pcm, 8000, fmt)
    # Output is produced chunk by chunk, not held back until finish().
    assert sum(1 for p in pieces if p) > len(pieces) // 2


def test_stream_encoder_wav_has_streaming_header_then_pcm() -> None:
    pcm = _tone_pcm(16000)
    encoder = StreamEncoder("wav", 16000)
    pieces = [encoder.encode(chunk) for chunk in _chunks(pcm)]
    streamed = b"".join(pieces) + encoder.finish()
    assert streamed == wav_header(16000) + pcm
    assert pieces[0] == wav_header(16000)  # first chunk was a half sample: header only
    with wave.open(io.BytesIO(streamed)) as reader:
        assert reader.getframerate() == 16000
        assert reader.readframes(len(pcm)) == pcm


def test_stream_encoder_wav_without_audio_is_a_header() -> None:
    encoder = StreamEncoder("wav", 24000)
    assert encoder.encode(b"") == wav_header(24000)
    assert encoder.finish() == b""
    assert StreamEncoder("wav", 24000).finish() == wav_header(24000)


def test_stream_encoder_mp3_is_incremental_and_complete() -> None:
    pcm = _tone_pcm(24000, seconds=2.0)
    encoder = StreamEncoder("mp3", 24000)
    pieces = [encoder.encode(pcm[i : i + 4800]) for i in range(0, len(pcm), 4800)]
    tail = encoder.finish()
    assert any(pieces), "LAME produced nothing before finish()"
    streamed = b"".join(pieces) + tail
    assert _mp3_sample_rate(streamed) == 24000
    whole = encode(pcm, 24000, "mp3")
    # the one-shot body is the same frames behind a LAME "Info" frame (gapless length)
    assert whole.endswith(streamed) and whole[: len(whole) - len(streamed)].find(b"Info") > 0


def test_one_shot_mp3_declares_its_exact_length() -> None:
    """The LAME tag's delay/padding make the file decode to exactly the input length."""
    from smallest_core.audio import mp3_info

    for rate in (8000, 16000, 24000, 44100):
        n = rate * 3 // 4
        assert mp3_info(encode(_tone_pcm(rate, seconds=0.75), rate, "mp3")) == (n, rate)


def test_stream_encoder_misuse() -> None:
    encoder = StreamEncoder("ulaw", 8000)
    encoder.encode(b"\x00\x00\x01")
    with pytest.raises(ValueError, match="middle of a sample"):
        encoder.finish()
    with pytest.raises(RuntimeError):
        encoder.encode(b"\x00\x00")
    with pytest.raises(RuntimeError):
        encoder.finish()


def test_content_types() -> None:
    assert content_type("wav") == "audio/wav"
    assert content_type("mp3") == "audio/mpeg"
    for fmt in ("pcm", "ulaw", "alaw"):
        assert content_type(fmt) == "application/octet-stream"
    assert StreamEncoder("mp3", 16000).content_type == "audio/mpeg"


def test_bad_arguments_are_rejected() -> None:
    allowed = "pcm, wav, mp3, ulaw, alaw"
    for call in (
        lambda: encode(b"", 8000, "flac"),
        lambda: StreamEncoder("opus", 8000),
        lambda: content_type("ogg"),
    ):
        with pytest.raises(ValueError, match=allowed):
            call()
    with pytest.raises(ValueError, match="even number"):
        encode(b"\x00", 8000, "wav")
    with pytest.raises(ValueError, match="positive"):
        encode(b"", 0, "pcm")
