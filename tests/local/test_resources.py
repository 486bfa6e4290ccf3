"""Voices, cloning, dictionaries and legacy routes of the local server, over real sockets.

Every test talks plain ``httpx`` to a :class:`smallest_local.server.Server` running in a
background thread (PROTOCOL.md §6-§8). Clone jobs move through their states by moving
the store's injected clock, never by sleeping.
"""

from __future__ import annotations

import io
import math
import re
import struct
import threading
import wave
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from smallest_local.catalog import LANGUAGES, VOICES
from smallest_local.server import Server
from tests.support.clock import PENDING_S, PROCESSING_S, FakeClock

from .wsclient import TLS


def make_wav(seconds: float = 2.0, rate: int = 16000, freq: float = 440.0) -> bytes:
    """A mono s16le WAV of a sine tone."""
    frames = b"".join(
        struct.pack("<h", int(10000 * math.sin(2 * math.pi * freq * n / rate)))
        for n in range(int(rate * seconds))
    )
    buf = io.BytesIO()
    with wave.open(buf, "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(rate)
        out.writeframes(frames)
    return buf.getvalue()


WAV_2S = make_wav()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def _start(clock: FakeClock, **config: Any) -> Server:
    config.setdefault("clone_pending_s", PENDING_S)
    config.setdefault("clone_processing_s", PROCESSING_S)
    srv = Server(engine="tone", **config).start()
    assert srv.state.store is not None
    srv.state.store.clock = clock
    return srv


@pytest.fixture
def server(clock: FakeClock) -> Iterator[Server]:
    srv = _start(clock)
    try:
        yield srv
    finally:
        srv.stop()


def _client(srv: Server) -> httpx.Client:
    return httpx.Client(
        verify=TLS,
        base_url=srv.http_url,
        headers={"Authorization": f"Bearer {srv.api_key}"},
        timeout=10,
    )


@pytest.fixture
def client(server: Server) -> Iterator[httpx.Client]:
    with _client(server) as c:
        yield c


def create_clone(
    client: httpx.Client,
    *,
    file: tuple[str, bytes, str] | None = ("me.wav", WAV_2S, "audio/wav"),
    **fields: str,
) -> httpx.Response:
    data = {"displayName": "My voice", **fields}
    files = {"file": file} if file is not None else None
    return client.post("/waves/v1/voice-cloning", data=data, files=files)


def clone_status(client: httpx.Client, voice_id: str) -> str:
    resp = client.get("/waves/v1/voice-cloning")
    assert resp.status_code == 200
    (entry,) = [c for c in resp.json()["data"] if c["voiceId"] == voice_id]
    return entry["status"]


# -- voices ----------------------------------------------------------------------------------


def test_get_voices_returns_the_catalog_union(client: httpx.Client) -> None:
    resp = client.get("/waves/v1/lightning-v3.1/get_voices")
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/json")
    voices = resp.json()["voices"]
    assert [v["voiceId"] for v in voices] == [v.voice_id for v in VOICES]
    avery = next(v for v in voices if v["voiceId"] == "avery")
    assert avery == {
        "voiceId": "avery",
        "displayName": "Avery",
        "tags": {
            "language": ["english"],
            "accent": "american",
            "gender": "female",
            "age": "young",
            "emotions": [],
            "usecases": ["conversational"],
        },
    }
    pro = client.get("/waves/v1/lightning-v3.1-pro/get_voices")
    assert pro.status_code == 200
    assert pro.json() == resp.json()
    legacy_base = client.get("/api/v1/lightning-v3.1/get_voices")
    assert legacy_base.json() == resp.json()


def test_get_voices_does_not_list_clones(client: httpx.Client, clock: FakeClock) -> None:
    assert create_clone(client).status_code == 200
    clock.advance(PENDING_S + PROCESSING_S)
    voices = client.get("/waves/v1/lightning-v3.1/get_voices").json()["voices"]
    assert not any(v["voiceId"].startswith("voice_") for v in voices)


@pytest.mark.parametrize("model", ["lightning", "lightning-large", "lightning-v2"])
def test_get_voices_of_retired_models_is_410(client: httpx.Client, model: str) -> None:
    resp = client.get(f"/waves/v1/{model}/get_voices")
    assert resp.status_code == 410
    body = resp.json()
    assert body["status"] == "error"
    assert body["error_code"] == "MODEL_DEPRECATED"
    assert model in body["message"]
    assert body["recommended_endpoint"] == "/waves/v1/lightning-v3.1/get_speech"


@pytest.mark.parametrize("model", ["lightning_v3.1", "nope"])
def test_get_voices_of_unknown_model_is_400_naming_allowed(
    client: httpx.Client, model: str
) -> None:
    resp = client.get(f"/waves/v1/{model}/get_voices")
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "InvalidRequest"
    assert "lightning-v3.1" in body["message"]
    assert model in body["message"]
    if "_" in model:
        assert "hyphens" in body["message"]


def test_get_all_models_shape_and_preview(client: httpx.Client) -> None:
    resp = client.get("/waves/v1/voice/get-all-models")
    assert resp.status_code == 200
    voices = resp.json()["voices"]
    assert len(voices) == len(VOICES)
    for entry in voices:
        assert set(entry) == {
            "_id",
            "voiceId",
            "displayName",
            "description",
            "audioPreview",
            "tags",
        }
        assert re.fullmatch(r"[0-9a-f]{24}", entry["_id"])
        assert set(entry["tags"]) == {"age", "emotions", "language"}
        assert entry["description"]
    ids = [v["_id"] for v in voices]
    assert len(set(ids)) == len(ids)
    assert client.get("/waves/v1/voice/get-all-models").json()["voices"] == voices  # stable
    preview = client.get(voices[0]["audioPreview"])
    assert preview.status_code == 200
    assert preview.headers["content-type"] == "audio/wav"
    with wave.open(io.BytesIO(preview.content)) as wav:
        assert wav.getnframes() > 0
    missing = client.get("/waves/v1/voice/previews/nobody.wav")
    assert missing.status_code == 404


# -- voice cloning ---------------------------------------------------------------------------


def test_clone_lifecycle(server: Server, client: httpx.Client, clock: FakeClock) -> None:
    resp = create_clone(
        client,
        displayName="  My voice ",
        description="warm",
        accent="indian",
        tags=" en , friendly ,, ",
        language="hi",
    )
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert set(body) == {"message", "data"}
    assert body["message"] == "Voice clone created successfully"
    data = body["data"]
    assert set(data) == {
        "voiceId",
        "displayName",
        "model",
        "status",
        "language",
        "audioFileNames",
        "createdAt",
        "organizationId",
        "samples",
    }
    voice_id = data["voiceId"]
    assert re.fullmatch(r"voice_[A-Za-z0-9]{10}", voice_id)
    assert data["displayName"] == "My voice"
    assert data["model"] == "lightning-v3.1"
    assert data["status"] == "pending"
    assert data["language"] == "hi"
    assert data["audioFileNames"] == ["me.wav"]
    assert data["createdAt"] == "2023-11-14T22:13:20.000Z"

    listing = client.get("/waves/v1/voice-cloning").json()
    assert set(listing) == {"data"}
    (entry,) = listing["data"]
    assert entry["voiceId"] == voice_id
    assert entry["tags"] == ["en", "friendly"]
    assert entry["description"] == "warm"
    assert entry["accent"] == "indian"
    assert entry["cloningType"] == "instant"
    assert entry["modelIds"] == ["lightning-v3.1"]
    assert entry["status"] == "pending"
    assert not server.state.is_known_voice(voice_id)

    clock.advance(PENDING_S)
    assert clone_status(client, voice_id) == "processing"
    assert not server.state.is_known_voice(voice_id)

    clock.advance(PROCESSING_S)
    assert clone_status(client, voice_id) == "completed"
    assert server.state.is_known_voice(voice_id)


def test_clone_onto_pro_model(client: httpx.Client) -> None:
    resp = create_clone(client, model="lightning-v3.1-pro")
    assert resp.status_code == 200
    assert resp.json()["data"]["model"] == "lightning-v3.1-pro"
    (entry,) = client.get("/waves/v1/voice-cloning").json()["data"]
    assert entry["modelIds"] == ["lightning-v3.1-pro"]


def test_clone_fault_makes_the_job_fail(
    server: Server, client: httpx.Client, clock: FakeClock
) -> None:
    fault = server.faults.clone_fails(message="GPU on fire")
    failing = create_clone(client).json()["data"]["voiceId"]
    fine = create_clone(client).json()["data"]["voiceId"]
    assert fault.fired == 1
    assert clone_status(client, failing) == "pending"  # failure shows at the end
    clock.advance(PENDING_S + PROCESSING_S)
    entries = {c["voiceId"]: c for c in client.get("/waves/v1/voice-cloning").json()["data"]}
    assert entries[failing]["status"] == "failed"
    assert entries[failing]["error"] == "GPU on fire"
    assert entries[fine]["status"] == "completed"
    assert "error" not in entries[fine]
    assert not server.state.is_known_voice(failing)
    assert server.state.is_known_voice(fine)


def test_clone_fault_without_message_uses_a_default(
    server: Server, client: httpx.Client, clock: FakeClock
) -> None:
    server.faults.clone_fails()
    voice_id = create_clone(client).json()["data"]["voiceId"]
    clock.advance(PENDING_S + PROCESSING_S)
    (entry,) = client.get("/waves/v1/voice-cloning").json()["data"]
    assert entry["voiceId"] == voice_id
    assert entry["status"] == "failed"
    assert "failed" in entry["error"]


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (make_wav(seconds=0.5), "too short"),
        (b"RIFF\x00\x00\x00\x00WAVEjunk", "not a valid WAV"),
        (b"definitely not audio", "not a valid WAV"),
        (b"", "empty"),
    ],
)
def test_unusable_audio_makes_the_job_fail(
    client: httpx.Client, clock: FakeClock, payload: bytes, reason: str
) -> None:
    resp = create_clone(client, file=("bad.wav", payload, "audio/wav"))
    assert resp.status_code == 200
    assert resp.json()["data"]["status"] == "pending"
    clock.advance(PENDING_S + PROCESSING_S)
    (entry,) = client.get("/waves/v1/voice-cloning").json()["data"]
    assert entry["status"] == "failed"
    assert reason in entry["error"]


