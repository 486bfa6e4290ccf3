"""Every STT dialect (``STT_DIALECTS``) over real sockets: what differs, and how it is chosen.

Chosen per server (``@pytest.mark.smallest_server(stt_dialect=...)``) or per connection
(``?smallest_local_dialect=...``); the default ``pulse`` is STT.md §6's "Implement" reading.
"""

from __future__ import annotations

import json

import pytest

from smallest_local import STT_DIALECTS, Server, ServerConfig
from smallest_local.engines import tone_word

from .sttclient import connect, finals, recv, rest, send_audio, tone, until

BASE = "model=pulse&language=en&format=false&word_timestamps=true"


async def _finalize(server: Server, query: str) -> dict[str, object]:
    ws = await connect(server, query)
    await send_audio(ws, tone(1, "q"))
    await ws.send(json.dumps({"type": "finalize"}))
    final = finals(await until(ws, lambda f: f.get("is_final")))[0]
    await ws.close()
    return final


@pytest.mark.parametrize(
    ("dialect", "present"),
    [("pulse", True), ("no-from-finalize", False), ("pulse-itn", False)],
)
async def test_from_finalize_per_dialect(
    smallest_server: Server, dialect: str, present: bool
) -> None:
    final = await _finalize(smallest_server, f"{BASE}&smallest_local_dialect={dialect}")
    assert ("from_finalize" in final) is present and final["transcript"] == tone_word("q")


async def test_pulse_itn_sends_from_finalize_with_itn(smallest_server: Server) -> None:
    query = f"{BASE}&itn_normalize=true&smallest_local_dialect=pulse-itn"
    assert (await _finalize(smallest_server, query))["from_finalize"] is True


@pytest.mark.smallest_server(stt_dialect="close-stream-only")
async def test_close_stream_only_ignores_finalize(smallest_server: Server) -> None:
    ws = await connect(smallest_server, BASE)
    await send_audio(ws, tone(2, "c"))
    await ws.send(json.dumps({"type": "finalize"}))
    await ws.send(json.dumps({"type": "close_stream"}))
    frames = await rest(ws)
    assert [f["is_last"] for f in finals(frames)] == [True]  # only the close_stream answer
    assert finals(frames)[0]["transcript"] == f"{tone_word('c')} {tone_word('c')}"


@pytest.mark.parametrize(
    ("dialect", "answer"),
    [("pulse", {"type": "pong"}), ("direct", {"error": "Unsupported message type: keepalive"})],
)
async def test_keepalive_answer(smallest_server: Server, dialect: str, answer: object) -> None:
    ws = await connect(smallest_server, f"{BASE}&smallest_local_dialect={dialect}")
    await ws.send(json.dumps({"type": "keepalive"}))
    assert await recv(ws) == answer
    await ws.close()


@pytest.mark.smallest_server(stt_dialect="silent-keepalive")
async def test_silent_keepalive(smallest_server: Server) -> None:
    ws = await connect(smallest_server, BASE)
    await ws.send(json.dumps({"type": "keepalive"}))
    await ws.send(json.dumps({"type": "close_stream"}))
    frames = await rest(ws)
    assert [f.get("type") for f in frames] == ["transcription"]  # no pong before is_last


@pytest.mark.parametrize(
    ("dialect", "keys"),
    [
        ("pulse", {"transcript", "transcription"}),
        ("transcription-only", {"transcription"}),
        ("transcript-only", {"transcript"}),
    ],
)
async def test_text_fields(smallest_server: Server, dialect: str, keys: set[str]) -> None:
    final = await _finalize(smallest_server, f"{BASE}&smallest_local_dialect={dialect}")
    assert {"transcript", "transcription"} & set(final) == keys


@pytest.mark.parametrize(("dialect", "speaker"), [("pulse", 0), ("string-speakers", "speaker_0")])
async def test_speaker_type(smallest_server: Server, dialect: str, speaker: object) -> None:
    query = f"{BASE}&diarize=true&sentence_timestamps=true&smallest_local_dialect={dialect}"
    final = await _finalize(smallest_server, query)
    words = final["words"]
    assert isinstance(words, list) and words[0]["speaker"] == speaker
    assert words[0]["speaker_confidence"] == 1.0
    utterances = final["utterances"]
    assert isinstance(utterances, list) and utterances[0]["speaker"] == speaker


@pytest.mark.smallest_server(stt_dialect="error-nested")
async def test_error_nested_is_the_default_error_shape(smallest_server: Server) -> None:
    smallest_server.faults.error_frame("bad", code="E1", route="stt")
    ws = await connect(smallest_server, BASE)
    assert await recv(ws) == {"status": "error", "error": {"message": "bad", "code": "E1"}}
    await ws.wait_closed()
    assert ws.close_code == 1011


@pytest.mark.parametrize(("dialect", "server_closed"), [("pulse", True), ("client-closes", False)])
async def test_who_closes_after_is_last(
    smallest_server: Server, dialect: str, server_closed: bool
) -> None:
    ws = await connect(smallest_server, f"{BASE}&smallest_local_dialect={dialect}")
    await ws.send(json.dumps({"type": "close_stream"}))
    last = await recv(ws)
    assert last["is_last"] is True
    if server_closed:
        await ws.wait_closed()
        assert ws.close_code == 1000
    else:
        await ws.send(json.dumps({"type": "keepalive"}))  # still open: the client must close
        await ws.close()
        assert ws.close_code == 1000


def test_every_named_dialect_is_tested_here_and_valid() -> None:
    tested = {
        "pulse", "pulse-itn", "no-from-finalize", "close-stream-only", "direct",
        "silent-keepalive", "transcription-only", "transcript-only", "string-speakers",
        "error-nested", "client-closes",
    }  # fmt: skip
    assert set(STT_DIALECTS) == tested
    with pytest.raises(ValueError, match="stt_dialect"):
        ServerConfig(stt_dialect="bogus")
