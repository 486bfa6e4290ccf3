"""What the transport answers the peer goes out after what it hands to the connection.

A read that carries an audio frame and the server's close frame: the message and the
close reach ``on_message`` / ``on_close`` first; websockets' close echo is written one
loop step later, after the tasks the close woke have run (a close echo written first had
the server close TCP while the utterances were still being told; its end then competed
with their errors, and the write itself sat between the close and its error). The echo
itself is websockets' own, unchanged.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import struct

from websockets.client import ClientProtocol
from websockets.frames import Close
from websockets.uri import parse_uri

from smallest_core.transport import Closed, WebSocket

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


class _Transport:
    """Records what is written, in order, into the shared log."""

    def __init__(self, log: list[tuple[str, object]]) -> None:
        self.log = log

    def write(self, data: bytes) -> None:
        self.log.append(("write", bytes(data)))

    def is_closing(self) -> bool:
        return False

    def can_write_eof(self) -> bool:
        return True

    def write_eof(self) -> None:
        self.log.append(("write_eof", None))

    def close(self) -> None:
        pass

    def abort(self) -> None:
        pass


def _server_frame(opcode: int, payload: bytes) -> bytes:
    assert len(payload) < 126
    return struct.pack("!BB", 0x80 | opcode, len(payload)) + payload


async def test_the_close_echo_follows_the_hand_over() -> None:
    log: list[tuple[str, object]] = []
    loop = asyncio.get_running_loop()
    told: asyncio.Future[None] = loop.create_future()

    def on_close(closed: Closed) -> None:
        log.append(("close", closed))
        told.set_result(None)  # as an utterance's waiter is woken

    async def caller() -> None:
        await told
        log.append(("woken", None))

    waiting = asyncio.create_task(caller())
    protocol = ClientProtocol(parse_uri("ws://localhost/x"), max_size=None)
    request = protocol.connect()
    ws = WebSocket(
        protocol,
        on_message=lambda m: log.append(("message", m)),
        on_close=on_close,
        ping_interval=None,
        ping_timeout=5,
        close_timeout=2,
    )
    ws.connection_made(_Transport(log))  # type: ignore[arg-type]
    protocol.send_request(request)
    ws._flush()
    key = request.headers["Sec-WebSocket-Key"]
    accept = base64.b64encode(hashlib.sha1((key + GUID).encode()).digest()).decode()
    ws.data_received(
        b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        + f"Sec-WebSocket-Accept: {accept}\r\n\r\n".encode()
    )
    log.clear()

    close = Close(1011, "injected close").serialize()
    ws.data_received(_server_frame(0x1, b'{"status":"chunk"}') + _server_frame(0x8, close))
    assert [kind for kind, _ in log] == ["message", "close"]  # nothing written yet

    await waiting  # its step was queued by the close, before the echo's write
    stepped: asyncio.Future[None] = loop.create_future()
    loop.call_soon(stepped.set_result, None)  # queued after the echo's write: FIFO
    await stepped

    kinds = [kind for kind, _ in log]
    assert kinds == ["message", "close", "woken", "write"]
    assert log[0][1] == '{"status":"chunk"}'
    assert log[1][1] == Closed(1011, "injected close")
    echo = log[3][1]
    assert isinstance(echo, bytes) and echo[0] == 0x88  # websockets' close echo (masked)
