"""What reading one audio frame costs the client: websockets' parser vs the old bypass.

Issue 20 moved the core onto websockets' documented sans-I/O API, so every frame from the
server now goes through ``ClientProtocol.receive_data`` / ``events_received`` (websockets'
own frame parser). The code before (85355a4) cut unfragmented server frames out of the
byte stream by hand and handed only the rest to websockets. This prints, per frame of a
``chunk`` message (20 ms and 100 ms of 24 kHz audio, base64 in JSON):

* websockets' receive path (what the core runs now);
* a header-only cut like the old bypass (what it saved);
* the JSON + base64 decode every message gets either way (for scale);

and each as CPU milliseconds per second of audio received. No sockets:
a real handshake between a ``ClientProtocol`` and a ``ServerProtocol`` in memory, then the
same server-made frame fed N times.

Run: ``uv run --locked --no-sync python bench/ws_parser.py [--frames N]``.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import time
from collections.abc import Callable
from importlib.metadata import version

from websockets.client import ClientProtocol
from websockets.protocol import State
from websockets.server import ServerProtocol
from websockets.uri import parse_uri

RATE = 24000  # s16le mono: 2 bytes a sample


def open_pair() -> tuple[ClientProtocol, ServerProtocol]:
    """A client and a server protocol after a real (in-memory) opening handshake."""
    client = ClientProtocol(parse_uri("ws://127.0.0.1/waves/v1/tts"), max_size=None)
    server = ServerProtocol()
    client.send_request(client.connect())
    for data in client.data_to_send():
        server.receive_data(data)
    [request] = server.events_received()
    server.send_response(server.accept(request))
    for data in server.data_to_send():
        client.receive_data(data)
    client.events_received()
    assert client.state is State.OPEN
    return client, server


def per_frame(n: int, step: Callable[[], object]) -> float:
    """CPU seconds per call of ``step`` over ``n`` calls."""
    start = time.process_time()
    for _ in range(n):
        step()
    return (time.process_time() - start) / n


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=50_000)
    args = parser.parse_args()
    print(f"websockets {version('websockets')}, {args.frames} frames per row")
    print(f"{'chunk':>6} {'':34} {'µs/frame':>9} {'CPU ms per audio s':>19}")
    for chunk_ms in (20, 100):
        client, server = open_pair()
        pcm = os.urandom(RATE * 2 * chunk_ms // 1000)
        audio = base64.b64encode(pcm).decode()
        message = json.dumps({"status": "chunk", "request_id": "r1", "data": {"audio": audio}})
        server.send_text(message.encode())
        [wire] = server.data_to_send()

        def websockets_path(wire: bytes = wire, client: ClientProtocol = client) -> object:
            client.receive_data(wire)
            return client.events_received()

        def header_cut(wire: bytes = wire) -> object:  # the old bypass: header, then slice
            length, start = wire[1] & 0x7F, 2
            if length == 126:
                length, start = int.from_bytes(wire[2:4], "big"), 4
            elif length == 127:
                length, start = int.from_bytes(wire[2:10], "big"), 10
            return wire[start : start + length]

        def decode(message: str = message) -> object:
            return base64.b64decode(json.loads(message)["data"]["audio"])

        rows = [
            ("websockets' receive path (now)", websockets_path),
            ("header-only cut (the old bypass)", header_cut),
            ("JSON + base64 decode (both)", decode),
        ]
        for label, step in rows:
            seconds = per_frame(args.frames, step)
            per_audio_s = seconds * (1000 / chunk_ms) * 1e3
            print(f"{chunk_ms:>4}ms {label:34} {seconds * 1e6:9.2f} {per_audio_s:19.3f}")


if __name__ == "__main__":
    main()
