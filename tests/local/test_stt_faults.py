"""Scripted STT faults over real sockets: drops before/after audio, error frames in each
documented shape, stalls, refused upgrades, HTTP errors on batch (STT.md §2, §7.17)."""

from __future__ import annotations

import asyncio
import contextlib
import json

import httpx
import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus

from smallest_local import Server
from smallest_local.engines import tone_word

from .sttclient import BATCH, connect, finals, recv, rest, send_audio, tone, until
from .wsclient import TLS


@pytest.mark.parametrize(("status", "retry_after"), [(429, 2.0), (503, None), (500, None)])
async def test_refused_upgrade(
    smallest_server: Server, status: int, retry_after: float | None
) -> None:
    smallest_server.faults.refuse_upgrade(status, retry_after=retry_after)
    with pytest.raises(InvalidStatus) as caught:
        await connect(smallest_server)
    response = caught.value.response
    assert response.status_code == status
    assert response.headers.get("Retry-After") == ("2" if retry_after else None)
    ws = await connect(smallest_server)  # once only
    await ws.close()


async def test_drop_before_any_audio(smallest_server: Server) -> None:
    smallest_server.faults.close_after(0, code=1011, route="stt")
    ws = await connect(smallest_server)
    await ws.wait_closed()
    assert ws.close_code == 1011 and smallest_server.stats.stt_audio_seconds == 0


async def test_drop_after_audio_with_finals_sent_first(smallest_server: Server) -> None:
    # 4 frames of speech, then silence: the endpoint final goes out at frame 10 (600 ms);
    # the drop comes on frame 12, with the stream's later speech never answered
    smallest_server.faults.close_after(12, code=1011, route="stt")
    ws = await connect(smallest_server, "model=pulse&language=en&format=false")
    frames: list[dict[str, object]] = []
    sender = asyncio.create_task(send_audio(ws, tone(2, "d") + b"\x00" * 3200 * 8 + tone(10, "d")))
    with pytest.raises(ConnectionClosed):
        async with asyncio.timeout(10):
            while True:
                frames.append(json.loads(await ws.recv()))
    with contextlib.suppress(ConnectionClosed):
        await sender
    assert ws.close_code == 1011
    assert [f["transcript"] for f in finals(frames)] == [f"{tone_word('d')} {tone_word('d')}"]


async def test_tcp_abort_after_audio(smallest_server: Server) -> None:
    smallest_server.faults.abort_after(2, route="stt")
    ws = await connect(smallest_server)
    with pytest.raises(ConnectionClosed):
        await send_audio(ws, tone(4, "t"))
        await until(ws, lambda _frame: False)  # partials of the first frame, then the reset
    assert ws.close_code in (None, 1006)


@pytest.mark.parametrize(
    ("shape", "check"),
    [
        ("a", lambda f: f["type"] == "error" and f["status"] == "error" and f["error_code"] == "X"),
        ("c", lambda f: f["status"] == "error" and f["error"] == {"message": "boom", "code": "X"}),
        ("d", lambda f: f == {"error": "boom"}),
    ],
)
async def test_error_frame_shapes_then_close(
    smallest_server: Server, shape: str, check: object
) -> None:
    smallest_server.faults.error_frame("boom", code="X", after_chunks=1, route="stt", shape=shape)
    ws = await connect(smallest_server)
    await send_audio(ws, tone(1, "e"))
    frame = (await until(ws, lambda f: f.get("type") != "transcription"))[-1]
    assert callable(check) and check(frame), frame
    await ws.wait_closed()
    assert ws.close_code == 1011


async def test_stall_withholds_is_last(smallest_server: Server) -> None:
    smallest_server.faults.stall(after_chunks=1, route="stt")
    ws = await connect(smallest_server, "model=pulse&language=en&format=false")
    await send_audio(ws, tone(2, "s"))
    await ws.send(json.dumps({"type": "close_stream"}))
    await ws.send(json.dumps({"type": "keepalive"}))  # the server still reads...
    with pytest.raises(TimeoutError):
        await recv(ws, timeout=0.5)  # ...but says nothing: no partial, no is_last
    assert not ws.close_code
    await ws.close()


async def test_malformed_frame_then_carry_on(smallest_server: Server) -> None:
    smallest_server.faults.malformed_frame(after_chunks=1, route="stt")
    ws = await connect(smallest_server, "model=pulse&language=en&format=false")
    await send_audio(ws, tone(1, "m"))
    assert await ws.recv() == "{not json"
    await ws.send(json.dumps({"type": "close_stream"}))
    frames = await rest(ws)
    assert finals(frames)[-1]["transcript"] == tone_word("m")


async def test_tts_faults_do_not_fire_on_stt(smallest_server: Server) -> None:
    smallest_server.faults.close_after(0, code=1011)  # no route: a TTS synthesis fault
    ws = await connect(smallest_server)
    await ws.send(json.dumps({"type": "keepalive"}))
    assert (await recv(ws))["type"] == "pong"
    await ws.close()
    assert smallest_server.faults.pending


async def test_batch_http_fault_and_idle_close(smallest_server: Server) -> None:
    smallest_server.faults.http_error(503, retry_after=1, path=BATCH)
    async with httpx.AsyncClient(verify=TLS, base_url=smallest_server.http_url) as http:
        got = await http.post(
            BATCH + "?model=pulse&language=en",
            content=tone(1, "b"),
            headers={"Authorization": f"Bearer {smallest_server.api_key}"},
        )
    assert got.status_code == 503 and got.headers["Retry-After"] == "1"
    smallest_server.faults.idle_close(0.2)
    ws = await connect(smallest_server)
    frame = await recv(ws, timeout=5)
    assert frame["error_code"] == "IDLE_TIMEOUT"
    await ws.wait_closed()
    assert ws.close_code == 1000
