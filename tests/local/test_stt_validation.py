"""STT requests refused before audio: auth, validation naming the field, limits (STT.md §2)."""

from __future__ import annotations

import json

import httpx
import pytest
from websockets.exceptions import InvalidStatus

from smallest_local import Server

from .sttclient import BATCH, LEGACY, connect, recv
from .wsclient import TLS


async def _refused(
    server: Server, query: str, *, key: str | None = None, path: str = "/waves/v1/stt/live"
) -> tuple[int, dict[str, str]]:
    with pytest.raises(InvalidStatus) as caught:
        await connect(server, query, key=key, path=path)
    response = caught.value.response

    return response.status_code, json.loads(response.body or b"{}")


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("language=en", "'model'"),
        ("model=whisper&language=en", "'model'"),
        ("model=pulse&language=xx", "'language'"),
        ("model=pulse&language=en&sample_rate=12345", "'sample_rate'"),
        ("model=pulse&language=en&sample_rate=abc", "'sample_rate'"),
        ("model=pulse&language=en&encoding=flac", "'encoding'"),
        ("model=pulse&language=en&encoding=opus", "'encoding'"),
        ("model=pulse&language=en&max_words=-1", "'max_words'"),
        ("model=pulse&language=en&endpointing_timeout=soon", "'endpointing_timeout'"),
        ("model=pulse&language=en&smallest_local_dialect=nope", "'smallest_local_dialect'"),
    ],
)
async def test_bad_values_are_400_before_the_upgrade_naming_the_field(
    smallest_server: Server, query: str, field: str
) -> None:
    status, body = await _refused(smallest_server, query)
    assert status == 400 and field in body["error"], body


async def test_pulse_pro_has_no_streaming(smallest_server: Server) -> None:
    status, body = await _refused(smallest_server, "model=pulse-pro&language=en")
    assert status == 400 and "Pulse Pro" in body["error"]


async def test_unknown_params_and_loose_booleans_are_accepted(smallest_server: Server) -> None:
    ws = await connect(smallest_server, "model=pulse&language=en&punctuation=yes&vad_events=True")
    await ws.send('{"type":"keepalive"}')
    assert (await recv(ws))["type"] == "pong"
    await ws.close()


@pytest.mark.smallest_server(stt_strict=True)
async def test_strict_mode_requires_language(smallest_server: Server) -> None:
    status, body = await _refused(smallest_server, "model=pulse")
    assert status == 400 and "'language'" in body["error"]
    status, body = await _refused(smallest_server, "model=pulse&language=en&eou_timeout_ms=50")
    assert status == 400 and "'eou_timeout_ms'" in body["error"]


async def test_legacy_path_needs_no_model_or_language(smallest_server: Server) -> None:
    ws = await connect(smallest_server, "", path=LEGACY)
    await ws.send('{"type":"keepalive"}')
    assert (await recv(ws))["type"] == "pong"
    await ws.close()


@pytest.mark.parametrize(("key", "status"), [("", 401), ("sk_wrong", 401), ("sk_banned", 403)])
@pytest.mark.smallest_server(forbidden_keys=("sk_banned",))
async def test_auth_is_checked_before_the_upgrade(
    smallest_server: Server, key: str, status: int
) -> None:
    got, body = await _refused(smallest_server, "model=pulse&language=en", key=key)
    assert got == status and body["error"]


@pytest.mark.smallest_server(concurrency_limit=1)
async def test_per_key_concurrency_limit_is_an_error_frame_and_1008(
    smallest_server: Server,
) -> None:
    first = await connect(smallest_server)
    second = await connect(smallest_server)
    frame = await recv(second)
    assert frame["type"] == "error" and frame["error_code"] == "CONCURRENCY_LIMIT"
    await second.wait_closed()
    assert second.close_code == 1008
    async with httpx.AsyncClient(verify=TLS, base_url=smallest_server.http_url) as http:
        busy = await http.post(
            BATCH + "?model=pulse&language=en",
            content=b"\x00" * 3200,
            headers={"Authorization": f"Bearer {smallest_server.api_key}"},
        )
    assert busy.status_code == 429 and busy.headers["Retry-After"]
    await first.close()
    await first.wait_closed()
    third = await connect(smallest_server)  # the unit came back
    await third.send('{"type":"keepalive"}')
    assert (await recv(third))["type"] == "pong"
    await third.close()
