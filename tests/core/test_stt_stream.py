"""The streaming Transcriber over real sockets to smallest_local (tone recognizer: exact
transcripts whatever the chunking): finalize/end ordering, dialects, keepalive, retries
only where nothing was lost, and the drop-after-audio error (docs/stt.md §3, §6)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping

import pytest

from smallest_core import RetryPolicy
from smallest_core.errors import (
    AuthenticationError,
    InvalidOptionError,
    InvalidState,
    RateLimitError,
    ServerError,
    TranscriptionLostError,
)
from smallest_core.stt_events import FinalTranscript, InterimTranscript, SpeechEnded, SpeechStarted
from smallest_core.stt_options import STTOptions
from smallest_core.stt_protocol import STTState
from smallest_core.stt_stream import (
    STTSocket,
    Transcriber,
    _Mailbox,
    _TransportSocket,
    open_websocket,
)
from smallest_local import Server
from smallest_local.engines import ToneEngine, tone_word

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, deadline=10.0)
RATE = 16000
OPTIONS = STTOptions(format=False)


def tone(words: int, tag: str) -> bytes:
    """PCM the tone recognizer hears as ``words`` words ``tag<v>``, 200 ms each."""
    return (
        ToneEngine().synthesize(" ".join(["w"] * words), voice_id="", sample_rate=RATE, tag=tag).pcm
    )


def silence(seconds: float) -> bytes:
    return b"\x00\x00" * int(seconds * RATE)


def session(server: Server, **kw: object) -> Transcriber:
    kw.setdefault("retry", FAST_RETRY)
    kw.setdefault("options", OPTIONS)
    kw.setdefault("end_timeout", 5.0)
    return Transcriber(api_key=server.api_key, base_url=server.http_url, **kw)  # type: ignore[arg-type]


async def next_final(events: asyncio.Queue[object]) -> FinalTranscript:
    async with asyncio.timeout(10):
        while True:
            event = await events.get()
            if isinstance(event, BaseException):
                raise event
            if isinstance(event, FinalTranscript):
                return event


def collect(stt: Transcriber) -> tuple[asyncio.Queue[object], asyncio.Task[list[object]]]:
    """Iterate ``stt`` in a task: every event goes to a queue (and the task's result)."""
    queue: asyncio.Queue[object] = asyncio.Queue()

    async def run() -> list[object]:
        seen: list[object] = []
        try:
            async for event in stt:
                seen.append(event)
                queue.put_nowait(event)
        except Exception as exc:
            queue.put_nowait(exc)
            raise
        return seen

    return queue, asyncio.create_task(run())


class TestFinalizeAndEnd:
    """§3: finalize per turn (D1, D5); end = close_stream → is_last → close (D22)."""

    async def test_finalize_then_end_in_order(self, smallest_server: Server) -> None:
        word_a, word_b = tone_word("turn-a"), tone_word("turn-b")
        async with session(smallest_server) as stt:
            queue, task = collect(stt)
            for pos in range(0, len(audio := tone(3, "turn-a")), 777):  # odd chunk sizes
                await stt.push_audio(audio[pos : pos + 777])
            await stt.finalize()
            first = await next_final(queue)
            assert first.from_finalize and first.text.split() == [word_a] * 3
            assert stt.covered_seconds == pytest.approx(0.6)
            await stt.push_audio(tone(2, "turn-b"))
            await stt.end()
            events = await task
        finals = [e for e in events if isinstance(e, FinalTranscript)]
        assert finals[-1].is_last and finals.index(first) == 0
        assert " ".join(f.text for f in finals).split() == [word_a] * 3 + [word_b] * 2
        starts = [w.start for f in finals for w in f.words]
        assert starts == sorted(starts) and starts[3] == pytest.approx(0.6)  # one audio clock
        assert all(
            isinstance(e, InterimTranscript | FinalTranscript | SpeechStarted | SpeechEnded)
            for e in events
        )
        assert stt.state is STTState.DONE and stt.covered_seconds == pytest.approx(1.0)
        assert stt.metrics.finals == len(finals) and stt.metrics.audio_seconds == pytest.approx(1.0)
        assert stt.metrics.final_latency is not None and stt.connects == 1

    async def test_20_ms_chunks_of_any_buffer_type_go_out_as_50_ms_frames(
        self, smallest_server: Server
    ) -> None:
        word = tone_word("chunks")
        audio = tone(3, "chunks")  # 0.6 s: 30 chunks of 20 ms, 12 frames of 50 ms
        frames0 = smallest_server.stats.frames_received
        async with session(smallest_server) as stt:
            _, task = collect(stt)
            for n, pos in enumerate(range(0, len(audio), 640)):
                chunk = audio[pos : pos + 640]
                # bytes, bytearray and a memoryview of samples (as LiveKit's frame.data)
                kinds = (chunk, bytearray(chunk), memoryview(chunk).cast("h"))
                await stt.push_audio(kinds[n % 3])
            await stt.end()
            events = await task
        finals = [e for e in events if isinstance(e, FinalTranscript)]
        assert " ".join(f.text for f in finals).split() == [word] * 3
        assert smallest_server.stats.frames_received - frames0 == 12 + 1  # + close_stream
        assert stt.metrics.audio_bytes == len(audio) and stt.covered_seconds == pytest.approx(0.6)

    async def test_vad_events_and_endpoint_final(self, smallest_server: Server) -> None:
        async with session(smallest_server, options=OPTIONS.replace(vad_events=True)) as stt:
            queue, task = collect(stt)
            await stt.push_audio(silence(0.2) + tone(2, "vad") + silence(1.0))
            final = await next_final(queue)  # cut by the endpoint, not by us
            assert not final.from_finalize and final.start == pytest.approx(0.2)
            await stt.end()
            events = await task
        started = [e for e in events if isinstance(e, SpeechStarted)]
        ended = [e for e in events if isinstance(e, SpeechEnded)]
        assert started[0].timestamp == pytest.approx(0.2) and ended[0].timestamp == pytest.approx(
            0.6
        )

    @pytest.mark.smallest_server(stt_dialect="no-from-finalize")
    async def test_finalize_answer_without_the_flag(self, smallest_server: Server) -> None:
        """D5: the first final after our finalize is its answer when the server omits the flag."""
        async with session(smallest_server) as stt:
            queue, task = collect(stt)
            await stt.push_audio(tone(1, "noflag"))
            await stt.finalize()
            assert (await next_final(queue)).from_finalize
            await stt.end()
            await task

    @pytest.mark.smallest_server(stt_dialect="close-stream-only")
    async def test_server_that_ignores_finalize(self, smallest_server: Server) -> None:
        """D1: the first /stt/live spec knew only close_stream; nothing is lost at end()."""
        async with session(smallest_server) as stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(2, "old-spec"))
            await stt.finalize()  # ignored by this server
            await stt.end()
            finals = [e for e in await task if isinstance(e, FinalTranscript)]
        assert " ".join(f.text for f in finals).split() == [tone_word("old-spec")] * 2
        assert finals[-1].is_last and stt.state is STTState.DONE

    @pytest.mark.smallest_server(stt_dialect="transcription-only")
    async def test_text_under_transcription_only(self, smallest_server: Server) -> None:
        async with session(smallest_server) as stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(1, "tx"))
            await stt.end()
            finals = [e for e in await task if isinstance(e, FinalTranscript)]
        assert " ".join(f.text for f in finals).split() == [tone_word("tx")]

    @pytest.mark.smallest_server(stt_dialect="client-closes")
    async def test_we_close_after_is_last(self, smallest_server: Server) -> None:
        """D22: a server that waits for the client to close gets our close, at once."""
        async with session(smallest_server, end_timeout=3.0) as stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(1, "cc"))
            async with asyncio.timeout(2.0):  # well inside the server's 5 s wait
                await stt.end()
            await task
        assert stt.state is STTState.DONE

    async def test_end_is_bounded_when_is_last_never_comes(self, smallest_server: Server) -> None:
        smallest_server.faults.stall(after_chunks=4, route="stt")  # then withholds every event
        stt = session(smallest_server, end_timeout=0.3)
        async with stt:
            queue, task = collect(stt)
            await stt.push_audio(tone(2, "stall"))
            async with asyncio.timeout(10):
                await queue.get()  # the server acknowledged the audio, then stalled
            with pytest.raises(
                TranscriptionLostError,
                match=r"no is_last final within 0\.7 s after close_stream "
                r"\(0\.3 s \+ 0\.40 s of audio not yet answered\)",
            ) as info:
                await stt.end()
            with pytest.raises(TranscriptionLostError):
                await task
        assert info.value.covered_seconds == 0.0 and info.value.audio_seconds == pytest.approx(0.4)

    async def test_end_waits_longer_while_the_server_owes_finals_for_audio(
        self, smallest_server: Server
    ) -> None:
        """Audio pushed faster than real time may still be being recognised at
        ``close_stream``: the wait for ``is_last`` is ``end_timeout`` plus the seconds no
        final covers yet. A server that holds its answers for 0.8 s (past the 0.3 s
        ``end_timeout``, inside 0.3 s + the 2 s of unanswered audio) still ends cleanly."""
        smallest_server.faults.stall(after_chunks=2, seconds=0.8, route="stt")
        stt = session(smallest_server, end_timeout=0.3)
        async with stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(10, "late"))
            await stt.end()
            events = await task
        assert stt.state is STTState.DONE
        words = [w for e in events if isinstance(e, FinalTranscript) for w in e.text.split()]
        assert len(words) == 10

    async def test_cancel_stops_iteration(self, smallest_server: Server) -> None:
        async with session(smallest_server) as stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(1, "cancel"))
            stt.cancel()
            assert isinstance(await task, list)
            with pytest.raises(InvalidState, match="cancelled"):
                await stt.push_audio(b"\0\0")
        assert stt.state is STTState.CANCELLED
        with pytest.raises(InvalidState, match="cannot connect: the transcription is cancelled"):
            await stt.connect()


