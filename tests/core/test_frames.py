"""The stream's own cut of the server's byte stream into WebSocket frames.

``StreamConnection`` reads whole, unmasked text frames itself (the hot path: every audio
chunk) and hands every other frame to websockets whole. These tests drive it with a raw
TCP server that writes hand-built frames (RFC 6455 §5.2) split anywhere: the handshake
response and frames in one write, every byte in its own write, all three length
encodings, a ping between chunks (answered with a pong), a fragmented message, and a
masked frame (a protocol error: a typed failure, not a hang).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import itertools
import json
import re
import zlib
from collections.abc import Awaitable, Callable

import pytest

from smallest_core import (
    AudioChunk,
    ConnectionLostError,
    ProtocolError,
    SmallestError,
    StreamConnection,
    TTSOptions,
)

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
RID = "r1"
OPTS = TTSOptions(sample_rate=24000, complete_backoff_ms=0)
TEXT, CONT, CLOSE, PING, PONG = 0x1, 0x0, 0x8, 0x9, 0xA


def frame(opcode: int, payload: bytes, *, fin: bool = True, mask: bool = False) -> bytes:
    """A server frame: FIN, opcode, the shortest length encoding, optional mask."""
    first = (0x80 if fin else 0) | opcode
    n = len(payload)
    if n < 126:
        head = bytes([first, n])
    elif n < 1 << 16:
        head = bytes([first, 126]) + n.to_bytes(2, "big")
    else:
        head = bytes([first, 127]) + n.to_bytes(8, "big")
    if not mask:
        return head + payload
    key = b"\x01\x02\x03\x04"
    masked = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return head[:1] + bytes([head[1] | 0x80]) + head[2:] + key + masked


def chunk(audio: bytes) -> bytes:
    body = {"status": "chunk", "data": {"audio": base64.b64encode(audio).decode()}}
    return json.dumps({**body, "context_id": RID}).encode()


COMPLETE = json.dumps({"status": "complete", "context_id": RID}).encode()
# three audio chunks whose frames use each length encoding (7-bit, 16-bit, 64-bit)
AUDIO = [b"\x01\x00" * 20, b"\x02\x00" * 600, b"\x03\x00" * 30000]


async def read_client_frame(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    """One (masked) client frame: (opcode, payload)."""
    first, second = await reader.readexactly(2)
    n = second & 0x7F
    if n == 126:
        n = int.from_bytes(await reader.readexactly(2), "big")
    elif n == 127:
        n = int.from_bytes(await reader.readexactly(8), "big")
    key = await reader.readexactly(4)
    data = await reader.readexactly(n)
    return first & 0x0F, bytes(b ^ key[i % 4] for i, b in enumerate(data))


async def answer_close(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """Read client frames until its close frame; echo it (the client closes promptly)."""
    while True:
        try:
            opcode, payload = await read_client_frame(reader)
        except asyncio.IncompleteReadError:
            return
        if opcode == CLOSE:
            writer.write(frame(CLOSE, payload))
            await writer.drain()
            return


async def accept_text(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, response: bytes
) -> None:
    """Complete the handshake and read the client's text frame (the utterance)."""
    writer.write(response)
    await writer.drain()
    await read_client_frame(reader)


Script = Callable[[asyncio.StreamReader, asyncio.StreamWriter, bytes], Awaitable[None]]


async def run(
    script: Script, *, compression: bool = False, failed: asyncio.Event | None = None
) -> tuple[list[bytes], SmallestError | None]:
    """Serve one connection with ``script`` (given the 101 response to send); speak
    one utterance through a StreamConnection; return its audio chunks and its error.

    The utterance's finish_timeout is 5 s and the whole run must end within 2 s: an
    error has to come from the frame itself, not from a stall watchdog. ``failed`` is
    set the moment the utterance raised (a script may hold the TCP connection open until
    then: the error must not wait for the TCP close). ``compression``: the client offers
    permessage-deflate.
    """
    return await asyncio.wait_for(_run(script, compression, failed), 2)


