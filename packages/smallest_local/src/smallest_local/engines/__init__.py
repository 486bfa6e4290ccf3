"""Speech engines by name: TTS (``espeak``, ``tone``), STT (``pocketsphinx``, ``tone``)."""

from __future__ import annotations

from smallest_local.engines.base import Engine, Synthesis, WordTiming
from smallest_local.engines.espeak import EspeakEngine
from smallest_local.engines.recognizer import RecognizedWord, Recognizer, RecognizerStream
from smallest_local.engines.stt_tone import ToneRecognizer, tone_word
from smallest_local.engines.tone import ToneEngine, decode_tone, describe, tag_value

__all__ = [
    "ENGINE_NAMES",
    "RECOGNIZER_NAMES",
    "Engine",
    "EspeakEngine",
    "RecognizedWord",
    "Recognizer",
    "RecognizerStream",
    "Synthesis",
    "ToneEngine",
    "ToneRecognizer",
    "WordTiming",
    "decode_tone",
    "describe",
    "get_engine",
    "get_recognizer",
    "tag_value",
    "tone_word",
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


#: The names ``get_recognizer`` accepts.
RECOGNIZER_NAMES: tuple[str, ...] = ("pocketsphinx", "tone")


def get_recognizer(name: str) -> Recognizer:
    """A new speech-to-text engine by name (pocketsphinx is imported only when asked for).

    Raises:
        ValueError: ``name`` is not one of ``RECOGNIZER_NAMES``.
    """
    if name == "pocketsphinx":
        from smallest_local.engines.sphinx import PocketsphinxRecognizer

        return PocketsphinxRecognizer()
    if name == "tone":
        return ToneRecognizer()
    raise ValueError(f"unknown STT engine {name!r}; allowed: {', '.join(RECOGNIZER_NAMES)}")
