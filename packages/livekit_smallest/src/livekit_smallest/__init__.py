"""Smallest AI speech for LiveKit Agents, built on ``smallest_core``.

``livekit_smallest.TTS`` streams LLM replies over pooled WebSockets (one utterance per
segment, cancelled in place on barge-in) and synthesizes whole texts over HTTP in any
output format. ``livekit_smallest.STT`` transcribes with Pulse: a streaming session per
``stream()`` (interim and final transcripts, server VAD events, usage) and batch
``recognize()``.
"""

from livekit.agents import Plugin

from .log import logger
from .stt import STT, SpeechStream
from .tts import TTS, ChunkedStream, SynthesizeStream
from .version import __version__

__all__ = ["STT", "TTS", "ChunkedStream", "SpeechStream", "SynthesizeStream", "__version__"]


class SmallestPlugin(Plugin):
    """Registers the package with LiveKit (name, version, logger)."""

    def __init__(self) -> None:
        super().__init__(__name__, __version__, __package__, logger)


Plugin.register_plugin(SmallestPlugin())