def test_compressed_uploads_are_not_decoded(client: httpx.Client, clock: FakeClock) -> None:
    resp = create_clone(client, file=("me.mp3", b"\xff\xfb\x90\x00" * 100, "audio/mpeg"))
    assert resp.status_code == 200
    clock.advance(PENDING_S + PROCESSING_S)
    assert clone_status(client, resp.json()["data"]["voiceId"]) == "completed"


_TOO_BIG = b"\x00" * (5 * 1024 * 1024 + 1)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        ({"file": None}, "No file provided"),
        ({"displayName": ""}, "displayName is required"),
        ({"displayName": "   "}, "displayName is required"),
        ({"displayName": "x" * 501}, "displayName must be at most 500 characters"),
        (
            {"model": "lightning-v2"},
            "Voice cloning for lightning-v2 is deprecated. Please use lightning-v3.1",
        ),
        ({"model": "lightning_v3.1"}, "Invalid model 'lightning_v3.1'"),
        ({"language": "xx"}, "Invalid language. Supported: " + ", ".join(LANGUAGES)),
        ({"file": ("big.wav", _TOO_BIG, "audio/wav")}, "File too large. Maximum size is 5 MB"),
        ({"file": ("me.wav", WAV_2S, "audio/x-wav")}, "Invalid file type 'audio/x-wav'"),
        ({"file": ("me.txt", b"hello", "text/plain")}, "Invalid file type 'text/plain'"),
    ],
)
def test_bad_clone_requests_are_400_and_store_nothing(
    client: httpx.Client, kwargs: dict[str, Any], error: str
) -> None:
    resp = create_clone(client, **kwargs)
    assert resp.status_code == 400
    body = resp.json()
    assert set(body) == {"error"}
    assert body["error"].startswith(error)
    if "Invalid file type" in error:
        assert "audio/wav" in body["error"]  # names the allowed types
    # The server keeps serving and nothing was stored.
    assert client.get("/waves/v1/voice-cloning").json() == {"data": []}
    assert create_clone(client).status_code == 200


