"""Hostile STT input stays bounded: a clear error frame or status, never a 500 or a dead socket.

Covers huge frames, audio faster than the rate limit, endless streams, bytes that are a
container file instead of the declared encoding, every decodable encoding, and batch
bodies that are too large, empty, a URL or an unsupported container.
"""

from __future__ import annotations

import contextlib
import io
import json
import wave

import httpx
import numpy as np
import pytest
from websockets.exceptions import ConnectionClosed

from smallest_local import Server
from smallest_local.engines import tone_word

from .sttclient import BATCH, LEGACY, connect, finals, recv, rest, send_audio, tone, until
from .wsclient import TLS

BASE = "model=pulse&language=en&format=false"


def _headers(server: Server) -> dict[str, str]:
    return {"Authorization": f"Bearer {server.api_key}"}


@pytest.mark.smallest_server(max_frame_bytes=4096)
async def test_a_huge_frame_closes_1009(smallest_server: Server) -> None:
    ws = await connect(smallest_server, BASE)
    await ws.send(b"\x00" * 10000)
    await ws.wait_closed()
    assert ws.close_code == 1009


@pytest.mark.smallest_server(stt_burst_s=1.0, stt_max_realtime_factor=1.0)
async def test_audio_faster_than_the_rate_limit(smallest_server: Server) -> None:
    ws = await connect(smallest_server, BASE)
    with contextlib.suppress(ConnectionClosed):  # the server may close mid-send
        await send_audio(ws, tone(15, "fast"))  # 3 s at once, 1 s of burst allowed
    frames = await rest(ws)
    assert frames[-1]["error_code"] == "RATE_LIMITED" and ws.close_code == 1008


@pytest.mark.smallest_server(stt_max_session_s=1.0)
async def test_an_endless_stream_is_cut_after_its_final(smallest_server: Server) -> None:
    ws = await connect(smallest_server, BASE)
    with contextlib.suppress(ConnectionClosed):
        await send_audio(ws, tone(10, "long"))
    frames = await rest(ws)
    assert frames[-1]["error_code"] == "SESSION_TOO_LONG" and ws.close_code == 1008
    assert finals(frames)[-1]["transcript"].split()[0] == tone_word("long")


@pytest.mark.parametrize(
    ("head", "name"), [(b"OggS\x00\x02", "Ogg"), (b"ID3\x04\x00", "MP3"), (b"fLaC\x00\x00", "FLAC")]
)
async def test_container_bytes_instead_of_pcm(
    smallest_server: Server, head: bytes, name: str
) -> None:
    ws = await connect(smallest_server, BASE)
    await ws.send(head + b"\x00" * 100)
    frame = await recv(ws)
    assert frame["error_code"] == "INVALID_AUDIO" and name in frame["message"]
    await ws.wait_closed()
    assert ws.close_code == 1003


