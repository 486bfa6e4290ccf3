"""The public surface of smallest_core is exactly this list, and reports the package."""

from __future__ import annotations

import ast
from pathlib import Path

import smallest_core
from tests.support.source import parse

EXPECTED_ALL = {
    # options and protocol (sans-I/O)
    "TTSOptions", "Model", "Language", "OutputFormat", "SampleRate", "catalog_model",
    "default_voice", "follow_on_request_id", "language_code", "TranscriptAligner",
    "mp3_to_pcm", "FINISH_TIMEOUT_S", "finish_timeout_within",
    "Protocol", "Mode", "UtteranceState", "EndRule",
    "AudioChunk", "WordTimestamp", "Complete", "ErrorEvent", "Event",
    # errors
    "SmallestError", "InvalidOptionError", "InvalidState", "AuthenticationError",
    "PermissionDeniedError", "PlanNotEntitledError", "InvalidRequestError",
    "ModelDeprecatedError", "RateLimitError", "ServerError", "ConnectionLostError",
    "ProtocolError", "RequestTimeoutError",
    "error_from_status", "error_from_frame", "error_from_close",
    # transport
    "StreamConnection", "Utterance", "ConnectionPool", "RetryPolicy",
    "AsyncRestClient", "RestClient", "Voice", "ClonedVoice", "PronunciationDictionary",
    "DEFAULT_HTTP_BASE", "DEFAULT_WS_BASE", "API_KEY_ENV", "BASE_URL_ENV",
    # helpers
    "SentenceSegmenter", "split_text", "MAX_CHUNK_CHARS", "UtteranceMetrics", "redact",
    "Rechunker", "pcm_duration", "pcm_to_wav", "wav_header", "wav_to_pcm", "decode_to_pcm",
    "audio_duration", "mp3_info", "ulaw_encode", "ulaw_decode", "alaw_encode", "alaw_decode",
    "__version__",
    # speech-to-text
    "STTOptions", "STTModel", "STTLanguage", "STTSampleRate", "STTEncoding",
    "STTProtocol", "STTState", "STTEvent", "InterimTranscript", "FinalTranscript",
    "SpeechStarted", "SpeechEnded", "Word", "Segment", "Transcription",
    "Transcriber", "STTMetrics", "TranscriptionLostError",
}  # fmt: skip


def test_all_is_pinned():
    assert set(smallest_core.__all__) == EXPECTED_ALL
    assert len(smallest_core.__all__) == len(EXPECTED_ALL)  # no duplicates


def test_public_classes_and_functions_report_the_package():
    for name in smallest_core.__all__:
        obj = getattr(smallest_core, name)
        if isinstance(obj, type) or (callable(obj) and hasattr(obj, "__code__")):
            assert obj.__module__ == "smallest_core", name


def test_timeout_error_is_also_the_builtin():
    assert issubclass(smallest_core.RequestTimeoutError, TimeoutError)


def test_sans_io_modules_do_not_import_the_transports():
    """The protocol layer imports no asyncio, websockets or httpx (style: h11/websockets)."""
    src = Path(smallest_core.__file__).parent
    banned = {"asyncio", "websockets", "httpx"}
    for module in ("options", "codec", "events", "errors", "state", "protocol", "retry",
                   "segment", "audio", "metrics", "redact", "stt_wire", "stt_options",
                   "stt_events", "stt_codec", "stt_protocol"):  # fmt: skip
        tree = parse((src / f"{module}.py").read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name.split(".")[0] for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module.split(".")[0]]
            assert not banned & set(names), (module, names)