def test_clone_without_display_name_field(client: httpx.Client) -> None:
    resp = client.post("/waves/v1/voice-cloning", files={"file": ("me.wav", WAV_2S, "audio/wav")})
    assert resp.status_code == 400
    assert resp.json() == {"error": "displayName is required"}


def test_clone_with_a_json_body_has_no_file(client: httpx.Client) -> None:
    resp = client.post("/waves/v1/voice-cloning", json={"displayName": "x"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "No file provided"}


@pytest.mark.parametrize(
    "content_type", ["multipart/form-data", "multipart/form-data; boundary=xyz"]
)
def test_clone_with_a_broken_multipart_body(client: httpx.Client, content_type: str) -> None:
    resp = client.post(
        "/waves/v1/voice-cloning", content=b"garbage", headers={"Content-Type": content_type}
    )
    assert resp.status_code == 400
    assert resp.json()["error"].startswith("Malformed multipart body")
    assert client.get("/waves/v1/voice-cloning").json() == {"data": []}


def test_clone_file_sent_as_text_field_is_no_file(client: httpx.Client) -> None:
    resp = client.post("/waves/v1/voice-cloning", data={"displayName": "x", "file": "abc"})
    assert resp.status_code == 400
    assert resp.json() == {"error": "No file provided"}


def test_delete_clone(server: Server, client: httpx.Client, clock: FakeClock) -> None:
    first = create_clone(client).json()["data"]["voiceId"]
    second = create_clone(client).json()["data"]["voiceId"]
    clock.advance(PENDING_S + PROCESSING_S)
    assert server.state.is_known_voice(first)

    resp = client.delete(f"/waves/v1/voice-cloning/{first}")
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "voiceId": first}
    assert not server.state.is_known_voice(first)

    resp = client.request("DELETE", "/waves/v1/voice-cloning", json={"voiceId": second})
    assert resp.status_code == 200
    assert resp.json() == {"success": True, "voiceId": second}
    assert client.get("/waves/v1/voice-cloning").json() == {"data": []}

    again = client.delete(f"/waves/v1/voice-cloning/{first}")
    assert again.status_code == 404
    assert again.json() == {"error": "Voice not found"}
    body_again = client.request("DELETE", "/waves/v1/voice-cloning", json={"voiceId": second})
    assert body_again.status_code == 404
    no_id = client.request("DELETE", "/waves/v1/voice-cloning", json={"id": second})
    assert no_id.status_code == 400
    assert no_id.json() == {"error": "voiceId is required"}


