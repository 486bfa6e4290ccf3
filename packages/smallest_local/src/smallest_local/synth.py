"""Turning one validated request's text into paced chunks: shared by HTTP, SSE and WS.

The engine renders the whole text at once (espeak runs ~1000x real time); the latency
model then decides when each chunk may leave: ``first_chunk_ms`` after the request,
then ``realtime_factor`` x the audio already sent.
"""

from __future__ import annotations

import asyncio
import re
import threading
from typing import TypedDict

from .config import LatencyModel
from .engines import Synthesis, ToneEngine
from .engines.tone import ToneStream
from .state import ServerState
from .wire import RequestError, TTSRequest

__all__ = [
    "Pacer",
    "PronunciationIndex",
    "apply_dictionaries",
    "chunk_bytes",
    "render",
    "render_stream",
    "split_chunks",
    "spoken_text",
    "too_long_after_dictionaries",
]


_WORD = re.compile(r"\w")
_INDEX_CACHE_SIZE = 32
_CACHE_LOCK = threading.Lock()


class PronunciationIndex:
    """Pronunciation dictionaries compiled for one pass over a text (§7).

    Whole-word (not inside a longer word), case-insensitive, longest entry first, the
    first dictionary in the request's order winning a conflict. Replacements are
    literal and never re-scanned, so an entry cannot expand another's output. Cost: one
    scan of the text, trying at most one hash lookup per distinct entry length at each
    word start — independent of the number of entries.
    """

    def __init__(self, pairs: list[tuple[str, str]]) -> None:
        self._by_len: dict[int, dict[str, str]] = {}
        for word, pronunciation in pairs:
            if word:
                self._by_len.setdefault(len(word), {}).setdefault(word.lower(), pronunciation)
        self._lengths = sorted(self._by_len, reverse=True)
        self._first = {key[0] for table in self._by_len.values() for key in table}

    def apply(self, text: str) -> str:
        """``text`` with every dictionary word replaced by its pronunciation."""
        if not self._lengths:
            return text
        out: list[str] = []
        last = i = 0
        n = len(text)
        first, by_len, lengths = self._first, self._by_len, self._lengths
        while i < n:
            if text[i].lower() in first and (i == 0 or not _WORD.match(text, i - 1)):
                for length in lengths:
                    j = i + length
                    if j > n:
                        continue
                    replacement = by_len[length].get(text[i:j].lower())
                    if replacement is not None and (j == n or not _WORD.match(text, j)):
                        out.append(text[last:i])
                        out.append(replacement)
                        last = i = j
                        break
                else:
                    i += 1
            else:
                i += 1
        out.append(text[last:])
        return "".join(out)


def _index(state: ServerState, dict_ids: tuple[str, ...]) -> PronunciationIndex:
    """The compiled dictionaries of a request, cached until any dictionary changes."""
    assert state.store is not None
    version = state.store.dicts_version
    cache = state.dictionary_cache
    with _CACHE_LOCK:
        hit = cache.get(dict_ids)
    if hit is not None and hit[0] == version:
        index: PronunciationIndex = hit[1]
        return index
    index = PronunciationIndex(state.store.dict_items(list(dict_ids)))
    with _CACHE_LOCK:
        if len(cache) >= _INDEX_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        cache[dict_ids] = (version, index)
    return index


def apply_dictionaries(state: ServerState, text: str, dict_ids: tuple[str, ...]) -> str:
    """Replace whole words by their pronunciations from the requested dictionaries (§7)."""
    if not dict_ids or state.store is None:
        return text
    return _index(state, dict_ids).apply(text)


async def spoken_text(state: ServerState, text: str, req: TTSRequest) -> str:
    """What will actually be synthesized: ``text`` after the request's dictionaries.

    Runs off the event loop when dictionaries apply, so a big dictionary never stalls
    other sockets.
    """
    if not req.pronunciation_dicts or state.store is None:
        return text
    return await asyncio.to_thread(apply_dictionaries, state, text, req.pronunciation_dicts)


def too_long_after_dictionaries(spoken_chars: int, limit: int) -> RequestError:
    """The error for a request whose text to speak, after dictionaries, is over the limit."""
    return RequestError(
        f"The 'text' field is too long after pronunciation dictionaries: {spoken_chars} "
        f"characters to speak (maximum {limit})."
    )


async def render(
    state: ServerState, spoken: str, req: TTSRequest, tag: str, *, samples_before: int = 0
) -> Synthesis:
    """Synthesize ``spoken`` (dictionaries already applied, see :func:`spoken_text`).

    ``samples_before``: audio this request already produced (earlier releases), so the
    tone engine's counter continues across releases.
    """
    args = _engine_args(req, tag)
    if isinstance(state.engine, ToneEngine):  # microseconds: a thread hop would cost more
        return state.engine.synthesize(spoken, **args, first_pair=samples_before // 2)
    return await asyncio.to_thread(state.engine.synthesize, spoken, **args)


async def render_stream(
    state: ServerState, spoken: str, req: TTSRequest, tag: str, *, samples_before: int = 0
) -> Synthesis | ToneStream:
    """:func:`render` for a streaming socket: the tone engine renders each chunk as it
    is sent (``synthesize(..., lazy=True)``); other engines render it all, streamed as
    views. Either way the result gives ``chunks(chunk_bytes)``, ``words`` and
    ``duration``."""
    if isinstance(state.engine, ToneEngine):
        args = _engine_args(req, tag)
        return state.engine.synthesize(spoken, **args, first_pair=samples_before // 2, lazy=True)
    return await render(state, spoken, req, tag, samples_before=samples_before)


class _EngineArgs(TypedDict):
    """What every engine's ``synthesize`` takes from a request, besides the text."""

    voice_id: str
    sample_rate: int
    speed: float
    language: str | None
    tag: str


def _engine_args(req: TTSRequest, tag: str) -> _EngineArgs:
    return _EngineArgs(
        voice_id=req.voice_id,
        sample_rate=req.sample_rate,
        speed=req.speed,
        language=req.language,
        tag=tag,
    )


def split_chunks(pcm: bytes, sample_rate: int, chunk_ms: int) -> list[bytes]:
    """Cut PCM s16le into chunks of ``chunk_ms`` of audio (the last one may be shorter)."""
    size = chunk_bytes(sample_rate, chunk_ms)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


def chunk_bytes(sample_rate: int, chunk_ms: int) -> int:
    """Bytes of PCM s16le in one chunk of ``chunk_ms`` at ``sample_rate`` (at least 2)."""
    return max(2, int(sample_rate * max(chunk_ms, 1) / 1000) * 2)


class Pacer:
    """Holds each chunk back until the latency model says it is ready."""

    def __init__(self, latency: LatencyModel) -> None:
        self._loop = asyncio.get_running_loop()
        self._start = self._loop.time() + latency.first_chunk_ms / 1000
        self._rtf = latency.realtime_factor
        self._audio = 0.0

    async def wait(self, chunk_seconds: float) -> None:
        """Wait until the next chunk (``chunk_seconds`` long) is due, then account for it."""
        due = self._start + self._audio * self._rtf
        self._audio += chunk_seconds
        delay = due - self._loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