class TestRetries:
    """Retry only where nothing was lost (RetryPolicy via retry.Attempts)."""

    async def test_refused_upgrade_is_retried(self, smallest_server: Server) -> None:
        smallest_server.faults.refuse_upgrade(429, times=2, retry_after=0)
        async with session(smallest_server) as stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(1, "retry"))
            await stt.end()
            await task
        assert stt.connects == 3 and stt.state is STTState.DONE

    async def test_refusals_give_up_per_policy_and_401_is_not_retried(
        self, smallest_server: Server
    ) -> None:
        smallest_server.faults.refuse_upgrade(503, times=None)
        stt = session(smallest_server)
        with pytest.raises(ServerError, match="503"):
            await stt.connect()
        assert stt.connects == 3
        smallest_server.faults.clear()
        bad = Transcriber(
            api_key="sk_not_the_key_42", base_url=smallest_server.http_url, retry=FAST_RETRY
        )
        with pytest.raises(AuthenticationError) as info:
            await bad.connect()
        assert bad.connects == 1 and "sk_not_the_key" not in str(info.value)

    @pytest.mark.parametrize("fault", ["close", "abort"])
    async def test_drop_before_audio_is_retried(self, smallest_server: Server, fault: str) -> None:
        if fault == "close":
            smallest_server.faults.close_after(0, code=1011, route="stt")
        else:
            smallest_server.faults.abort_after(0, route="stt")
        async with session(smallest_server) as stt:
            queue, task = collect(stt)
            await stt.push_audio(tone(2, "again"))
            await stt.finalize()
            final = await next_final(queue)
            await stt.end()
            await task
        assert final.text.split() == [tone_word("again")] * 2 and final.from_finalize
        assert stt.connects == 2

    async def test_concurrency_error_frame_before_audio_is_retried(
        self, smallest_server: Server
    ) -> None:
        smallest_server.faults.error_frame(
            "Too many concurrent sessions", code="CONCURRENCY_LIMIT", after_chunks=0, route="stt"
        )
        async with session(smallest_server) as stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(1, "conc"))
            await stt.end()
            events = await task
        assert stt.connects == 2 and any(isinstance(e, FinalTranscript) and e.text for e in events)

    async def test_drop_after_audio_says_what_finals_covered(self, smallest_server: Server) -> None:
        smallest_server.faults.close_after(16, code=1011, route="stt")  # after 0.8 s of audio
        async with session(smallest_server) as stt:
            queue, task = collect(stt)
            await stt.push_audio(tone(3, "lost"))  # 12 frames of 50 ms
            await stt.finalize()
            assert (await next_final(queue)).from_finalize
            await stt.push_audio(tone(3, "lost"))
            with pytest.raises(TranscriptionLostError) as info:
                await task
        error = info.value
        assert error.covered_seconds == pytest.approx(0.6)
        assert error.audio_seconds is not None and error.audio_seconds >= 0.8
        assert not error.retryable and stt.connects == 1
        assert "finals cover the first 0.60 s" in str(error)

    async def test_error_frame_after_audio_is_not_retried(self, smallest_server: Server) -> None:
        smallest_server.faults.error_frame(
            "Too many concurrent sessions", code="CONCURRENCY_LIMIT", after_chunks=2, route="stt"
        )
        async with session(smallest_server) as stt:
            _queue, task = collect(stt)
            await stt.push_audio(tone(1, "late"))
            with pytest.raises(TranscriptionLostError) as info:
                await task
        assert isinstance(info.value.__cause__, RateLimitError) and stt.connects == 1