# -- pronunciation dictionaries --------------------------------------------------------------

DICTS = "/waves/v1/pronunciation-dicts"


def test_dictionary_crud(client: httpx.Client) -> None:
    assert client.get(DICTS).json() == []
    created = client.post(DICTS, json={"items": [{"word": "mysql", "pronunciation": "my-sequel"}]})
    assert created.status_code == 200
    body = created.json()
    assert set(body) == {"id", "items", "createdAt"}
    assert body["items"] == [{"word": "mysql", "pronunciation": "my-sequel"}]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", body["createdAt"])
    dict_id = body["id"]
    assert client.get(DICTS).json() == [body]

    new_items = [
        {"word": "sql", "pronunciation": "sequel"},
        {"word": "gif", "pronunciation": "jif"},
    ]
    updated = client.put(DICTS, json={"id": dict_id, "items": new_items})
    assert updated.status_code == 200
    assert updated.json() == {"id": dict_id, "items": new_items}
    assert client.get(DICTS).json()[0]["items"] == new_items

    deleted = client.request("DELETE", DICTS, json={"id": dict_id})
    assert deleted.status_code == 200
    assert deleted.json() == {"id": dict_id, "deleted": True}
    assert client.get(DICTS).json() == []

    for resp in (
        client.put(DICTS, json={"id": dict_id, "items": new_items}),
        client.request("DELETE", DICTS, json={"id": dict_id}),
    ):
        assert resp.status_code == 404
        assert resp.json() == {"error": "Pronunciation dictionary not found"}


