"""Speech engines behind one interface, chosen by name (``espeak`` or ``tone``)."""

from __future__ import annotations

from smallest_local.engines.base import Engine, Synthesis, WordTiming
from smallest_local.engines.espeak import EspeakEngine
from smallest_local.engines.tone import ToneEngine, decode_tone, describe, tag_value

__all__ = [
    "ENGINE_NAMES",
    "Engine",
    "EspeakEngine",
    "Synthesis",
    "ToneEngine",
    "WordTiming",
    "decode_tone",
    "describe",
    "get_engine",
    "tag_value",
]

#: The names ``get_engine`` accepts.
ENGINE_NAMES: tuple[str, ...] = ("espeak", "tone")


def get_engine(name: str) -> Engine:
    """A new engine by name.

    Raises:
        ValueError: ``name`` is not one of ``ENGINE_NAMES``.
    """
    if name == "espeak":
        return EspeakEngine()
    if name == "tone":
        return ToneEngine()
    raise ValueError(f"unknown engine {name!r}; allowed: {', '.join(ENGINE_NAMES)}")
