"""Batch transcription (``POST /waves/v1/stt/``, docs/stt.md §1.6) through both REST clients,
against smallest_local's tone recognizer (real sockets): exact transcripts, every input
kind, the 250 MB check before upload, typed errors and retries."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smallest_core import AsyncRestClient, RestClient, RetryPolicy
from smallest_core.audio import pcm_to_wav
from smallest_core.errors import (
    AuthenticationError,
    InvalidOptionError,
    InvalidRequestError,
    RateLimitError,
)
from smallest_core.stt_options import STTOptions
from smallest_local import Server
from smallest_local.engines import ToneEngine, tone_word

FAST_RETRY = RetryPolicy(max_attempts=3, base_delay=0.0, max_delay=0.0, deadline=10.0)


def tone(words: int, tag: str, rate: int = 16000) -> bytes:
    """PCM the tone recognizer hears as ``words`` words ``tag<v>`` (exact, instant)."""
    text = " ".join(["w"] * words)
    return ToneEngine().synthesize(text, voice_id="", sample_rate=rate, tag=tag).pcm


def words_of(text: str) -> list[str]:
    """Transcript words without the formatting (capitals, punctuation) ``format`` adds."""
    return [w.strip(".,?!").lower() for w in text.split()]


def client(server: Server, **kw: object) -> AsyncRestClient:
    kw.setdefault("retry", FAST_RETRY)
    return AsyncRestClient(api_key=server.api_key, base_url=server.http_url, **kw)  # type: ignore[arg-type]


async def test_wav_bytes_give_text_words_and_duration(smallest_server: Server) -> None:
    pcm = tone(3, "batch-1")
    async with client(smallest_server) as rest:
        result = await rest.transcribe(pcm_to_wav(pcm, 16000))
    word = tone_word("batch-1")
    assert words_of(result.text) == [word] * 3
    assert words_of(" ".join(w.word for w in result.words)) == [word] * 3
    assert result.duration == pytest.approx(len(pcm) / 32000, abs=0.01)
    starts = [w.start for w in result.words]
    assert starts == sorted(starts) and result.words[-1].end <= result.duration + 0.01


async def test_raw_pcm_goes_with_encoding_and_rate(smallest_server: Server) -> None:
    pcm = tone(2, "raw-8k", rate=8000)
    async with client(smallest_server) as rest:
        result = await rest.transcribe(pcm, options=STTOptions(sample_rate=8000))
    assert len(result.text.split()) == 2
    assert result.duration == pytest.approx(len(pcm) / 16000, abs=0.01)


async def test_path_and_file_object(smallest_server: Server, tmp_path: Path) -> None:
    wav = pcm_to_wav(tone(2, "file-in"), 16000)
    path = tmp_path / "in.wav"
    path.write_bytes(wav)
    async with client(smallest_server) as rest:
        by_path = await rest.transcribe(path)
        by_str = await rest.transcribe(str(path))
        by_file = await rest.transcribe(io.BytesIO(wav))
    assert by_path.text == by_str.text == by_file.text != ""


def test_sync_client(smallest_server: Server) -> None:
    with RestClient(api_key=smallest_server.api_key, base_url=smallest_server.http_url) as rest:
        result = rest.transcribe(pcm_to_wav(tone(1, "sync"), 16000))
    assert words_of(result.text) == [tone_word("sync")]


async def test_size_limit_is_checked_before_upload(smallest_server: Server, tmp_path: Path) -> None:
    big = tmp_path / "big.wav"
    with big.open("wb") as f:  # sparse: 250 MB + 1 byte without writing them
        f.truncate(250 * 1024 * 1024 + 1)
    requests_before = smallest_server.stats.http_requests
    async with client(smallest_server) as rest:
        with pytest.raises(InvalidOptionError, match=r"audio='<262144001 bytes>' is too large"):
            await rest.transcribe(big)
        with pytest.raises(InvalidOptionError, match="audio='<0 bytes>' is empty"):
            await rest.transcribe(b"")
        with pytest.raises(InvalidOptionError, match="is a text file object"):
            await rest.transcribe(io.StringIO("x"))  # type: ignore[arg-type]
        with pytest.raises(InvalidOptionError, match="language='yue'"):
            await rest.transcribe(b"\0\0", options=STTOptions(language="yue"))
    assert smallest_server.stats.http_requests == requests_before


async def test_errors_are_typed_and_429_is_retried(smallest_server: Server) -> None:
    wav = pcm_to_wav(tone(1, "retry"), 16000)
    smallest_server.faults.http_error(429, times=1)
    async with client(smallest_server) as rest:
        assert (await rest.transcribe(wav)).text != ""
        smallest_server.faults.http_error(429, times=None)
        with pytest.raises(RateLimitError):
            await rest.transcribe(wav)
        smallest_server.faults.clear()
        with pytest.raises(InvalidRequestError, match=r"(?i)ogg"):
            await rest.transcribe(b"OggS" + b"\0" * 100)
    async with AsyncRestClient(
        api_key="sk_wrong_key_123456", base_url=smallest_server.http_url
    ) as bad:
        with pytest.raises(AuthenticationError) as info:
            await bad.transcribe(wav)
    assert "sk_wrong" not in str(info.value)
