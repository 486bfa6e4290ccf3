"""The local server's sync ``POST /waves/v1/tts`` (§3) and SSE ``POST /waves/v1/tts/live`` (§4).

Plain ``httpx`` clients over real sockets; the tone engine makes lengths exact.
"""

from __future__ import annotations

import base64
import io
import json
import wave

import httpx
import pytest

from smallest_local import Server
from smallest_local.engines import describe, tag_value

from .wsclient import TLS, TTS_PATH, WS_PATH, auth, body

LIVE = WS_PATH  # same URL: POST gets SSE (§4)


def post(
    server: Server,
    path: str,
    payload: object,
    *,
    key: str | None = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
) -> httpx.Response:
    return httpx.post(
        server.http_url + path,
        json=payload,
        headers={**auth(key if key is not None else server.api_key), **(headers or {})},
        verify=TLS,
        timeout=timeout,
    )


def samples(seconds: float, rate: int) -> int:
    return round(seconds * rate)


class TestSync:
    """§3: body bytes follow output_format; correlation headers."""

    @pytest.mark.parametrize("rate", [8000, 16000, 24000, 44100])
    def test_pcm_at_every_rate(self, smallest_server: Server, rate: int):
        r = post(smallest_server, TTS_PATH, body("a b", sample_rate=rate, request_id="p"))
        assert r.status_code == 200
        assert r.headers["content-type"] == "application/octet-stream"
        assert len(r.content) == 2 * samples(0.4, rate)
        assert describe(r.content) == {tag_value("p"): [(0, samples(0.4, rate) // 2)]}

    def test_wav_is_a_riff_file_of_the_same_pcm(self, smallest_server: Server):
        pcm = post(smallest_server, TTS_PATH, body("a b", request_id="p")).content
        r = post(smallest_server, TTS_PATH, body("a b", output_format="wav", request_id="p"))
        assert r.headers["content-type"] == "audio/wav"
        with wave.open(io.BytesIO(r.content)) as w:
            assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
            assert w.readframes(w.getnframes()) == pcm

    @pytest.mark.parametrize("fmt", ["ulaw", "alaw"])
    def test_g711_is_one_byte_per_sample(self, smallest_server: Server, fmt: str):
        r = post(smallest_server, TTS_PATH, body("a b", output_format=fmt, sample_rate=8000))
        assert r.status_code == 200
        assert len(r.content) == samples(0.4, 8000)

    def test_mp3(self, smallest_server: Server):
        r = post(smallest_server, TTS_PATH, body("a b c", output_format="mp3"))
        assert r.headers["content-type"] == "audio/mpeg"
        data = r.content
        assert data[:3] == b"ID3" or (data[0] == 0xFF and data[1] & 0xE0 == 0xE0)

    def test_correlation_headers(self, smallest_server: Server):
        r = post(smallest_server, TTS_PATH, body("x", request_id="r.1", session_id="s-1"))
        assert r.headers["X-External-Request-Id"] == "r.1"
        assert r.headers["X-External-Session-Id"] == "s-1"
        assert len(r.headers["X-Request-Id"]) == 36 and len(r.headers["X-Session-Id"]) == 36
        r = post(smallest_server, TTS_PATH, body("x"))
        assert r.headers["X-External-Request-Id"] == "" == r.headers["X-External-Session-Id"]

    @pytest.mark.parametrize("accept", ["audio/wav", "*/*", None])
    def test_accept_header_does_not_matter(self, smallest_server: Server, accept: str | None):
        headers = {"Accept": accept} if accept else {}
        r = post(smallest_server, TTS_PATH, body("x"), headers=headers)
        assert r.status_code == 200 and r.content

    def test_content_expiry_header(self, smallest_server: Server):
        r = post(smallest_server, TTS_PATH, body("x"), headers={"x-expire-content": "true"})
        assert r.headers["x-content-expiry"] in {"applied", "not-entitled", "unavailable"}
        assert "x-content-expiry" not in post(smallest_server, TTS_PATH, body("x")).headers

    def test_word_timestamps_accepted_and_ignored(self, smallest_server: Server):
        r = post(smallest_server, TTS_PATH, body("x", word_timestamps=True))
        assert r.status_code == 200 and len(r.content) == 2 * samples(0.2, 24000)

    def test_deprecated_v31_alias_still_works(self, smallest_server: Server):
        r = post(smallest_server, "/waves/v1/lightning-v3.1/get_speech", body("x"))
        assert r.status_code == 200 and len(r.content) == 2 * samples(0.2, 24000)


def sse_events(raw: bytes) -> list[tuple[str | None, dict]]:
    out = []
    for block in raw.decode().split("\n\n"):
        if not block.strip():
            continue
        name, data = None, None
        for line in block.split("\n"):
            if line.startswith("event: "):
                name = line[len("event: ") :]
            elif line.startswith("data: "):
                data = json.loads(line[len("data: ") :])
        assert data is not None, block
        out.append((name, data))
    return out


class TestSSE:
    """§4: ``event: audio`` chunks with base64 PCM, then the ``done: true`` terminator."""

    def test_exact_event_format(self, smallest_server: Server):
        r = post(smallest_server, LIVE, body("a b c", request_id="s"))
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        assert r.headers["X-External-Request-Id"] == "s"
        events = sse_events(r.content)
        *chunks, last = events
        assert last == (None, {"status": "200", "done": True})
        assert r.content.endswith(b'data: {"status": "200", "done": true}\n\n')
        assert chunks and all(name == "audio" for name, _ in chunks)
        assert all(
            set(d) == {"audio", "done", "status"} and d["done"] is False and d["status"] == "206"
            for _, d in chunks
        )
        pcm = b"".join(base64.b64decode(d["audio"]) for _, d in chunks)
        assert describe(pcm) == {tag_value("s"): [(0, samples(0.6, 24000) // 2)]}

    def test_sse_audio_equals_sync_audio(self, smallest_server: Server):
        sync = post(smallest_server, TTS_PATH, body("one two", request_id="same")).content
        events = sse_events(post(smallest_server, LIVE, body("one two", request_id="same")).content)
        assert b"".join(base64.b64decode(d["audio"]) for _, d in events[:-1]) == sync

    def test_sse_wav_starts_with_a_header(self, smallest_server: Server):
        events = sse_events(post(smallest_server, LIVE, body("a", output_format="wav")).content)
        assert base64.b64decode(events[0][1]["audio"])[:4] == b"RIFF"


class TestBadInput:
    """§8: 400 ``{error, message}`` naming the field; the server keeps serving."""

    @pytest.mark.parametrize(
        ("change", "field"),
        [
            ({"text": None}, "text"),
            ({"voice_id": None}, "voice_id"),
            ({"model": "lightning"}, "model"),
            ({"sample_rate": 22050}, "sample_rate"),
            ({"speed": 3}, "speed"),
            ({"language": "klingon"}, "language"),
            ({"output_format": "flac"}, "output_format"),
            ({"text": "x" * 6000}, "text"),
            ({"request_id": "has space"}, "request_id"),
            ({"session_id": "x" * 129}, "session_id"),
            ({"voice_id": "unknown_voice"}, "voice_id"),
            ({"pronunciation_dicts": ["nope"]}, "pronunciation_dicts"),
        ],
    )
    @pytest.mark.parametrize("path", [TTS_PATH, LIVE])
    def test_field_errors(self, smallest_server: Server, change: dict, field: str, path: str):
        payload = {k: v for k, v in {**body("hello"), **change}.items() if v is not None}
        r = post(smallest_server, path, payload)
        assert r.status_code == 400
        err = r.json()
        assert err["error"] == "InvalidRequest" and f"'{field}'" in err["message"]
        assert post(smallest_server, path, body("ok")).status_code == 200

    def test_missing_text_message_is_the_documented_one(self, smallest_server: Server):
        r = post(smallest_server, TTS_PATH, {"voice_id": "meher"})
        assert r.json() == {"error": "InvalidRequest", "message": "The 'text' field is required."}

    def test_allowed_values_are_named(self, smallest_server: Server):
        msg = post(smallest_server, TTS_PATH, body("x", model="lightning-v2")).json()["message"]
        assert "lightning_v3.1, lightning_v3.1_pro" in msg

    @pytest.mark.parametrize("raw", [b"{not json", b"[1, 2]", b"\xff\xfe"])
    def test_malformed_body(self, smallest_server: Server, raw: bytes):
        r = httpx.post(
            smallest_server.http_url + TTS_PATH,
            content=raw,
            headers={**auth(smallest_server.api_key), "Content-Type": "application/json"},
            verify=TLS,
        )
        assert r.status_code == 400 and r.json()["error"] == "InvalidRequest"


class TestAuthAndLimits:
    """§1/§8: 401 without a valid key, 403 for a forbidden one, 429 over the limit."""

    @pytest.mark.parametrize("path", [TTS_PATH, LIVE])
    @pytest.mark.parametrize("key", ["", "sk_not_a_real_key_000"])
    def test_401(self, smallest_server: Server, path: str, key: str):
        r = post(smallest_server, path, body("x"), key=key)
        assert r.status_code == 401
        assert r.json() == {
            "error": "Unauthorized",
            "message": "Bearer token is missing or invalid.",
        }

    @pytest.mark.smallest_server(forbidden_keys=("sk_forbidden_0001",))
    def test_403(self, smallest_server: Server):
        assert (
            post(smallest_server, TTS_PATH, body("x"), key="sk_forbidden_0001").status_code == 403
        )

    @pytest.mark.smallest_server(concurrency_limit=1, realtime_factor=1.0, chunk_ms=50)
    def test_429_over_the_concurrency_limit(self, smallest_server: Server):
        with (
            httpx.Client(verify=TLS, timeout=10) as client,
            client.stream(
                "POST",
                smallest_server.http_url + LIVE,
                json=body("w " * 10),
                headers=auth(smallest_server.api_key),
            ) as busy,
        ):
            chunks = busy.iter_bytes()
            next(chunks)  # the unit is held while this streams
            r = post(smallest_server, TTS_PATH, body("x"))
            assert r.status_code == 429 and r.headers["Retry-After"] == "1"
            for _ in chunks:  # the server frees the unit before the body ends
                pass
        assert post(smallest_server, TTS_PATH, body("x")).status_code == 200


class TestHttpFaults:
    """Scripted HTTP faults."""

    @pytest.mark.parametrize("status", [401, 403, 429, 500, 503])
    def test_status_fault(self, smallest_server: Server, status: int):
        smallest_server.faults.http_error(status, retry_after=1.5 if status == 429 else None)
        r = post(smallest_server, TTS_PATH, body("x"))
        assert r.status_code == status and r.json()["message"]
        if status == 429:
            assert r.headers["Retry-After"] == "1.5"
        assert post(smallest_server, TTS_PATH, body("x")).status_code == 200

    def test_status_fault_limited_to_a_path(self, smallest_server: Server):
        smallest_server.faults.http_error(500, path=LIVE)
        assert post(smallest_server, TTS_PATH, body("x")).status_code == 200
        assert post(smallest_server, LIVE, body("x")).status_code == 500

    @pytest.mark.parametrize("path", [TTS_PATH, LIVE])
    def test_abort_mid_body(self, smallest_server: Server, path: str):
        smallest_server.faults.abort_after(1, route="http")
        with pytest.raises(httpx.RemoteProtocolError):
            post(smallest_server, path, body("w " * 10))
        assert post(smallest_server, path, body("x")).status_code == 200

    def test_stall_mid_body(self, smallest_server: Server):
        smallest_server.faults.stall(after_chunks=1, route="http")
        with pytest.raises(httpx.ReadTimeout):
            post(smallest_server, LIVE, body("w " * 10), timeout=0.5)
        assert post(smallest_server, LIVE, body("x")).status_code == 200