class _Recording:
    """An :class:`STTSocket` over the real one that notes what passes (keepalive tests)."""

    def __init__(self, inner: STTSocket, sent: list[str | bytes], pongs: asyncio.Event) -> None:
        self.inner, self.sent, self.pongs = inner, sent, pongs

    async def send(self, message: str | bytes) -> None:
        self.sent.append(message)
        await self.inner.send(message)

    async def recv(self) -> str | bytes:
        message = await self.inner.recv()
        if message == '{"type": "pong"}':
            self.pongs.set()
        return message

    async def close(self) -> None:
        await self.inner.close()


class TestKeepalive:
    """D2: keepalive only while no audio flows; the pong is not an event."""

    async def test_keepalive_when_idle_only(self, smallest_server: Server) -> None:
        sent: list[str | bytes] = []
        pongs = asyncio.Event()

        async def open_recording(url: str, headers: Mapping[str, str], timeout: float) -> STTSocket:
            return _Recording(await open_websocket(url, headers, timeout), sent, pongs)

        async with session(
            smallest_server, keepalive_interval=0.5, open_socket=open_recording
        ) as stt:
            _queue, task = collect(stt)
            audio = tone(3, "live")
            for pos in range(0, len(audio), 1600):  # a live microphone: 50 ms every 50 ms
                await stt.push_audio(audio[pos : pos + 1600])
                await asyncio.sleep(0.05)  # pacing the audio, not waiting for a result
            assert '{"type":"keepalive"}' not in sent
            async with asyncio.timeout(5):
                await pongs.wait()  # idle now: a keepalive went out and was answered
            await stt.end()
            events = await task
        assert sent.count('{"type":"keepalive"}') >= 1
        assert all(not isinstance(e, str) for e in events)

    async def test_keepalive_can_be_disabled_and_is_off_for_a_direct_server(self) -> None:
        base = "ws://127.0.0.1:9"
        stt = Transcriber(api_key="sk_x_1234", base_url=base, keepalive_interval=None)
        assert stt.keepalive_interval is None
        legacy = Transcriber(api_key="sk_x_1234", base_url=base, path="/waves/v1/pulse/get_text")
        assert legacy.keepalive_interval == 5.0
        direct = Transcriber(api_key="sk_x_1234", base_url=base, path="/transcribe")
        assert direct.keepalive_interval is None and direct.url.startswith(f"{base}/transcribe?")
        with pytest.raises(InvalidOptionError, match="keepalive_interval=0 "):
            Transcriber(api_key="sk_x_1234", base_url="ws://127.0.0.1:9", keepalive_interval=0)


