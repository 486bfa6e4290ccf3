"""RestClient / AsyncRestClient and the ``smallest`` CLI against smallest_local (real sockets)."""

from __future__ import annotations

import io
import math
import wave
from pathlib import Path

import pytest

from smallest_core import (
    AsyncRestClient,
    AudioChunk,
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidState,
    RestClient,
    RetryPolicy,
    ServerError,
    TTSOptions,
)
from smallest_core.audio import decode_to_pcm, duration, mp3_info
from smallest_core.cli import main as cli_main
from smallest_local import Server
from smallest_local.engines import describe, tag_value

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, deadline=10.0)


def client(server: Server, **kw: object) -> AsyncRestClient:
    kw.setdefault("retry", FAST_RETRY)
    return AsyncRestClient(api_key=server.api_key, base_url=server.http_url, **kw)  # type: ignore[arg-type]


def wav_bytes(seconds: float, rate: int = 16000) -> bytes:
    buf = io.BytesIO()
    with wave.open(buf, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        n = int(seconds * rate)
        w.writeframes(
            b"".join(
                int(8000 * math.sin(i / 8)).to_bytes(2, "little", signed=True) for i in range(n)
            )
        )
    return buf.getvalue()


class TestSynthesis:
    @pytest.mark.parametrize("rate", [8000, 16000, 24000, 44100])
    async def test_all_formats_have_the_same_duration(self, smallest_server: Server, rate: int):
        async with client(smallest_server) as rest:
            durations = {}
            for fmt in ("pcm", "wav", "ulaw", "alaw", "mp3"):
                opts = TTSOptions(sample_rate=rate, output_format=fmt)
                data = await rest.synthesize("one two three", options=opts)
                durations[fmt] = duration(data, fmt, rate)
        frame = 1152 / rate  # one MP3 frame; PCM-family formats agree to the sample
        base = durations["pcm"]
        assert base == pytest.approx(0.6)
        for fmt, seconds in durations.items():
            assert abs(seconds - base) <= frame, (fmt, seconds, base)

    async def test_decoded_formats_are_the_same_pcm(self, smallest_server: Server):
        async with client(smallest_server) as rest:
            pcm = await rest.synthesize("a b", request_id="same")
            wav = await rest.synthesize(
                "a b", request_id="same", options=TTSOptions(output_format="wav")
            )
        assert decode_to_pcm(wav, "wav", 24000) == pcm
        assert describe(pcm) == {tag_value("same"): [(0, 4800)]}

    async def test_mp3_is_real_mp3(self, smallest_server: Server):
        async with client(smallest_server) as rest:
            data = await rest.synthesize("a b c", options=TTSOptions(output_format="mp3"))
        samples, rate = mp3_info(data)
        assert rate == 24000 and samples >= 0.6 * 24000

    async def test_synthesize_to_file_writes_a_wav(self, smallest_server: Server, tmp_path: Path):
        async with client(smallest_server) as rest:
            out = await rest.synthesize_to_file(
                "a b",
                tmp_path / "x.wav",
                options=TTSOptions(output_format="ulaw", sample_rate=8000),
            )
        with wave.open(str(out)) as w:
            assert w.getframerate() == 8000 and w.getnframes() == 3200

    async def test_sse_stream_yields_the_same_audio(self, smallest_server: Server):
        async with client(smallest_server) as rest:
            sync = await rest.synthesize("one two", request_id="s")
            chunks = [c async for c in rest.stream("one two", request_id="s")]
        assert len(chunks) > 1 and all(isinstance(c, AudioChunk) for c in chunks)
        assert b"".join(c.audio for c in chunks) == sync

    def test_sync_client(self, smallest_server: Server):
        with RestClient(api_key=smallest_server.api_key, base_url=smallest_server.http_url) as rest:
            pcm = rest.synthesize("a b", request_id="sync")
            streamed = b"".join(c.audio for c in rest.stream("a b", request_id="sync"))
        assert pcm == streamed and describe(pcm) == {tag_value("sync"): [(0, 4800)]}


class TestErrorsAndRetries:
    async def test_bad_option_fails_before_any_network(self, smallest_server: Server):
        with pytest.raises(ValueError, match="sample_rate"):
            TTSOptions(sample_rate=22050)
        assert smallest_server.stats.http_requests == 0

    async def test_server_validation_error_is_typed_and_not_retried(self, smallest_server: Server):
        async with client(smallest_server) as rest:
            with pytest.raises(InvalidRequestError) as info:
                await rest.synthesize("x", options=TTSOptions(voice_id="nobody_at_all"))
        assert "voice_id" in str(info.value) and info.value.status_code == 400
        assert smallest_server.stats.http_requests == 1

    @pytest.mark.parametrize("status", [429, 500, 503])
    async def test_transient_statuses_are_retried(self, smallest_server: Server, status: int):
        smallest_server.faults.http_error(status, retry_after=0 if status == 429 else None)
        async with client(smallest_server) as rest:
            assert await rest.synthesize("x")
        assert smallest_server.stats.http_requests == 2

    async def test_401_is_not_retried(self, smallest_server: Server):
        async with AsyncRestClient(
            api_key="sk_wrong_0000000", base_url=smallest_server.http_url, retry=FAST_RETRY
        ) as rest:
            with pytest.raises(AuthenticationError) as info:
                await rest.synthesize("x")
        assert "sk_wrong_0000000" not in str(info.value)
        assert smallest_server.stats.http_requests == 1

    async def test_persistent_5xx_gives_up_with_server_error(self, smallest_server: Server):
        smallest_server.faults.http_error(503, times=None)
        async with client(smallest_server) as rest:
            with pytest.raises(ServerError):
                await rest.synthesize("x")
        assert smallest_server.stats.http_requests == FAST_RETRY.max_attempts

    async def test_sse_abort_before_audio_is_retried(self, smallest_server: Server):
        smallest_server.faults.abort_after(0, route="http")
        async with client(smallest_server) as rest:
            pcm = b"".join([c.audio async for c in rest.stream("a b", request_id="r")])
        assert describe(pcm) == {tag_value("r"): [(0, 4800)]}

    async def test_sse_abort_after_audio_is_connection_lost(self, smallest_server: Server):
        smallest_server.faults.abort_after(2, route="http")
        async with client(smallest_server) as rest:
            got = bytearray()
            with pytest.raises(ConnectionLostError):
                async for chunk in rest.stream("w " * 10, request_id="late"):
                    got += chunk.audio
        assert describe(bytes(got)) == {tag_value("late"): [(0, len(got) // 4)]}


class TestVoicesAndCloning:
    async def test_voice_catalog(self, smallest_server: Server):
        async with client(smallest_server) as rest:
            voices = await rest.voices("lightning_v3.1")
        ids = {v.voice_id for v in voices}
        assert {"meher", "sophia"} <= ids
        assert all(v.display_name for v in voices)

    @pytest.mark.smallest_server(clone_pending_s=0.05, clone_processing_s=0.1)
    async def test_clone_job_to_completed_and_to_failed_callbacks_once_each(
        self, smallest_server: Server
    ):
        events: list[tuple[str, str]] = []

        async def ready(clone):
            events.append(("ready", clone.voice_id))

        def failed(clone):
            events.append(("failed", clone.voice_id))

        async with client(smallest_server) as rest:
            good = await rest.add_voice(display_name="Me", file=wav_bytes(6), filename="me.wav")
            assert good.status in {"pending", "processing"}
            smallest_server.faults.clone_fails()
            bad = await rest.add_voice(display_name="Broken", file=wav_bytes(6), filename="b.wav")
            done_good = await rest.wait_for_voice(
                good.voice_id, on_ready=ready, on_failed=failed, poll_interval=0.02
            )
            done_bad = await rest.wait_for_voice(
                bad.voice_id, on_ready=ready, on_failed=failed, poll_interval=0.02
            )
            assert done_good.ready and done_bad.status == "failed"
            assert events == [("ready", good.voice_id), ("failed", bad.voice_id)]
            # the completed clone is now a voice the TTS accepts
            pcm = await rest.synthesize("x", options=TTSOptions(voice_id=good.voice_id))
            assert pcm
            clones = {c.voice_id: c.status for c in await rest.clones()}
            assert clones == {good.voice_id: "completed", bad.voice_id: "failed"}
            await rest.delete_voice(good.voice_id)
            assert {c.voice_id for c in await rest.clones()} == {bad.voice_id}

    async def test_clone_needs_a_known_audio_type(self, smallest_server: Server):
        async with client(smallest_server) as rest:
            with pytest.raises(InvalidOptionError, match="content_type"):
                await rest.add_voice(display_name="x", file=b"data", filename="sample.xyz")

    async def test_pronunciation_dictionaries(self, smallest_server: Server):
        async with client(smallest_server) as rest:
            d = await rest.create_dictionary([("AI", "artificial intelligence")])
            assert d.items == (("AI", "artificial intelligence"),)
            d2 = await rest.update_dictionary(d.id, [("AI", "A I"), ("TTS", "text to speech")])
            assert len(d2.items) == 2
            assert [x.id for x in await rest.dictionaries()] == [d.id]
            pcm = await rest.synthesize("TTS", options=TTSOptions(pronunciation_dicts=(d.id,)))
            assert len(pcm) == 3 * 9600  # "text to speech": three tone words
            await rest.delete_dictionary(d.id)
            assert await rest.dictionaries() == []


class TestCli:
    def test_say_voices_clone_round_trip(self, smallest_server: Server, tmp_path: Path, capsys):
        base = ["--api-key", smallest_server.api_key, "--base-url", smallest_server.http_url]
        out = tmp_path / "hi.wav"
        assert cli_main([*base, "say", "hello there", "-o", str(out)]) == 0
        with wave.open(str(out)) as w:
            assert w.getnframes() == 2 * 4800
        assert "time to first audio" in capsys.readouterr().out
        assert cli_main([*base, "voices"]) == 0
        assert "meher" in capsys.readouterr().out
        sample = tmp_path / "me.wav"
        sample.write_bytes(wav_bytes(6))
        assert cli_main([*base, "clone", str(sample), "--name", "Me", "--wait"]) == 0
        voice_id = capsys.readouterr().out.split()[0]
        assert cli_main([*base, "clones"]) == 0
        assert f"{voice_id}" in capsys.readouterr().out

    def test_cli_reports_typed_errors(self, smallest_server: Server, tmp_path: Path, capsys):
        code = cli_main(
            ["--api-key", "sk_bad_key_1234567", "--base-url", smallest_server.http_url, "voices"]
        )
        assert code == 1
        err = capsys.readouterr().err
        assert "AuthenticationError" in err and "sk_bad_key_1234567" not in err


class TestPerCallRetry:
    """A framework's per-call retry settings drive the core without touching the client."""

    async def test_a_call_policy_overrides_the_clients(self, smallest_server: Server):
        smallest_server.faults.http_error(503, times=2)
        async with client(smallest_server, retry=RetryPolicy(max_attempts=1)) as rest:
            with pytest.raises(ServerError):
                await rest.synthesize("x")  # the client's policy: no retry
            assert len(await rest.synthesize("x", retry=FAST_RETRY)) > 0  # 503, then ok
            assert rest.retry.max_attempts == 1  # untouched

    async def test_an_sse_stream_counts_its_attempts_once(self, smallest_server: Server):
        smallest_server.faults.http_error(503, times=2)
        async with client(smallest_server) as rest:
            once = RetryPolicy(max_attempts=2, base_delay=0.0, max_delay=0.0)
            with pytest.raises(ServerError):  # 2 attempts in all, both 503
                [c async for c in rest.stream("x", retry=once)]
            assert [c async for c in rest.stream("one", retry=once)]

    def test_the_sync_client_takes_a_call_policy_too(self, smallest_server: Server):
        smallest_server.faults.http_error(503, times=1)
        with RestClient(
            api_key=smallest_server.api_key,
            base_url=smallest_server.http_url,
            retry=RetryPolicy(max_attempts=1),
        ) as rest:
            assert len(rest.synthesize("x", retry=FAST_RETRY)) > 0


async def test_a_lone_surrogate_is_refused_before_the_network(smallest_server: Server):
    """UTF-8 cannot carry it: refused locally naming ``text`` (no request is made)."""
    async with client(smallest_server) as rest:
        before = smallest_server.stats.http_requests
        with pytest.raises(InvalidOptionError, match=r"text.*lone surrogate"):
            await rest.synthesize("Broken \ud800 text here.")
        assert smallest_server.stats.http_requests == before
        assert len(await rest.synthesize("fine")) > 0


async def test_use_after_close_is_a_typed_error(smallest_server: Server):
    """Like a closed pool: the core's InvalidState, not httpx's untyped RuntimeError."""
    client = AsyncRestClient(api_key=smallest_server.api_key, base_url=smallest_server.http_url)
    await client.aclose()
    with pytest.raises(InvalidState, match="the client is closed"):
        await client.synthesize("hi")
    with pytest.raises(InvalidState, match="the client is closed"):
        [chunk async for chunk in client.stream("hi")]
    sync = RestClient(api_key=smallest_server.api_key, base_url=smallest_server.http_url)
    sync.close()
    with pytest.raises(InvalidState, match="the client is closed"):
        sync.synthesize("hi")
    assert smallest_server.stats.http_requests == 0