def test_put_may_empty_a_dictionary(client: httpx.Client) -> None:
    dict_id = client.post(DICTS, json={"items": [{"word": "a", "pronunciation": "b"}]}).json()["id"]
    resp = client.put(DICTS, json={"id": dict_id, "items": []})
    assert resp.status_code == 200
    assert resp.json() == {"id": dict_id, "items": []}


def _issues(resp: httpx.Response) -> list[dict[str, Any]]:
    assert resp.status_code == 400
    body = resp.json()
    assert body["error"] == "Invalid request body"
    return body["details"]


def test_dictionary_bad_bodies(client: httpx.Client) -> None:
    (issue,) = _issues(client.post(DICTS, json={}))
    assert issue == {
        "code": "invalid_type",
        "expected": "array",
        "received": "undefined",
        "path": ["items"],
        "message": "Required",
    }

    (issue,) = _issues(client.post(DICTS, json={"items": []}))
    assert issue["code"] == "too_small"
    assert issue["path"] == ["items"]
    assert issue["message"] == "Array must contain at least 1 element(s)"

    (issue,) = _issues(client.post(DICTS, json={"items": "mysql"}))
    assert issue["message"] == "Expected array, received string"

    issues = _issues(
        client.post(
            DICTS,
            json={"items": [{"pronunciation": "x"}, {"word": "", "pronunciation": 3}, "w"]},
        )
    )
    assert [(i["path"], i["code"]) for i in issues] == [
        (["items", 0, "word"], "invalid_type"),
        (["items", 1, "word"], "too_small"),
        (["items", 1, "pronunciation"], "invalid_type"),
        (["items", 2], "invalid_type"),
    ]
    assert issues[0]["message"] == "Required"
    assert issues[1]["message"] == "String must contain at least 1 character(s)"
    assert issues[2]["message"] == "Expected string, received number"

    (issue,) = _issues(client.post(DICTS, json=[1, 2]))
    assert issue["path"] == []
    assert issue["expected"] == "object"

    (issue,) = _issues(client.post(DICTS, content=b"{not json", headers=_json_type()))
    assert issue["path"] == []

    (issue,) = _issues(client.put(DICTS, json={"items": []}))
    assert issue["path"] == ["id"]
    assert issue["message"] == "Required"

    (issue,) = _issues(client.request("DELETE", DICTS, json={"id": ""}))
    assert issue["path"] == ["id"]
    assert issue["code"] == "too_small"

    (issue,) = _issues(client.request("DELETE", DICTS))
    assert issue == {
        "code": "invalid_type",
        "expected": "object",
        "received": "undefined",
        "path": [],
        "message": "Required",
    }
    assert client.get(DICTS).json() == []


def _json_type() -> dict[str, str]:
    return {"Content-Type": "application/json"}


def test_concurrent_dictionary_posts(client: httpx.Client, server: Server) -> None:
    errors: list[BaseException] = []

    def post_many(tag: str) -> None:
        try:
            with _client(server) as own:
                for i in range(25):
                    resp = own.post(
                        DICTS, json={"items": [{"word": f"{tag}{i}", "pronunciation": "p"}]}
                    )
                    assert resp.status_code == 200
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=post_many, args=(t,)) for t in "abcd"]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    words = {d["items"][0]["word"] for d in client.get(DICTS).json()}
    assert words == {f"{t}{i}" for t in "abcd" for i in range(25)}


# -- persistence -----------------------------------------------------------------------------