class _PushingBack:
    """The core transport's WebSocket as :class:`_TransportSocket` drives it, pushing back
    (its write buffer over the limit) until :meth:`release`: no real socket can be made to
    do that on demand. ``log``: (message, released when it was written)."""

    def __init__(self) -> None:
        self.log: list[tuple[str | bytes, bool]] = []
        self.paused = False
        self.draining = asyncio.Event()
        self.released = asyncio.Event()

    def send_binary(self, data: bytes) -> bool:
        self.log.append((data, self.released.is_set()))
        return True

    def send_text(self, text: str) -> bool:
        self.log.append((text, self.released.is_set()))
        return True

    async def drain(self) -> None:
        self.draining.set()
        await self.released.wait()
        self.paused = False

    def release(self) -> None:
        self.released.set()

    def close(self) -> None:
        pass

    async def wait_closed(self) -> None:
        pass


class TestBackPressure:
    """A socket that pushes back holds the caller, and later writes queue behind it."""

    async def test_push_back_holds_the_pusher_and_the_next_write(self) -> None:
        ws = _PushingBack()

        async def open_fake(url: str, headers: Mapping[str, str], timeout: float) -> STTSocket:
            socket = _TransportSocket()
            socket._ws = ws  # type: ignore[assignment]  # the transport's WebSocket, faked
            return socket

        stt = Transcriber(
            api_key="sk_x_1234",
            base_url="ws://127.0.0.1:9",
            options=OPTIONS,
            keepalive_interval=None,
            open_socket=open_fake,
        )
        await stt.connect()
        frame = b"\1\0" * 800  # one 50 ms frame
        ws.paused = True  # from the next write on, the buffer is over its limit
        push = asyncio.create_task(stt.push_audio(frame))
        await ws.draining.wait()  # the frame went out; the pusher waits on the drain
        assert not push.done()
        turn = asyncio.create_task(stt.finalize())  # a turn boundary meanwhile
        # runs after the finalize task's first step (the loop runs callbacks in order)
        asyncio.get_running_loop().call_soon(ws.release)
        await asyncio.gather(push, turn)
        # the finalize tried to write while the drain went on, and waited for it
        assert ws.log == [(frame, False), ('{"type":"finalize"}', True)]
        assert stt.metrics.audio_bytes == len(frame)
        await stt.aclose()


