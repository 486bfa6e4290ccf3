"""Smallest AI speech for Pipecat, on the shared ``smallest_core`` client.

Text-to-speech: ``SmallestTTSService`` streams over a pooled WebSocket;
``SmallestHttpTTSService`` synthesizes over HTTP. Speech-to-text: ``SmallestSTTService``
streams Pulse; ``SmallestHttpSTTService`` transcribes each VAD segment over HTTP. Each
takes ``settings=<Service>.Settings(...)``.
"""

from .http_tts import SmallestHttpTTSService
from .stt import SmallestHttpSTTService, SmallestSTTService, SmallestSTTSettings
from .tts import SmallestTTSService, SmallestTTSSettings
from .version import __version__

__all__ = [
    "SmallestHttpSTTService",
    "SmallestHttpTTSService",
    "SmallestSTTService",
    "SmallestSTTSettings",
    "SmallestTTSService",
    "SmallestTTSSettings",
    "__version__",
]
