"""Smallest AI text-to-speech for LiveKit Agents, built on ``smallest_core``.

``livekit_smallest.TTS`` streams LLM replies over pooled WebSockets (one utterance per
segment, cancelled in place on barge-in) and synthesizes whole texts over HTTP in any
output format.
"""

from livekit.agents import Plugin

from .log import logger
from .tts import TTS, ChunkedStream, SynthesizeStream
from .version import __version__

__all__ = ["TTS", "ChunkedStream", "SynthesizeStream", "__version__"]


class SmallestPlugin(Plugin):
    """Registers the package with LiveKit (name, version, logger)."""

    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__, logger)


Plugin.register_plugin(SmallestPlugin())
