"""Smallest AI text-to-speech for Pipecat, on the shared ``smallest_core`` client.

``SmallestTTSService`` streams over a pooled WebSocket; ``SmallestHttpTTSService``
synthesizes over HTTP. Both take ``settings=SmallestTTSService.Settings(...)``.
"""

from .tts import SmallestHttpTTSService, SmallestTTSService, SmallestTTSSettings
from .version import __version__

__all__ = ["SmallestHttpTTSService", "SmallestTTSService", "SmallestTTSSettings", "__version__"]
