"""Smallest AI speech for LangChain, on the shared ``smallest_core`` client.

* Tools an agent can call: :class:`SmallestTextToSpeechTool`,
  :class:`SmallestListVoicesTool`, :class:`SmallestCloneVoiceTool`, bundled by
  :class:`SmallestToolkit` (content for the model, audio and records as artifacts).
* :class:`SmallestSpeech`, a Runnable that speaks a chat model's stream while it is
  still being written: ``chat_model | SmallestSpeech()``.
"""

from .runnables import SmallestSpeech, SpeechInput
from .toolkits import SmallestToolkit
from .tools import (
    CloneVoiceInput,
    ListVoicesInput,
    SmallestCloneVoiceTool,
    SmallestListVoicesTool,
    SmallestTextToSpeechTool,
    SpeechAudio,
    TextToSpeechInput,
)
from .version import __version__

__all__ = [
    "CloneVoiceInput",
    "ListVoicesInput",
    "SmallestCloneVoiceTool",
    "SmallestListVoicesTool",
    "SmallestSpeech",
    "SmallestTextToSpeechTool",
    "SmallestToolkit",
    "SpeechAudio",
    "SpeechInput",
    "TextToSpeechInput",
    "__version__",
]
