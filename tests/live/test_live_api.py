"""Live checks against the real Smallest API: the readings of docs/protocol.md, settled.

Run with ``make test-live`` (see ``conftest.py`` for how this folder stays out of
``make test`` and how it is skipped without ``SMALLEST_API_KEY``). Each test prints the
figures it measured; ``make test-live`` shows them in its summary.

* every output format of ``POST /tts`` decodes to audio of a plausible length (§3);
* a token-fed, multi-sentence utterance streamed through a ``ConnectionPool`` is as long
  as the REST rendering of the same text — the check that the end rule never cuts a
  reply short, whatever the server's continuations dialect is (§12, §13);
* barge-in: after ``cancel()`` nothing of the old utterance arrives, the next utterance
  on the same pool speaks (and only its own text), and the socket stays open;
* the voice catalog answers; an unknown voice is a typed ``InvalidRequestError`` (§8).
"""

from __future__ import annotations

import asyncio
import re
from typing import get_args

import pytest

from smallest_core import (
    AsyncRestClient,
    AudioChunk,
    ConnectionPool,
    InvalidRequestError,
    Mode,
    OutputFormat,
    SmallestError,
    TTSOptions,
    Utterance,
    audio_duration,
    decode_to_pcm,
    mp3_info,
    pcm_duration,
    wav_to_pcm,
)

pytestmark = pytest.mark.live

#: The defaults users get (Pro model, its default voice, 24 kHz).
OPTIONS = TTSOptions()
RATE = OPTIONS.sample_rate
SHORT = "Hello from the live test suite."
#: Four sentences of similar length: losing any one of them loses about a quarter.
STORY = (
    "The morning train left the station a little after seven. "
    "Most passengers were reading, and a few were already asleep. "
    "Outside, the fields rolled past in long green waves. "
    "By nine o'clock the city skyline was finally in view. "
)
REPLY = "Sure, let me stop there."
#: A streamed utterance may be this much shorter than the REST rendering of its text
#: (prosody differs per release); a cut-off reply loses a whole sentence, about 25 %.
SHORTER_BY = 0.15
#: ... and this much longer (pauses between sentence releases, per-release padding).
LONGER_BY = 0.35
#: Bound on any one streamed utterance; a hang fails here instead of at pytest's timeout.
UTTERANCE_DEADLINE_S = 60.0
MODES: tuple[Mode, ...] = get_args(Mode)


def _tokens(text: str) -> list[str]:
    """Split like an LLM stream: word by word, each with its trailing space."""
    return re.findall(r"\S+\s*", text)


