"""Live checks of Pulse speech-to-text against the real service (docs/stt.md readings, settled).

Run with ``make test-live`` (skipped without ``SMALLEST_API_KEY``; ``SMALLEST_BASE_URL``
points it at ``smallest-local serve`` for a dry run). The speech is the service's own:
a TTS rendering at 16 kHz, so the test needs no audio file.

* streaming with ``finalize``: the answer is a final flagged (or taken as) the
  ``finalize`` answer, carrying the sentence's words with times inside the audio sent,
  and ``end()`` finishes with ``is_last`` and a clean close (D1, D5, D22);
* batch: the same speech as a WAV through ``POST /waves/v1/stt/`` (§1.6);
* a bad option is refused before the network, and a bad query by the service as a typed
  ``InvalidRequestError`` (§2);
* a wrong key is an ``AuthenticationError`` on both transports, and never in the message.
"""

from __future__ import annotations

import asyncio
import re

import httpx
import pytest

from smallest_core import (
    AsyncRestClient,
    AuthenticationError,
    FinalTranscript,
    InvalidOptionError,
    InvalidRequestError,
    STTOptions,
    Transcriber,
    TTSOptions,
    error_from_status,
    pcm_to_wav,
)

pytestmark = pytest.mark.live

RATE = 16000
SENTENCE = "Please call me back tomorrow morning."
EXPECTED = {"call", "back", "tomorrow", "morning"}
DEADLINE_S = 60.0
WRONG_KEY = "sk_live_test_wrong_key_000000"


def _words(text: str) -> set[str]:
    return set(re.findall(r"[a-z']+", text.lower()))


async def _speech(api_key: str, base_url: str) -> bytes:
    options = TTSOptions(sample_rate=RATE, output_format="pcm")
    async with AsyncRestClient(api_key=api_key, base_url=base_url) as rest:
        return await rest.synthesize(SENTENCE, options=options)


async def test_streaming_with_finalize_then_end(api_key: str, base_url: str) -> None:
    pcm = await _speech(api_key, base_url)
    audio_s = len(pcm) / 2 / RATE
    events: list[object] = []
    async with asyncio.timeout(DEADLINE_S):
        async with Transcriber(api_key=api_key, base_url=base_url) as stt:

            async def read() -> None:
                async for event in stt:
                    events.append(event)

            reader = asyncio.create_task(read())
            step = RATE // 10 * 2  # 100 ms, paced as a microphone would be
            for pos in range(0, len(pcm), step):
                await stt.push_audio(pcm[pos : pos + step])
                await asyncio.sleep(0.1)  # real-time pacing (D13), not synchronisation
            await stt.finalize()
            await stt.end()
            await reader
    finals = [e for e in events if isinstance(e, FinalTranscript)]
    text = " ".join(f.text for f in finals)
    print(f"finals: {[f.text for f in finals]}; metrics {stt.metrics.as_dict()}")
    assert len(EXPECTED & _words(text)) >= 3, text
    assert any(f.from_finalize for f in finals) and finals[-1].is_last
    words = [w for f in finals for w in f.words]
    assert words and all(0 <= w.start <= w.end <= audio_s + 0.5 for w in words)
    assert [w.start for w in words] == sorted(w.start for w in words)


async def test_batch(api_key: str, base_url: str) -> None:
    wav = pcm_to_wav(await _speech(api_key, base_url), RATE)
    async with AsyncRestClient(api_key=api_key, base_url=base_url) as rest:
        result = await rest.transcribe(wav, options=STTOptions(language="en"))
    print(f"batch: {result!r}, {len(result.words)} words")
    assert len(EXPECTED & _words(result.text)) >= 3, result.text
    assert result.duration is None or result.duration > 1.0


async def test_bad_options(api_key: str, base_url: str) -> None:
    with pytest.raises(InvalidOptionError, match="sample_rate=11025"):
        STTOptions(sample_rate=11025)
    # the service's own check: a query our options would never build
    async with httpx.AsyncClient(timeout=30) as client:
        response = await client.post(
            base_url.rstrip("/") + "/waves/v1/stt/",
            params={"model": "pulse-9000", "language": "en"},
            headers={"Authorization": f"Bearer {api_key}"},
            content=pcm_to_wav(b"\0\0" * RATE, RATE),
        )
    error = error_from_status(response.status_code, response.content, dict(response.headers))
    print(f"bad model: {response.status_code} {error}")
    assert isinstance(error, InvalidRequestError)


async def test_wrong_key(base_url: str) -> None:
    stt = Transcriber(api_key=WRONG_KEY, base_url=base_url)
    with pytest.raises(AuthenticationError) as streaming:
        await stt.connect()
    async with AsyncRestClient(api_key=WRONG_KEY, base_url=base_url) as rest:
        with pytest.raises(AuthenticationError) as batch:
            await rest.transcribe(pcm_to_wav(b"\0\0" * RATE, RATE))
    for info in (streaming, batch):
        assert WRONG_KEY not in str(info.value)
