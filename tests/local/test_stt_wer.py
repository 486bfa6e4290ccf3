"""Real recognition: the server's own espeak speech comes back through Pulse STT with WER ≤ 0.2.

The sentences are five of the guide's "easy" set (guides/speech-stack.md §3; two
that scored 0 were left out to keep the file near 10 s of decoding), spoken by the
server's espeak engine at 140 wpm in a fresh interpreter (``sttclient.fixed_espeak``: the
same audio in every run, whatever the worker synthesized before), streamed over
``/waves/v1/stt/live`` in 100 ms frames (unpaced) with a second of silence after each, and
scored with jiwer (lower-case, no punctuation). One session carries all sentences, so this
also checks that endpointing cuts finals between them and that word times keep rising
across finals. A batch POST of one WAV and a wrong-reference control complete it.
"""

from __future__ import annotations

import io
import json
import wave

import httpx
import pytest

from smallest_local import Server
from tests.support.asr import wer

from .sttclient import BATCH, connect, finals, fixed_espeak, rest, send_audio, silence
from .wsclient import TLS

pytestmark = [pytest.mark.smallest_server(engine="espeak"), pytest.mark.slow]

RATE = 16000
SPEED = 0.8
SENTENCES = [
    "one two three four five six seven eight nine ten",
    "open the door",
    "stop the music",
    "please call me back tomorrow morning",
    "your appointment is scheduled for monday at three o'clock",
]


def _speech(sentence: int) -> bytes:
    return fixed_espeak(tuple(SENTENCES), voice="magnus", rate=RATE, speed=SPEED)[sentence]


async def test_streamed_espeak_speech_is_transcribed_with_low_wer(smallest_server: Server) -> None:
    ws = await connect(
        smallest_server, "model=pulse&language=en&word_timestamps=true&max_words=20&vad_events=true"
    )
    for sentence in range(len(SENTENCES)):
        await send_audio(ws, silence(0.3) + _speech(sentence) + silence(1.0))
    await ws.send(json.dumps({"type": "close_stream"}))
    frames = await rest(ws, timeout=60)
    got = [f["transcript"] for f in finals(frames) if f["transcript"]]
    score = wer(" ".join(SENTENCES), " ".join(got))
    print(f"streamed WER {score:.3f}: {got}")
    assert score <= 0.2, (score, got)
    assert len(got) >= len(SENTENCES) - 1  # endpointing cut (about) one final per sentence
    times = [w["start"] for f in finals(frames) for w in f.get("words", [])]
    assert times == sorted(times) and times[-1] > 12
    vad = [f["type"] for f in frames if f.get("type", "").startswith("speech_")]
    assert vad[:2] == ["speech_started", "speech_ended"] and vad.count("speech_started") >= len(
        SENTENCES
    )
    assert all(f["transcription"] == f["transcript"] for f in finals(frames))
    assert any(f.get("is_final") is False and f["transcript"] for f in frames)  # interims


async def test_batch_wav_is_transcribed_and_a_wrong_reference_scores_badly(
    smallest_server: Server,
) -> None:
    pcm = silence(0.3) + _speech(3) + silence(0.5)
    buf = io.BytesIO()
    with wave.open(buf, "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(pcm)
    async with httpx.AsyncClient(verify=TLS, base_url=smallest_server.http_url, timeout=30) as http:
        response = await http.post(
            BATCH + "?model=pulse&language=en&word_timestamps=true",
            content=buf.getvalue(),
            headers={
                "Authorization": f"Bearer {smallest_server.api_key}",
                "Content-Type": "application/octet-stream",
            },
        )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "success" and wer(SENTENCES[3], body["transcription"]) <= 0.2
    assert wer(SENTENCES[2], body["transcription"]) >= 0.6
    assert body["words"] and body["utterances"][0]["text"]
    assert body["metadata"] == {
        "duration": round(len(pcm) / 2 / RATE, 3),
        "fileSize": len(buf.getvalue()),
    }