def _wav(pcm: bytes, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(pcm)
    return buf.getvalue()


async def test_a_matching_wav_header_is_skipped_a_wrong_one_refused(
    smallest_server: Server,
) -> None:
    ws = await connect(smallest_server, BASE)
    await send_audio(ws, _wav(tone(2, "w")), chunk=4000)
    await ws.send(json.dumps({"type": "close_stream"}))
    assert finals(await rest(ws))[-1]["transcript"] == f"{tone_word('w')} {tone_word('w')}"
    ws = await connect(smallest_server, BASE)
    await ws.send(_wav(tone(1, "w"), rate=8000))
    frame = await recv(ws)
    assert frame["error_code"] == "INVALID_AUDIO" and "sample_rate=16000" in frame["message"]


@pytest.mark.smallest_server(stt_engine="pocketsphinx")
@pytest.mark.parametrize("encoding", ["linear32-int", "linear32-float", "mulaw", "alaw"])
async def test_every_encoding_is_decoded(smallest_server: Server, encoding: str) -> None:
    # a 440 Hz tone: the VAD must hear it as speech whatever the encoding
    t = np.arange(8000) / 8000
    wave16 = (np.sin(2 * np.pi * 440 * t) * 8000).astype("<i2")
    if encoding == "linear32-int":
        data, query = (wave16.astype("<i4") << 16).tobytes(), "encoding=linear32&sample_rate=8000"
    elif encoding == "linear32-float":
        data = (wave16 / 32768).astype("<f4").tobytes()
        query = "encoding=linear32&sample_rate=8000"
    else:
        from smallest_local.audio import encode

        data = encode(wave16.tobytes(), 8000, "ulaw" if encoding == "mulaw" else "alaw")
        query = f"encoding={encoding}&sample_rate=8000"
    ws = await connect(smallest_server, f"{BASE}&vad_events=true&{query}")
    await send_audio(ws, data, chunk=999)
    frames = await until(ws, lambda f: f.get("type") == "speech_started")
    assert frames[-1]["timestamp"] == 0.0
    await ws.close()


@pytest.mark.smallest_server(stt_max_batch_bytes=1000)
async def test_batch_too_large_per_path(smallest_server: Server) -> None:
    async with httpx.AsyncClient(verify=TLS, base_url=smallest_server.http_url) as http:
        new = await http.post(
            BATCH + "?" + BASE, content=b"\x00" * 2000, headers=_headers(smallest_server)
        )
        old = await http.post(LEGACY, content=b"\x00" * 2000, headers=_headers(smallest_server))
    assert new.status_code == 413 and "1000" in new.json()["error"]
    assert old.status_code == 400 and old.json()["errors"] == "Audio data too large"


@pytest.mark.parametrize(
    ("body", "content_type", "needle"),
    [
        (b"", "application/octet-stream", "empty"),
        (b'{"url": "https://example.com/a.wav"}', "application/json", "'url'"),
        (b"OggS" + b"\x00" * 64, "audio/ogg", "Ogg"),
        (b"RIFF\x10\x00\x00\x00WAVEjunk", "audio/wav", "WAV"),
    ],
)
async def test_batch_bad_bodies_are_400(
    smallest_server: Server, body: bytes, content_type: str, needle: str
) -> None:
    async with httpx.AsyncClient(verify=TLS, base_url=smallest_server.http_url) as http:
        got = await http.post(
            BATCH + "?" + BASE,
            content=body,
            headers={**_headers(smallest_server), "Content-Type": content_type},
        )
    assert got.status_code == 400 and needle in got.json()["error"], got.text


async def test_batch_tone_is_exact(smallest_server: Server) -> None:
    pcm = tone(3, "bt") + b"\x00" * 32000 + tone(2, "bt2")
    async with httpx.AsyncClient(verify=TLS, base_url=smallest_server.http_url) as http:
        got = await http.post(
            BATCH + "?model=pulse&language=en&word_timestamps=true&format=false",
            content=_wav(pcm),
            headers=_headers(smallest_server),
        )
    body = got.json()
    a, b = tone_word("bt"), tone_word("bt2")
    assert body["transcription"] == f"{a} {a} {a} {b} {b}"
    assert [u["text"] for u in body["utterances"]] == [f"{a} {a} {a}", f"{b} {b}"]
    assert body["words"][3]["start"] == 1.6 and body["metadata"]["duration"] == 2.0


@pytest.mark.parametrize(
    ("head", "mp3"),
    [
        (b"\xff\xfb\x90\x64", True),  # MPEG-1 layer III, 128 kbit/s, 44.1 kHz
        (b"\xff\xf3\x48\xc4", True),  # MPEG-2 layer III, 64 kbit/s, 22.05 kHz
        (b"\xff\xff\x00\x00", False),  # PCM16: -1 then 0 (dithered silence)
        (b"\xff\xff\x01\x00", False),  # PCM16: -1 then 1
        (b"\xff\xff\xff\xff", False),  # PCM16: -1, -1
    ],
)
def test_an_mp3_frame_header_is_told_from_pcm_that_starts_with_minus_one(
    head: bytes, mp3: bool
) -> None:
    from smallest_local.stt import sniff_container

    assert (sniff_container(head + bytes(64)) == "an MP3 file") is mp3
