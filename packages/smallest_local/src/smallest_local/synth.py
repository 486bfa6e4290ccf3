"""Turning one validated request's text into paced chunks: shared by HTTP, SSE and WS.

The engine renders the whole text at once (espeak runs ~1000x real time); the latency
model then decides when each chunk may leave: ``first_chunk_ms`` after the request,
then ``realtime_factor`` x the audio already sent.
"""

from __future__ import annotations

import asyncio
import re

from .config import LatencyModel
from .engines import Synthesis, ToneEngine
from .state import ServerState
from .wire import TTSRequest

__all__ = ["Pacer", "apply_dictionaries", "render", "split_chunks"]


def apply_dictionaries(state: ServerState, text: str, dict_ids: tuple[str, ...]) -> str:
    """Replace whole words by their pronunciations from the requested dictionaries (§7)."""
    if not dict_ids or state.store is None:
        return text
    for word, pronunciation in state.store.dict_items(list(dict_ids)):
        text = re.sub(rf"(?<!\w){re.escape(word)}(?!\w)", pronunciation, text, flags=re.IGNORECASE)
    return text


async def render(
    state: ServerState, text: str, req: TTSRequest, tag: str, *, samples_before: int = 0
) -> Synthesis:
    """Synthesize ``text`` with the request's voice, rate, speed and language.

    ``samples_before``: audio this request already produced (earlier releases), so the
    tone engine's counter continues across releases.
    """
    spoken = apply_dictionaries(state, text, req.pronunciation_dicts)
    kwargs = {
        "voice_id": req.voice_id,
        "sample_rate": req.sample_rate,
        "speed": req.speed,
        "language": req.language,
        "tag": tag,
    }
    if isinstance(state.engine, ToneEngine):  # microseconds: a thread hop would cost more
        return state.engine.synthesize(spoken, first_pair=samples_before // 2, **kwargs)  # type: ignore[arg-type]
    return await asyncio.to_thread(state.engine.synthesize, spoken, **kwargs)  # type: ignore[arg-type]


def split_chunks(pcm: bytes, sample_rate: int, chunk_ms: int) -> list[bytes]:
    """Cut PCM s16le into chunks of ``chunk_ms`` of audio (the last one may be shorter)."""
    size = max(2, int(sample_rate * max(chunk_ms, 1) / 1000) * 2)
    return [pcm[i : i + size] for i in range(0, len(pcm), size)]


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
