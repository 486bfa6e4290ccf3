"""Audio helpers for the output formats of PROTOCOL.md §2/§3: PCM, WAV, G.711, MP3."""

from __future__ import annotations

import io
import itertools
import struct
import warnings
import wave
from types import ModuleType

import pytest

from smallest_core.audio import (
    Rechunker,
    alaw_decode,
    alaw_encode,
    decode_to_pcm,
    duration,
    mp3_info,
    mp3_to_pcm,
    pcm_duration,
    pcm_to_wav,
    ulaw_decode,
    ulaw_encode,
    wav_header,
    wav_to_pcm,
)

ALL_VALUES = list(range(-32768, 32768))
ALL_PCM = struct.pack(f"<{len(ALL_VALUES)}h", *ALL_VALUES)
CODECS = {"ulaw": (ulaw_encode, ulaw_decode), "alaw": (alaw_encode, alaw_decode)}


def _samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def _ramp(n: int) -> bytes:
    return struct.pack(f"<{n}h", *((i * 997) % 65536 - 32768 for i in range(n)))


def _audioop() -> ModuleType:
    """CPython's own G.711 (removed in 3.13): an independent implementation to compare."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


class TestPcm:
    def test_duration_counts_whole_samples(self) -> None:
        assert pcm_duration(b"\x00" * 32000, 16000) == 1.0
        assert pcm_duration(b"\x00" * 32001, 16000) == 1.0
        assert pcm_duration(b"", 8000) == 0.0

    def test_bad_rate_is_rejected(self) -> None:
        with pytest.raises(ValueError, match="sample_rate"):
            pcm_duration(b"\x00\x00", 0)


class TestWav:
    @pytest.mark.parametrize("sample_rate", [8000, 16000, 24000, 44100])
    def test_our_wav_reads_with_stdlib_wave(self, sample_rate: int) -> None:
        pcm = _ramp(1001)
        with wave.open(io.BytesIO(pcm_to_wav(pcm, sample_rate))) as reader:
            assert (reader.getnchannels(), reader.getsampwidth()) == (1, 2)
            assert reader.getframerate() == sample_rate
            assert reader.readframes(reader.getnframes()) == pcm

    def test_stdlib_wave_reads_with_ours(self) -> None:
        pcm = _ramp(777)
        body = io.BytesIO()
        with wave.open(body, "wb") as writer:
            writer.setnchannels(1)
            writer.setsampwidth(2)
            writer.setframerate(24000)
            writer.writeframes(pcm)
        assert wav_to_pcm(body.getvalue()) == (pcm, 24000)

    def test_header_is_44_bytes_with_sizes(self) -> None:
        header = wav_header(16000, 10)
        assert len(header) == 44
        assert struct.unpack_from("<I", header, 4)[0] == 36 + 20
        assert struct.unpack_from("<I", header, 40)[0] == 20

    @pytest.mark.parametrize("size", [0xFFFFFFFF, 0])
    def test_streaming_sizes_read_to_the_end(self, size: int) -> None:
        pcm = _ramp(50)
        header = bytearray(wav_header(22050))
        struct.pack_into("<I", header, 4, size)
        struct.pack_into("<I", header, 40, size)
        assert wav_to_pcm(bytes(header) + pcm) == (pcm, 22050)

    def test_unknown_length_header_marks_sizes_as_streaming(self) -> None:
        header = wav_header(8000, None)
        assert struct.unpack_from("<I", header, 4)[0] == 0xFFFFFFFF
        assert struct.unpack_from("<I", header, 40)[0] == 0xFFFFFFFF

    def test_extra_chunks_and_padding_are_skipped(self) -> None:
        pcm = _ramp(10)
        header = wav_header(16000, 10)
        odd_chunk = b"LIST" + struct.pack("<I", 3) + b"abc" + b"\x00"  # padded to even
        body = header[:36] + odd_chunk + header[36:] + pcm
        assert wav_to_pcm(body) == (pcm, 16000)

    def test_truncated_data_keeps_whole_samples(self) -> None:
        body = pcm_to_wav(_ramp(10), 16000)[:-3]
        pcm, _ = wav_to_pcm(body)
        assert pcm == _ramp(10)[:16]

    def test_extensible_pcm_format_is_accepted(self) -> None:
        pcm = _ramp(4)
        fmt = struct.pack("<HHIIHHHHI", 0xFFFE, 1, 16000, 32000, 2, 16, 22, 16, 4)
        fmt += b"\x01\x00\x00\x00\x00\x00\x10\x00\x80\x00\x00\xaa\x00\x38\x9b\x71"
        body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt
        body += b"data" + struct.pack("<I", len(pcm)) + pcm
        assert wav_to_pcm(b"RIFF" + struct.pack("<I", len(body)) + body) == (pcm, 16000)

    @pytest.mark.parametrize(
        ("body", "message"),
        [
            (b"OggS" + b"\x00" * 40, "not a WAV"),
            (b"RIFF\x04\x00\x00\x00WAVE", "no data chunk"),
            (b"RIFF\x10\x00\x00\x00WAVEdata\x02\x00\x00\x00\x00\x00", "before any fmt"),
            (b"RIFF\x10\x00\x00\x00WAVEfmt \x20\x00\x00\x00\x01\x00", "runs past the end"),
        ],
    )
    def test_malformed_wav_raises_value_error(self, body: bytes, message: str) -> None:
        with pytest.raises(ValueError, match=message):
            wav_to_pcm(body)

    @pytest.mark.parametrize(("channels", "bits"), [(2, 16), (1, 8)])
    def test_other_sample_formats_are_named_in_the_error(self, channels: int, bits: int) -> None:
        header = bytearray(wav_header(16000, 2))
        struct.pack_into("<H", header, 22, channels)
        struct.pack_into("<H", header, 34, bits)
        with pytest.raises(ValueError, match=f"{channels} channel.*{bits}-bit"):
            wav_to_pcm(bytes(header) + b"\x00" * 4)

    def test_odd_pcm_cannot_become_wav(self) -> None:
        with pytest.raises(ValueError, match="even number of bytes"):
            pcm_to_wav(b"\x00\x00\x00", 16000)

    def test_too_many_samples_for_32_bit_sizes(self) -> None:
        with pytest.raises(ValueError, match="num_samples"):
            wav_header(16000, 2**31)


class TestG711:
    """ITU-T G.711; negative inputs use the one's complement, as ITU's G.191 reference code."""

    def test_known_values(self) -> None:
        assert ulaw_encode(b"\x00\x00") == b"\xff"
        assert alaw_encode(b"\x00\x00") == b"\xd5"
        assert ulaw_encode(struct.pack("<2h", 32767, -32768)) == b"\x80\x00"
        assert alaw_encode(struct.pack("<2h", 32767, -32768)) == b"\xaa\x2a"
        assert _samples(ulaw_decode(b"\xff\x7f\x80\x00")) == [0, 0, 32124, -32124]
        assert _samples(alaw_decode(b"\xd5\x55\xaa\x2a")) == [8, -8, 32256, -32256]

    @pytest.mark.parametrize("law", CODECS)
    def test_every_int16_lands_on_a_neighbouring_level(self, law: str) -> None:
        """Quantisation error: each value decodes to one of the two levels around it."""
        encode, decode = CODECS[law]
        levels = sorted(set(_samples(decode(bytes(range(256))))))
        back = _samples(decode(encode(ALL_PCM)))
        index = 0
        for value, decoded in zip(ALL_VALUES, back, strict=True):
            while index + 1 < len(levels) and levels[index + 1] <= value:
                index += 1
            if value <= levels[0]:
                assert decoded == levels[0], value  # clipped
            elif value >= levels[-1]:
                assert decoded == levels[-1], value  # clipped
            else:
                assert decoded in (levels[index], levels[index + 1]), value

    @pytest.mark.parametrize("law", CODECS)
    def test_encoding_is_monotonic_and_symmetric(self, law: str) -> None:
        encode, decode = CODECS[law]
        back = _samples(decode(encode(ALL_PCM)))
        assert all(a <= b for a, b in itertools.pairwise(back))
        codes = encode(ALL_PCM)
        # x and ~x (= -x - 1) differ only in the sign bit.
        for value in range(32768):
            assert codes[value + 32768] ^ codes[~value + 32768] == 0x80, value

    @pytest.mark.parametrize("law", CODECS)
    def test_decoded_levels_encode_to_themselves(self, law: str) -> None:
        encode, decode = CODECS[law]
        levels = decode(bytes(range(256)))
        assert decode(encode(levels)) == levels

    def test_alaw_matches_cpython_audioop(self) -> None:
        audioop = _audioop()
        assert alaw_encode(ALL_PCM) == audioop.lin2alaw(ALL_PCM, 2)
        assert alaw_decode(bytes(range(256))) == audioop.alaw2lin(bytes(range(256)), 2)

    def test_ulaw_matches_cpython_audioop_up_to_the_negative_rounding(self) -> None:
        """audioop truncates negatives toward zero (Sun's code); G.191 uses ~x. Same levels."""
        audioop = _audioop()
        assert ulaw_decode(bytes(range(256))) == audioop.ulaw2lin(bytes(range(256)), 2)
        ours, theirs = ulaw_encode(ALL_PCM), audioop.lin2ulaw(ALL_PCM, 2)
        assert ours[32768:] == theirs[32768:]  # non-negative inputs agree exactly
        differ = [i for i in range(32768) if ours[i] != theirs[i]]
        assert len(differ) < 600
        assert all(abs(ours[i] - theirs[i]) == 1 for i in differ)  # adjacent levels

    @pytest.mark.parametrize("law", CODECS)
    def test_one_byte_per_sample_and_odd_input_rejected(self, law: str) -> None:
        encode, decode = CODECS[law]
        assert len(encode(_ramp(160))) == 160
        assert len(decode(b"\x12" * 160)) == 320
        assert encode(b"") == b"" and decode(b"") == b""
        with pytest.raises(ValueError, match="even number of bytes"):
            encode(b"\x00")


def _mp3_frame(
    byte1: int, bitrate_index: int, rate_index: int, length: int, *, padding: int = 0
) -> bytes:
    """A Layer III frame: header by hand, body zeros; ``length`` from the spec formula."""
    header = bytes([0xFF, byte1, bitrate_index << 4 | rate_index << 2 | padding << 1, 0x00])
    return header + bytes(length - 4)


# byte1 = sync bits + version + layer III + no CRC; frame length = spf/8 * bitrate / rate + pad
MPEG1_44100_128K = (0xFB, 9, 0, 417)  # 144 * 128000 / 44100 = 417.96
MPEG2_24000_64K = (0xF3, 8, 1, 192)  # 72 * 64000 / 24000
MPEG2_16000_32K = (0xF3, 4, 2, 144)  # 72 * 32000 / 16000
MPEG25_8000_8K = (0xE3, 1, 2, 72)  # 72 * 8000 / 8000


def _id3v2(payload_size: int) -> bytes:
    size = bytes((payload_size >> shift) & 0x7F for shift in (21, 14, 7, 0))
    return b"ID3\x04\x00\x00" + size + b"\x00" * payload_size


class TestMp3:
    @pytest.mark.parametrize(
        ("spec", "samples", "rate"),
        [
            (MPEG1_44100_128K, 1152, 44100),
            (MPEG2_24000_64K, 576, 24000),
            (MPEG2_16000_32K, 576, 16000),
            (MPEG25_8000_8K, 576, 8000),
        ],
    )
    def test_counts_frames_of_each_mpeg_version(
        self, spec: tuple[int, int, int, int], samples: int, rate: int
    ) -> None:
        data = _id3v2(300) + _mp3_frame(*spec) * 10
        assert mp3_info(data) == (10 * samples, rate)
        assert duration(data, "mp3", rate) == 10 * samples / rate

    def test_padded_frames_are_one_byte_longer(self) -> None:
        data = (
            _mp3_frame(*MPEG1_44100_128K) + _mp3_frame(*MPEG1_44100_128K[:3], 418, padding=1)
        ) * 5
        assert mp3_info(data) == (10 * 1152, 44100)

    def test_info_frame_is_not_counted(self) -> None:
        info = bytearray(_mp3_frame(*MPEG1_44100_128K))
        info[4 + 32 : 4 + 36] = b"Info"  # after the stereo MPEG-1 side info
        assert mp3_info(bytes(info) + _mp3_frame(*MPEG1_44100_128K) * 3) == (3 * 1152, 44100)

    def test_xing_frame_in_mono_mpeg2_is_not_counted(self) -> None:
        xing = bytearray(_mp3_frame(*MPEG2_24000_64K))
        xing[3] = 0xC0  # channel mode: mono
        xing[4 + 9 : 4 + 13] = b"Xing"
        assert mp3_info(bytes(xing) + _mp3_frame(*MPEG2_24000_64K) * 2) == (2 * 576, 24000)

    def test_truncated_last_frame_and_trailing_tag_are_ignored(self) -> None:
        frames = _mp3_frame(*MPEG1_44100_128K) * 4
        assert mp3_info(frames + _mp3_frame(*MPEG1_44100_128K)[:100]) == (4 * 1152, 44100)
        assert mp3_info(frames + b"TAG" + b"\x00" * 125) == (4 * 1152, 44100)

    def test_junk_before_the_first_frame_is_skipped(self) -> None:
        data = b"\x00\xff\xfb\x00junk" + _mp3_frame(*MPEG2_24000_64K) * 3
        assert mp3_info(data) == (3 * 576, 24000)

    @pytest.mark.parametrize("data", [b"", b"\x00" * 1000, pcm_to_wav(_ramp(100), 16000)])
    def test_no_frames_is_a_value_error(self, data: bytes) -> None:
        with pytest.raises(ValueError, match="no MPEG audio"):
            mp3_info(data)


class TestFormats:
    def test_decode_each_headerless_and_wav_format(self) -> None:
        pcm = _ramp(320)
        assert decode_to_pcm(pcm, "pcm", 16000) == pcm
        assert decode_to_pcm(pcm_to_wav(pcm, 16000), "wav", 16000) == pcm
        assert decode_to_pcm(ulaw_encode(pcm), "ulaw", 8000) == ulaw_decode(ulaw_encode(pcm))
        assert decode_to_pcm(alaw_encode(pcm), "alaw", 8000) == alaw_decode(alaw_encode(pcm))

    def test_mp3_decodes_to_pcm_of_its_duration(self) -> None:
        from smallest_local import audio as server_audio  # an independent MP3 encoder

        pcm = _ramp(24000 // 2)  # 0.5 s at 24 kHz
        body = server_audio.encode(pcm, 24000, "mp3")
        decoded = decode_to_pcm(body, "mp3", 24000)
        assert decoded == mp3_to_pcm(body, 24000)
        assert len(decoded) % 2 == 0
        # an MP3 decoder may keep up to one frame (1152 samples) of encoder padding
        assert len(pcm) <= len(decoded) <= len(pcm) + 2 * 1152
        with pytest.raises(ValueError, match="24000 Hz, expected 16000 Hz"):
            mp3_to_pcm(body, 16000)
        with pytest.raises(ValueError, match="does not decode"):
            mp3_to_pcm(b"\x00" * 100, 24000)

    def test_wav_at_another_rate_is_an_error(self) -> None:
        with pytest.raises(ValueError, match="24000 Hz, expected 16000 Hz"):
            decode_to_pcm(pcm_to_wav(_ramp(10), 24000), "wav", 16000)

    def test_unknown_format_lists_the_allowed_ones(self) -> None:
        with pytest.raises(ValueError, match=r"output_format=.*allowed: pcm, mp3, wav, ulaw, alaw"):
            duration(b"", "flac", 16000)

    def test_duration_of_every_format(self) -> None:
        pcm = _ramp(8000)
        assert duration(pcm, "pcm", 8000) == 1.0
        assert duration(pcm_to_wav(pcm, 16000), "wav", 8000) == 0.5  # the header's rate wins
        assert duration(ulaw_encode(pcm), "ulaw", 8000) == 1.0
        assert duration(alaw_encode(pcm), "alaw", 16000) == 0.5
        assert duration(_mp3_frame(*MPEG25_8000_8K) * 5, "mp3", 8000) == 5 * 576 / 8000


class TestRechunker:
    def test_odd_pieces_become_fixed_frames(self) -> None:
        data = _ramp(1000)
        rechunker = Rechunker(320)
        frames: list[bytes] = []
        pos = 0
        for size in [1, 3, 7, 333, 0, 161, 999, 5]:
            frames += rechunker.push(data[pos : pos + size])
            pos += size
        frames += rechunker.push(data[pos:])
        assert all(len(frame) == 320 for frame in frames)
        assert len(frames) == len(data) // 320
        assert rechunker.pending == len(data) % 320
        assert b"".join(frames) + rechunker.flush() == data
        assert rechunker.pending == 0 and rechunker.flush() == b""

    def test_half_sample_is_kept_until_completed(self) -> None:
        rechunker = Rechunker(2)
        assert rechunker.push(b"\x01") == []
        assert rechunker.push(b"\x02\x03") == [b"\x01\x02"]
        assert rechunker.flush() == b"\x03"

    def test_take_gives_whole_frames_joined_and_carries_the_rest(self) -> None:
        data = _ramp(1000)
        rechunker = Rechunker(2)  # whole samples
        out = b""
        pos = 0
        for size in [1, 3, 7, 333, 0, 161, 999, 5, 2000]:
            piece = rechunker.take(data[pos : pos + size])
            assert len(piece) % 2 == 0
            out += piece
            pos += size
        assert out == data and rechunker.pending == 0
        assert Rechunker(2).take(b"\x01") == b""

    def test_frame_size_must_be_positive(self) -> None:
        with pytest.raises(ValueError, match="frame_bytes"):
            Rechunker(0)