def test_clones_and_dicts_survive_a_restart(tmp_path: Path, clock: FakeClock) -> None:
    db = str(tmp_path / "local.db")
    first = _start(clock, db_path=db)
    try:
        with _client(first) as c:
            voice_id = create_clone(c).json()["data"]["voiceId"]
            dict_id = c.post(DICTS, json={"items": [{"word": "a", "pronunciation": "b"}]}).json()[
                "id"
            ]
    finally:
        first.stop()

    clock.advance(PENDING_S + PROCESSING_S)
    second = _start(clock, db_path=db)
    try:
        with _client(second) as c:
            (entry,) = c.get("/waves/v1/voice-cloning").json()["data"]
            assert entry["voiceId"] == voice_id
            assert entry["status"] == "completed"
            assert [d["id"] for d in c.get(DICTS).json()] == [dict_id]
        assert second.state.is_known_voice(voice_id)
    finally:
        second.stop()


# -- auth ------------------------------------------------------------------------------------

ROUTES = [
    ("GET", "/waves/v1/lightning-v3.1/get_voices"),
    ("GET", "/waves/v1/voice/get-all-models"),
    ("GET", "/waves/v1/voice/previews/magnus.wav"),
    ("POST", "/waves/v1/voice-cloning"),
    ("GET", "/waves/v1/voice-cloning"),
    ("DELETE", "/waves/v1/voice-cloning"),
    ("DELETE", "/waves/v1/voice-cloning/voice_abcdefghij"),
    ("GET", DICTS),
    ("POST", DICTS),
    ("PUT", DICTS),
    ("DELETE", DICTS),
    ("DELETE", "/waves/v1/lightning-large"),
    ("GET", "/waves/v1/lightning-v2/get_voices"),
    ("POST", "/api/v1/lightning-large/add_voice"),
]


@pytest.mark.parametrize(("method", "path"), ROUTES)
@pytest.mark.parametrize("auth", [None, "Bearer sk_wrong", "Basic abc"])
def test_every_route_needs_the_key(
    server: Server, method: str, path: str, auth: str | None
) -> None:
    headers = {"Authorization": auth} if auth else {}
    with httpx.Client(verify=TLS, base_url=server.http_url, timeout=10) as anon:
        resp = anon.request(method, path, headers=headers)
    assert resp.status_code == 401
    assert resp.json() == {
        "error": "Unauthorized",
        "message": "Bearer token is missing or invalid.",
    }


def test_nothing_changes_without_the_key(server: Server, client: httpx.Client) -> None:
    with httpx.Client(verify=TLS, base_url=server.http_url, timeout=10) as anon:
        resp = anon.post(
            "/waves/v1/voice-cloning",
            data={"displayName": "x"},
            files={"file": ("me.wav", WAV_2S, "audio/wav")},
        )
        assert resp.status_code == 401
        resp = anon.post(DICTS, json={"items": [{"word": "a", "pronunciation": "b"}]})
        assert resp.status_code == 401
    assert client.get("/waves/v1/voice-cloning").json() == {"data": []}
    assert client.get(DICTS).json() == []


# -- legacy routes ---------------------------------------------------------------------------

LEGACY = [
    ("POST", "/waves/v1/lightning-v2/get_speech", "lightning-v2"),
    ("POST", "/waves/v1/lightning-v2/stream", "lightning-v2"),
    ("POST", "/waves/v1/lightning-large/get_speech", "lightning-large"),
    ("POST", "/waves/v1/lightning-large/add_voice", "lightning-large"),
    ("GET", "/waves/v1/lightning-large/get_cloned_voices", "lightning-large"),
    ("DELETE", "/waves/v1/lightning-large", "lightning-large"),
    ("POST", "/waves/v1/lightning/get_speech", "lightning"),
    ("POST", "/waves/v1/prof-voice-cloning/create", "prof-voice-cloning"),
    ("GET", "/waves/v1/prof-voice-cloning", "prof-voice-cloning"),
    ("POST", "/api/v1/lightning-v2/get_speech", "lightning-v2"),
    ("GET", "/api/v1/lightning-large/get_voices", "lightning-large"),
    ("DELETE", "/api/v1/lightning-large", "lightning-large"),
    ("POST", "/api/v1/prof-voice-cloning/upload", "prof-voice-cloning"),
]