class TestMailbox:
    """The FIFO between the socket's callbacks, the reader and the iterator."""

    @staticmethod
    async def waiting(box: _Mailbox[int]) -> asyncio.Task[int]:
        """A task parked in ``box.get()`` (its start is awaited, not slept on)."""
        started = asyncio.Event()

        async def get() -> int:
            started.set()
            return await box.get()

        task = asyncio.create_task(get())
        await started.wait()
        return task

    async def test_first_in_first_out_and_a_getter_waits(self) -> None:
        box: _Mailbox[int] = _Mailbox()
        for n in (1, 2, 3):
            box.put_nowait(n)
        assert [await box.get() for _ in range(3)] == [1, 2, 3]
        task = await self.waiting(box)
        box.put_nowait(4)
        assert await task == 4

    async def test_a_getter_cancelled_after_its_wake_up_passes_it_on(self) -> None:
        box: _Mailbox[int] = _Mailbox()
        first, second = await self.waiting(box), await self.waiting(box)
        box.put_nowait(7)  # wakes the first getter...
        first.cancel()  # ...which is cancelled before it runs
        async with asyncio.timeout(5):  # a bound: a lost wake-up would park it for good
            assert await second == 7
        with pytest.raises(asyncio.CancelledError):
            await first

    async def test_a_cancelled_waiting_getter_takes_nothing(self) -> None:
        box: _Mailbox[int] = _Mailbox()
        gone = await self.waiting(box)
        gone.cancel()
        await asyncio.gather(gone, return_exceptions=True)
        box.put_nowait(8)
        assert await box.get() == 8


class TestBeforeNetwork:
    """Bad options and misuse fail locally; the key never reaches a log line."""

    def test_options_are_checked_for_streaming(self) -> None:
        with pytest.raises(InvalidOptionError, match="model='pulse-pro' has no streaming"):
            Transcriber(api_key="sk_x_1234", options=STTOptions(model="pulse-pro"))
        with pytest.raises(InvalidOptionError, match="end_timeout="):
            Transcriber(api_key="sk_x_1234", end_timeout=0)

    async def test_key_is_never_logged(
        self, smallest_server: Server, caplog: pytest.LogCaptureFixture
    ) -> None:
        key = "sk_secret_key_for_logging_test"
        caplog.set_level(logging.DEBUG)
        stt = Transcriber(api_key=key, base_url=smallest_server.http_url, retry=FAST_RETRY)
        with pytest.raises(AuthenticationError) as info:
            await stt.connect()
        assert key not in repr(stt) and key not in str(info.value)
        assert all(key not in record.getMessage() for record in caplog.records)