def _rms(pcm: bytes) -> float:
    samples = memoryview(pcm[: len(pcm) // 2 * 2]).cast("h")
    return (sum(s * s for s in samples) / max(1, len(samples))) ** 0.5


async def _rest_seconds(api_key: str, base_url: str, text: str) -> float:
    async with AsyncRestClient(api_key=api_key, base_url=base_url) as rest:
        return pcm_duration(await rest.synthesize(text, options=OPTIONS), RATE)


async def _speak(utterance: Utterance, text: str) -> tuple[bytes, float]:
    """Feed ``text`` token by token (as fast as an LLM can), read the audio to the end.

    Returns:
        The PCM and the seconds from the last audio chunk to the end of the iteration.
    """

    async def feed() -> None:
        for token in _tokens(text):
            await utterance.push_text(token)
        await utterance.end()

    loop = asyncio.get_running_loop()
    feeder = asyncio.create_task(feed())
    pcm = bytearray()
    last_audio = loop.time()
    async with asyncio.timeout(UTTERANCE_DEADLINE_S):
        async for event in utterance:
            if isinstance(event, AudioChunk):
                pcm += event.audio
                last_audio = loop.time()
        await feeder
    return bytes(pcm), loop.time() - last_audio


@pytest.mark.parametrize("fmt", get_args(OutputFormat))
async def test_synthesize_every_format(api_key: str, base_url: str, fmt: OutputFormat) -> None:
    options = OPTIONS.replace(output_format=fmt)
    async with AsyncRestClient(api_key=api_key, base_url=base_url) as rest:
        body = await rest.synthesize(SHORT, options=options)
    seconds = audio_duration(body, fmt, RATE)
    print(f"{fmt}: {len(body)} bytes, {seconds:.2f} s")
    assert 0.5 < seconds < 15, f"{fmt}: {seconds:.2f} s for a six-word sentence"
    if fmt == "mp3":
        _, mp3_rate = mp3_info(body)
        assert mp3_rate > 0
        return
    if fmt == "wav":
        pcm, wav_rate = wav_to_pcm(body)
        assert wav_rate == RATE
    else:
        pcm = decode_to_pcm(body, fmt, RATE)
    assert _rms(pcm) > 100, f"{fmt}: the audio is (nearly) silent"


@pytest.mark.parametrize("mode", MODES)
async def test_token_fed_utterance_is_not_cut(api_key: str, base_url: str, mode: Mode) -> None:
    reference = await _rest_seconds(api_key, base_url, STORY)
    async with ConnectionPool(
        api_key=api_key, options=OPTIONS, base_url=base_url, mode=mode
    ) as pool:
        pcm, tail = await _speak(await pool.utterance(), STORY)
    streamed = pcm_duration(pcm, RATE)
    print(
        f"{mode}: streamed {streamed:.2f} s vs REST {reference:.2f} s "
        f"({streamed / reference:.0%}); end {tail * 1000:.0f} ms after the last audio"
    )
    assert streamed >= reference * (1 - SHORTER_BY), "the streamed utterance was cut short"
    assert streamed <= reference * (1 + LONGER_BY), "the streamed utterance has extra audio"


@pytest.mark.parametrize("mode", MODES)
async def test_barge_in_keeps_the_socket_and_drops_the_old_audio(
    api_key: str, base_url: str, mode: Mode
) -> None:
    reference = await _rest_seconds(api_key, base_url, REPLY)
    loop = asyncio.get_running_loop()
    async with ConnectionPool(
        api_key=api_key, options=OPTIONS, base_url=base_url, mode=mode
    ) as pool:
        first = await pool.utterance()
        heard = asyncio.Event()
        arrivals: list[float] = []

        async def listen() -> None:
            async for event in first:
                if isinstance(event, AudioChunk):
                    arrivals.append(loop.time())
                    heard.set()

        listener = asyncio.create_task(listen())
        for token in _tokens(STORY):
            await first.push_text(token)
        await first.end()
        async with asyncio.timeout(UTTERANCE_DEADLINE_S):
            await heard.wait()
        assert not listener.done(), "the first utterance ended before the barge-in"
        socket = first.connection
        first.cancel()
        cancelled_at = loop.time()
        async with asyncio.timeout(5):
            await listener  # cancel() wakes the waiting iteration
        late = [t for t in arrivals if t > cancelled_at]

        pcm, _ = await _speak(await pool.utterance(), REPLY)
        reply = pcm_duration(pcm, RATE)
        still_open = not socket.closed
    print(
        f"{mode}: {len(arrivals)} chunks before cancel, {len(late)} after; reply "
        f"{reply:.2f} s vs REST {reference:.2f} s"
    )
    assert late == [], "audio of the cancelled utterance arrived after cancel()"
    assert still_open, "barge-in closed the socket"
    assert reference * (1 - SHORTER_BY) <= reply <= reference * (1 + LONGER_BY), (
        "the reply is not its own text's length: stale audio leaked in, or it was cut"
    )


async def test_voice_catalog(api_key: str, base_url: str) -> None:
    async with AsyncRestClient(api_key=api_key, base_url=base_url) as rest:
        voices = await rest.voices()
    print(f"{len(voices)} voices")
    assert voices, "the catalog is empty"
    assert all(v.voice_id and v.display_name for v in voices)


@pytest.mark.parametrize("transport", ["rest", "stream"])
async def test_unknown_voice_is_a_typed_error(api_key: str, base_url: str, transport: str) -> None:
    options = OPTIONS.replace(voice_id="no_such_voice_live_suite")
    with pytest.raises(SmallestError) as caught:
        if transport == "rest":
            async with AsyncRestClient(api_key=api_key, base_url=base_url) as rest:
                await rest.synthesize(SHORT, options=options)
        else:
            async with ConnectionPool(api_key=api_key, options=options, base_url=base_url) as pool:
                await _speak(await pool.utterance(), SHORT)
    print(f"{transport}: {type(caught.value).__name__}: {caught.value}")
    assert isinstance(caught.value, InvalidRequestError), "docs/protocol.md §8 reading"
