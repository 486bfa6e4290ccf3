"""Smallest AI speech for LangChain, on the shared ``smallest_core`` client.

* Tools an agent can call: :class:`SmallestTextToSpeechTool`,
  :class:`SmallestListVoicesTool`, :class:`SmallestCloneVoiceTool`, bundled by
  :class:`SmallestToolkit` (content for the model, audio and records as artifacts).
* :class:`SmallestSpeechToTextTool` (in the toolkit too): a recording's transcript as
  content, the :class:`~smallest_core.Transcription` as artifact.
* :class:`SmallestAudioLoader`: audio files as ``Document``s of their transcripts.
* :class:`SmallestSpeech`, a Runnable that speaks a chat model's stream while it is
  still being written: ``chat_model | SmallestSpeech()``.
"""

from .document_loaders import SmallestAudioLoader
from .runnables import SmallestSpeech, SpeechInput
from .stt import SmallestSpeechToTextTool, SpeechToTextInput
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
    "SmallestAudioLoader",
    "SmallestCloneVoiceTool",
    "SmallestListVoicesTool",
    "SmallestSpeech",
    "SmallestSpeechToTextTool",
    "SmallestTextToSpeechTool",
    "SmallestToolkit",
    "SpeechAudio",
    "SpeechInput",
    "SpeechToTextInput",
    "TextToSpeechInput",
    "__version__",
]
