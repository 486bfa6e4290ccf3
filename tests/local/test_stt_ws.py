"""The Pulse STT WebSocket over real sockets, with the deterministic tone recognizer.

Tone audio names its tag in every sample pair, so the transcript of any chunking is
known exactly (``tone_word``): these tests check event shapes, endpoints, rollover,
word times, VAD events, ``finalize``/``close_stream`` and the legacy path (STT.md §3-§4).
"""

from __future__ import annotations

import json

from smallest_local import Server
from smallest_local.engines import tone_word

from .sttclient import LEGACY, connect, finals, recv, rest, send_audio, silence, tone, until

QUERY = "model=pulse&language=en&format=false&word_timestamps=true"


async def test_endpoint_final_has_both_text_fields_words_and_language(
    smallest_server: Server,
) -> None:
    ws = await connect(smallest_server, QUERY + "&vad_events=true")
    await send_audio(ws, silence(0.2) + tone(3, "a") + silence(1.0))
    frames = await until(ws, lambda f: f.get("type") == "speech_ended" or f.get("is_final"))
    frames += await until(ws, lambda f: f.get("is_final") or f.get("type") == "speech_ended")
    word = tone_word("a")
    final = finals(frames)[0]
    assert final["transcript"] == final["transcription"] == f"{word} {word} {word}"
    assert final["type"] == "transcription" and final["status"] == "success"
    assert final["is_last"] is False and final["language"] == "en"
    assert final["session_id"] and all(f["session_id"] == final["session_id"] for f in frames)
    starts = [w["start"] for w in final["words"]]
    assert starts == [0.2, 0.4, 0.6] and final["words"][-1]["end"] == 0.8
    assert {"word", "start", "end", "confidence"} <= set(final["words"][0])
    started = [f for f in frames if f.get("type") == "speech_started"]
    ended = [f for f in frames if f.get("type") == "speech_ended"]
    assert started[0]["timestamp"] == 0.2 and ended[0]["timestamp"] == 0.8
    partials = [f for f in frames if f.get("is_final") is False]
    assert partials and partials[0]["transcript"].startswith(word)
    assert "words" not in partials[0] and "language" not in partials[0]
    await ws.close()


async def test_finalize_answers_with_from_finalize_and_keeps_the_session(
    smallest_server: Server,
) -> None:
    ws = await connect(smallest_server, QUERY)
    await send_audio(ws, tone(2, "x"))
    await ws.send(json.dumps({"type": "finalize"}))
    first = finals(await until(ws, lambda f: f.get("is_final")))[0]
    assert first["from_finalize"] is True and first[
        "transcript"
    ] == f"{tone_word('x')} " * 1 + tone_word("x")
    await ws.send(json.dumps({"type": "finalize"}))  # nothing pending: answered, empty
    empty = finals(await until(ws, lambda f: f.get("is_final")))[0]
    assert (
        empty["transcript"] == "" and empty["from_finalize"] is True and empty["is_last"] is False
    )
    await send_audio(ws, tone(1, "y"))
    await ws.send(json.dumps({"type": "close_stream"}))
    tail = await rest(ws)
    last = finals(tail)[-1]
    assert last["is_last"] is True and last["transcript"] == tone_word("y")
    assert last["words"][0]["start"] == 0.4  # the stream's clock runs across finals
    assert ws.close_code == 1000


async def test_word_count_rollover_cuts_finals(smallest_server: Server) -> None:
    ws = await connect(smallest_server, QUERY + "&max_words=4")
    await send_audio(ws, tone(10, "r"), chunk=1600)
    await ws.send(json.dumps({"flag": "END"}))  # the docs' CI form of close_stream
    frames = await rest(ws)
    got = [len(f["words"]) for f in finals(frames) if f["words"]]
    assert sum(got) == 10 and max(got) <= 4 and len(got) >= 3
    times = [w["start"] for f in finals(frames) for w in f["words"]]
    assert times == sorted(times) and len(set(times)) == 10


async def test_odd_frame_sizes_are_buffered_across_frames(smallest_server: Server) -> None:
    ws = await connect(smallest_server, QUERY)
    await send_audio(ws, tone(3, "odd"), chunk=777)
    await ws.send(json.dumps({"type": "close_stream"}))
    text = " ".join(f["transcript"] for f in finals(await rest(ws)) if f["transcript"])
    assert text == " ".join([tone_word("odd")] * 3)


async def test_legacy_path_defaults_word_timestamps_on(smallest_server: Server) -> None:
    ws = await connect(smallest_server, "language=en&format=false", path=LEGACY)
    await send_audio(ws, tone(1, "l"))
    await ws.send(json.dumps({"type": "close_stream"}))
    last = finals(await rest(ws))[-1]
    assert last["words"][0]["word"] == tone_word("l") and last["is_last"] is True


async def test_format_capitalises_and_punctuates_finals(smallest_server: Server) -> None:
    ws = await connect(smallest_server, "model=pulse&language=en")
    await send_audio(ws, tone(2, "f"))
    await ws.send(json.dumps({"type": "finalize"}))
    final = finals(await until(ws, lambda f: f.get("is_final")))[0]
    word = tone_word("f")
    assert final["transcript"] == f"{word.capitalize()} {word}."
    await ws.close()


async def test_keepalive_gets_pong_and_junk_is_ignored(smallest_server: Server) -> None:
    ws = await connect(smallest_server)
    await ws.send("not json")
    await ws.send(json.dumps({"type": "mystery"}))
    await ws.send(json.dumps({"type": "keepalive"}))
    assert await recv(ws) == {"type": "pong"}
    await ws.close()