@pytest.mark.parametrize(("method", "path", "name"), LEGACY)
def test_legacy_routes_are_410(client: httpx.Client, method: str, path: str, name: str) -> None:
    resp = client.request(method, path, json={"voiceId": "voice_abcdefghij"})
    assert resp.status_code == 410
    body = resp.json()
    assert set(body) == {"status", "error_code", "message", "recommended_endpoint"}
    assert body["status"] == "error"
    assert body["error_code"] == "MODEL_DEPRECATED"
    assert name in body["message"]
    assert body["recommended_endpoint"] == "/waves/v1/lightning-v3.1/get_speech"


def test_near_legacy_paths_are_not_captured(client: httpx.Client) -> None:
    for path in ("/waves/v1/lightning-v2x/get_speech", "/waves/v1/lightningfoo"):
        assert client.post(path).status_code == 404


@pytest.fixture
def legacy_server(clock: FakeClock) -> Iterator[Server]:
    srv = _start(clock, legacy_routes=True)
    try:
        yield srv
    finally:
        srv.stop()


def test_legacy_shapes_behind_the_flag(legacy_server: Server, clock: FakeClock) -> None:
    with _client(legacy_server) as c:
        voices = c.get("/waves/v1/lightning-large/get_voices").json()["voices"]
        assert voices[0] == {
            "voiceId": VOICES[0].voice_id,
            "displayName": VOICES[0].display_name,
            "tags": {
                "language": list(VOICES[0].languages),
                "accent": VOICES[0].accent,
                "gender": VOICES[0].gender,
            },
        }
        assert c.get("/api/v1/lightning-v2/get_voices").json()["voices"] == voices

        voice_id = create_clone(c, tags="a,b").json()["data"]["voiceId"]
        clock.advance(PENDING_S + PROCESSING_S)
        (old,) = c.get("/waves/v1/lightning-large/get_cloned_voices").json()["voices"]
        assert old == {
            "displayName": "My voice",
            "accent": "",
            "tags": ["a", "b"],
            "voiceId": voice_id,
            "model": "lightning-v3.1",
            "status": "completed",
            "createdAt": old["createdAt"],
        }
        deleted = c.request("DELETE", "/waves/v1/lightning-large", json={"voiceId": voice_id})
        assert deleted.json() == {"success": True, "voiceId": voice_id}
        assert c.get("/waves/v1/voice-cloning").json() == {"data": []}
        # Routes without a recorded old shape stay retired.
        assert c.post("/waves/v1/lightning-v2/get_speech").status_code == 410
        assert c.get("/waves/v1/prof-voice-cloning/get_voices").status_code == 410


# -- what TTS sees -----------------------------------------------------------------------------


def test_tts_accepts_a_clone_only_once_completed_and_known_dicts(
    client: httpx.Client, clock: FakeClock
) -> None:
    voice_id = create_clone(client).json()["data"]["voiceId"]
    body = {"text": "hello", "voice_id": voice_id}
    early = client.post("/waves/v1/tts", json=body)
    assert early.status_code == 400
    assert voice_id in early.json()["message"]
    clock.advance(PENDING_S + PROCESSING_S)
    assert client.post("/waves/v1/tts", json=body).status_code == 200

    dict_id = client.post(DICTS, json={"items": [{"word": "sql", "pronunciation": "sequel"}]})
    with_dict = {**body, "text": "sql", "pronunciation_dicts": [dict_id.json()["id"]]}
    assert client.post("/waves/v1/tts", json=with_dict).status_code == 200
    client.request("DELETE", DICTS, json={"id": dict_id.json()["id"]})
    assert client.post("/waves/v1/tts", json=with_dict).status_code == 400