async def _run(
    script: Script, compression: bool = False, failed: asyncio.Event | None = None
) -> tuple[list[bytes], SmallestError | None]:
    served: list[asyncio.Task[None]] = []

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        async def serve() -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"(?i)sec-websocket-key: *(\S+)", head)
            assert found is not None
            accept = base64.b64encode(hashlib.sha1(found.group(1) + GUID).digest())
            response = (
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            try:
                await script(reader, writer, response)
            finally:
                writer.close()

        served.append(asyncio.current_task())  # type: ignore[arg-type]
        await serve()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    conn = StreamConnection(
        api_key="sk_frames",
        base_url=f"ws://127.0.0.1:{port}",
        options=OPTS,
        ping_interval=None,
        compression=compression,
    )
    audio: list[bytes] = []
    error: SmallestError | None = None
    try:
        await asyncio.wait_for(conn.connect(), 5)
        utt = conn.utterance(RID, finish_timeout=5)
        await utt.end("Hello there.")
        try:
            async for event in utt:
                assert isinstance(event, AudioChunk)
                audio.append(event.audio)
        except SmallestError as exc:
            error = exc
            if failed is not None:
                failed.set()
    finally:
        await conn.aclose()
        server.close()
        await server.wait_closed()
        await asyncio.gather(*served, return_exceptions=True)
    return audio, error


def stream_of(*frames: bytes) -> bytes:
    return b"".join(frames)


CHUNKS = [frame(TEXT, chunk(a)) for a in AUDIO]


async def write_in_pieces(writer: asyncio.StreamWriter, data: bytes, size: int) -> None:
    """Write ``data`` ``size`` bytes at a time (its first 3 KB; then 4 KB at a time),
    letting the loop run in between so the client's reads can see the pieces
    separately. Any split must give the same result."""
    cuts = [*range(0, min(len(data), 3072), size), *range(3072, len(data), 4096), len(data)]
    for start, end in itertools.pairwise(cuts):
        writer.write(data[start:end])
        await writer.drain()
        await asyncio.sleep(0)


class TestSplits:
    async def test_a_frame_in_the_same_write_as_the_handshake_response(self):
        pongs: list[bytes] = []

        async def script(reader, writer, response):
            # the ping's bytes follow the 101 in one segment: framing starts right there
            writer.write(response + frame(PING, b"hello"))
            await writer.drain()
            opcodes = set()
            while opcodes != {TEXT, PONG}:  # the client's text frame and the pong, any order
                opcode, payload = await read_client_frame(reader)
                opcodes.add(opcode)
                if opcode == PONG:
                    pongs.append(payload)
            writer.write(stream_of(*CHUNKS, frame(TEXT, COMPLETE)))
            await writer.drain()
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert error is None
        assert audio == AUDIO
        assert pongs == [b"hello"]

    @pytest.mark.parametrize("size", [1, 3, 7, 1000])
    async def test_any_split_of_the_byte_stream_gives_the_same_messages(self, size: int):
        async def script(reader, writer, response):
            await write_in_pieces(writer, response, size)  # the handshake split too
            await read_client_frame(reader)
            await write_in_pieces(writer, stream_of(*CHUNKS, frame(TEXT, COMPLETE)), size)
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert error is None
        assert audio == AUDIO

    async def test_a_ping_between_chunks_is_answered_and_costs_nothing(self):
        pongs: list[bytes] = []

        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            data = stream_of(CHUNKS[0], frame(PING, b"are-you-there"), *CHUNKS[1:])
            await write_in_pieces(writer, data, 5)
            while True:  # websockets answers the ping it was handed
                opcode, payload = await read_client_frame(reader)
                if opcode == PONG:
                    pongs.append(payload)
                    break
            writer.write(frame(TEXT, COMPLETE))
            await writer.drain()
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert error is None
        assert audio == AUDIO
        assert pongs == [b"are-you-there"]

    async def test_a_fragmented_message_is_joined(self):
        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            whole = chunk(AUDIO[1])
            parts = [whole[:10], whole[10:500], whole[500:]]
            data = stream_of(
                CHUNKS[0],
                frame(TEXT, parts[0], fin=False),
                frame(PING, b"mid-message"),  # control frames may come between fragments
                frame(CONT, parts[1], fin=False),
                frame(CONT, parts[2]),
                CHUNKS[2],
                frame(TEXT, COMPLETE),
            )
            await write_in_pieces(writer, data, 11)
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert error is None
        assert audio == AUDIO


class TestBadFrames:
    async def test_a_masked_server_frame_fails_the_utterance_with_a_typed_error(self):
        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            writer.write(CHUNKS[0] + frame(TEXT, chunk(AUDIO[1]), mask=True))
            await writer.drain()
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert audio == AUDIO[:1]  # what came before the bad frame, nothing after
        assert isinstance(error, ConnectionLostError)  # audio went out: not retried

    async def test_a_continuation_without_a_start_fails_the_utterance(self):
        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            writer.write(CHUNKS[0] + frame(CONT, chunk(AUDIO[1])))
            await writer.drain()
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert audio == AUDIO[:1]
        assert isinstance(error, ConnectionLostError)  # audio went out: not retried

    async def test_a_text_frame_inside_a_fragmented_message_fails_the_utterance(self):
        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            writer.write(CHUNKS[0] + frame(TEXT, b'{"status":', fin=False) + frame(TEXT, COMPLETE))
            await writer.drain()
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert audio == AUDIO[:1]
        assert isinstance(error, ConnectionLostError)  # audio went out: not retried


def deflated(payload: bytes) -> bytes:
    """RFC 7692 §7.2.1: a raw DEFLATE stream of the message, its 00 00 ff ff tail cut."""
    compressor = zlib.compressobj(wbits=-15)
    data = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert data.endswith(b"\x00\x00\xff\xff")
    return data[:-4]


def compressed_frame(payload: bytes) -> bytes:
    """A text frame with RSV1 set (permessage-deflate) carrying ``payload`` deflated."""
    plain = frame(TEXT, deflated(payload))
    return bytes([plain[0] | 0x40]) + plain[1:]


class TestTransport:
    """What websockets' sans-I/O protocol does for us under our asyncio layer: extensions,
    the close handshake in both directions, and protocol errors, each reported to the
    utterances the moment it is known."""

    async def test_permessage_deflate_frames_in_audio_out(self):
        async def script(reader, writer, response):
            head = response[:-2] + b"Sec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
            await accept_text(reader, writer, head)
            frames = [compressed_frame(chunk(a)) for a in AUDIO]
            writer.write(stream_of(*frames, compressed_frame(COMPLETE)))
            await writer.drain()
            await answer_close(reader, writer)

        audio, error = await run(script, compression=True)
        assert error is None
        assert audio == AUDIO

    async def test_a_compressed_frame_without_the_extension_is_a_protocol_error(self):
        async def script(reader, writer, response):
            await accept_text(reader, writer, response)  # no extension was agreed
            writer.write(compressed_frame(chunk(AUDIO[0])))
            await writer.drain()
            await answer_close(reader, writer)

        audio, error = await run(script)
        assert audio == []
        assert isinstance(error, ProtocolError)

    async def test_a_masked_frame_is_a_protocol_error_before_the_tcp_close(self):
        failed = asyncio.Event()

        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            writer.write(frame(TEXT, chunk(AUDIO[0]), mask=True))
            await writer.drain()
            await failed.wait()  # the TCP connection stays open until the client knows
            await answer_close(reader, writer)

        audio, error = await run(script, failed=failed)
        assert audio == []
        assert isinstance(error, ProtocolError)  # no audio went out: typed as it is

    async def test_a_server_close_mid_utterance_fails_it_before_the_tcp_close(self):
        failed = asyncio.Event()

        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            close = (1011).to_bytes(2, "big") + b"worker died"
            writer.write(CHUNKS[0] + frame(CLOSE, close))
            await writer.drain()
            await failed.wait()  # the close frame alone must end the utterance

        audio, error = await run(script, failed=failed)
        assert audio == AUDIO[:1]
        assert isinstance(error, ConnectionLostError)  # audio went out: not retried
        assert "1011" in str(error.__cause__)

    async def test_a_tcp_abort_mid_utterance_is_connection_lost(self):
        async def script(reader, writer, response):
            await accept_text(reader, writer, response)
            writer.write(CHUNKS[0])
            await writer.drain()
            writer.transport.abort()

        audio, error = await run(script)
        assert audio == AUDIO[:1]
        assert isinstance(error, ConnectionLostError)

    async def test_a_close_handshake_the_server_never_finishes_is_bounded(self):
        """aclose() sends the close frame; the server neither answers nor closes TCP:
        the socket is dropped after ``close_timeout`` (0.2 s here), not held forever."""
        release = asyncio.Event()
        closing: list[int] = []

        async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            head = await reader.readuntil(b"\r\n\r\n")
            found = re.search(rb"(?i)sec-websocket-key: *(\S+)", head)
            assert found is not None
            accept = base64.b64encode(hashlib.sha1(found.group(1) + GUID).digest())
            writer.write(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            opcode, _ = await read_client_frame(reader)
            closing.append(opcode)
            await release.wait()  # never answers the close, never closes the socket
            writer.close()

        server = await asyncio.start_server(handle, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        conn = StreamConnection(
            api_key="sk_frames",
            base_url=f"ws://127.0.0.1:{port}",
            options=OPTS,
            ping_interval=None,
            close_timeout=0.2,
        )
        try:
            await conn.connect()
            async with asyncio.timeout(3):  # a hang guard; close_timeout is what bounds it
                await conn.aclose()
            assert conn.closed
            assert closing == [CLOSE]
        finally:
            release.set()
            server.close()
            await server.wait_closed()
