"""Clients that vanish while the recognizer works: the decoder pool stays sound.

The server decodes pocketsphinx audio in worker threads, and aiohttp cancels a session's
handler when its client disconnects. The handler used to close the stream at once, in a
second thread, while the first was still feeding it: the decoder went back to the pool
under a running feed, which could then start an utterance on it, and every later session
that took that decoder failed ("Failed to start utterance processing"). Seen once in a
full ``bench/core.py`` run, where the official clients drop their STT sockets mid-audio.
"""

from __future__ import annotations

import pytest

from smallest_local import Server
from tests.support.servers import until_no_sockets

from .sttclient import connect, finals, send_audio, until

pytestmark = [pytest.mark.smallest_server(engine="espeak"), pytest.mark.slow]

RATE = 16000
ROUNDS = 12


async def test_clients_gone_mid_audio_leave_every_decoder_idle(smallest_server: Server) -> None:
    speech = smallest_server.state.engine.synthesize(
        "please call me back tomorrow morning", voice_id="magnus", sample_rate=RATE, speed=0.8
    ).pcm
    for _ in range(ROUNDS):
        ws = await connect(smallest_server)
        await send_audio(ws, speech, chunk=640)  # 20 ms frames, unpaced: a backlog to decode
        # Gone at once: the server is mid-feed, with frames still queued behind it.
        ws.transport.abort()
        await until_no_sockets(smallest_server)
    # Every decoder went back to the pool idle: the sessions that follow all transcribe.
    for _ in range(3):
        ws = await connect(smallest_server)
        await send_audio(ws, speech + b"\x00\x00" * RATE, chunk=640)
        await ws.send('{"type": "close_stream"}')
        frames = await until(ws, lambda f: bool(f.get("is_last")) or "error" in f)
        await ws.close()
        assert not [f for f in frames if "error" in f], frames
        text = " ".join(str(f["transcript"]) for f in finals(frames))
        assert "call" in text and "morning" in text, text
