"""Shared streaming client core for the Smallest AI Waves TTS and Pulse STT APIs.

Three layers, each usable alone:

* protocol (sans-I/O): :class:`TTSOptions`, the events (:class:`AudioChunk`,
  :class:`WordTimestamp`, :class:`Complete`, :class:`ErrorEvent`), :class:`Protocol`
  and the error taxonomy rooted at :class:`SmallestError`; for speech-to-text
  :class:`STTOptions`, :class:`STTProtocol` and its events (:class:`InterimTranscript`,
  :class:`FinalTranscript`, :class:`SpeechStarted`, :class:`SpeechEnded`);
* transport (asyncio): :class:`StreamConnection` + :class:`Utterance` over one
  WebSocket, :class:`ConnectionPool`, :class:`RetryPolicy`, :class:`Transcriber` (a
  streaming transcription), and the REST clients :class:`AsyncRestClient` /
  :class:`RestClient` (synthesis, batch ``transcribe``);
* helpers: :class:`SentenceSegmenter`, audio conversions, :class:`UtteranceMetrics`,
  :class:`STTMetrics`, :func:`redact`.

Adapters import from here only; the modules behind it are implementation detail.
"""

from .audio import (
    Rechunker,
    alaw_decode,
    alaw_encode,
    decode_to_pcm,
    mp3_info,
    pcm_duration,
    pcm_to_wav,
    ulaw_decode,
    ulaw_encode,
    wav_header,
    wav_to_pcm,
)
from .audio import duration as audio_duration
from .classify import error_from_close, error_from_frame, error_from_status
from .connection import StreamConnection
from .errors import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidState,
    ModelDeprecatedError,
    PermissionDeniedError,
    PlanNotEntitledError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SmallestError,
    TranscriptionLostError,
)
from .events import AudioChunk, Complete, ErrorEvent, Event, WordTimestamp
from .metrics import STTMetrics, UtteranceMetrics
from .options import Language, Model, OutputFormat, SampleRate, TTSOptions, catalog_model
from .pool import ConnectionPool
from .protocol import EndRule, Mode, Protocol
from .redact import redact
from .rest import AsyncRestClient, ClonedVoice, PronunciationDictionary, RestClient, Voice
from .retry import RetryPolicy
from .segment import MAX_CHUNK_CHARS, SentenceSegmenter, split_text
from .state import UtteranceState
from .stt_events import (
    FinalTranscript,
    InterimTranscript,
    Segment,
    SpeechEnded,
    SpeechStarted,
    STTEvent,
    Transcription,
    Word,
)
from .stt_options import STTEncoding, STTLanguage, STTModel, STTOptions, STTSampleRate
from .stt_protocol import STTProtocol, STTState
from .stt_stream import Transcriber
from .utterance import Utterance
from .wire import API_KEY_ENV, BASE_URL_ENV, DEFAULT_HTTP_BASE, DEFAULT_WS_BASE

__version__ = "0.1.0"

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "DEFAULT_HTTP_BASE",
    "DEFAULT_WS_BASE",
    "MAX_CHUNK_CHARS",
    "AsyncRestClient",
    "AudioChunk",
    "AuthenticationError",
    "ClonedVoice",
    "Complete",
    "ConnectionLostError",
    "ConnectionPool",
    "EndRule",
    "ErrorEvent",
    "Event",
    "FinalTranscript",
    "InterimTranscript",
    "InvalidOptionError",
    "InvalidRequestError",
    "InvalidState",
    "Language",
    "Mode",
    "Model",
    "ModelDeprecatedError",
    "OutputFormat",
    "PermissionDeniedError",
    "PlanNotEntitledError",
    "PronunciationDictionary",
    "Protocol",
    "ProtocolError",
    "RateLimitError",
    "Rechunker",
    "RequestTimeoutError",
    "RestClient",
    "RetryPolicy",
    "STTEncoding",
    "STTEvent",
    "STTLanguage",
    "STTMetrics",
    "STTModel",
    "STTOptions",
    "STTProtocol",
    "STTSampleRate",
    "STTState",
    "SampleRate",
    "Segment",
    "SentenceSegmenter",
    "ServerError",
    "SmallestError",
    "SpeechEnded",
    "SpeechStarted",
    "StreamConnection",
    "TTSOptions",
    "Transcriber",
    "Transcription",
    "TranscriptionLostError",
    "Utterance",
    "UtteranceMetrics",
    "UtteranceState",
    "Voice",
    "Word",
    "WordTimestamp",
    "__version__",
    "alaw_decode",
    "alaw_encode",
    "audio_duration",
    "catalog_model",
    "decode_to_pcm",
    "error_from_close",
    "error_from_frame",
    "error_from_status",
    "mp3_info",
    "pcm_duration",
    "pcm_to_wav",
    "redact",
    "split_text",
    "ulaw_decode",
    "ulaw_encode",
    "wav_header",
    "wav_to_pcm",
]

# Public names report the package, not the private module they live in (as httpx does),
# so reprs, tracebacks and pickles show the path users import from.
for _name in __all__:
    _obj = globals()[_name]
    if isinstance(_obj, type) or (callable(_obj) and hasattr(_obj, "__code__")):
        _obj.__module__ = __name__
del _name, _obj
