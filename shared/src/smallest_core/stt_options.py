"""Typed, self-validating speech-to-text options and the value sets they draw from.

What lives here: :class:`STTOptions` (checked on construction, before any network call),
the ``Literal`` aliases and allowed-value tuples for Pulse models, languages, sample rates
and encodings (``docs/stt.md`` §1.2-§1.6), and the per-transport checks
:meth:`STTOptions.check_streaming` / :meth:`STTOptions.check_batch`. What must not:
query-parameter names or frame layout (wire literals: :mod:`smallest_core.stt_wire`,
built into a query by :mod:`smallest_core.stt_codec`), and any I/O.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, get_args

from .errors import InvalidOptionError
from .options import _allowed, _choice, _flag, _number, replaced, validate_request_id

__all__ = [
    "BATCH_LANGUAGES",
    "STREAMING_LANGUAGES",
    "STT_ENCODINGS",
    "STT_LANGUAGES",
    "STT_MODELS",
    "STT_SAMPLE_RATES",
    "STTEncoding",
    "STTLanguage",
    "STTModel",
    "STTOptions",
    "STTSampleRate",
]

#: §1.3: ``pulse`` streams and transcribes files; ``pulse-pro`` is batch-only, English-only.
STTModel = Literal["pulse", "pulse-pro"]
#: §1.4 streaming codes, the three regional aggregators, and ``multi`` (full auto-detect:
#: accepted live, dropped from the docs 2026-07; LiveKit still recommends it).
StreamingLanguage = Literal[
    "en", "hi", "de", "es", "ru", "it", "fr", "nl", "pt", "zh", "yue", "ja", "ko", "gu",
    "mr", "or", "bn", "ta", "te", "kn", "ml", "north_indic", "multi-asian",
    "multi-south-indic", "multi",
]  # fmt: skip
#: §1.4 batch codes and aggregators (``multi-indic``: India host only).
BatchLanguage = Literal[
    "en", "hi", "de", "es", "ru", "it", "fr", "nl", "pt", "uk", "pl", "cs", "sk", "lv",
    "et", "ro", "fi", "sv", "bg", "hu", "da", "lt", "mt", "zh", "ja", "ko", "multi-eu",
    "multi-asian", "multi-indic",
]  # fmt: skip
STTLanguage = StreamingLanguage | BatchLanguage
#: §1.2: the audio must really be at this rate; the server does not resample.
STTSampleRate = Literal[8000, 16000, 22050, 24000, 44100, 48000]
#: §1.5: raw PCM (16/32-bit little-endian), G.711 (8-bit), raw Opus, Ogg Opus.
STTEncoding = Literal["linear16", "linear32", "alaw", "mulaw", "opus", "ogg_opus"]

STT_MODELS: tuple[STTModel, ...] = get_args(STTModel)
STREAMING_LANGUAGES: tuple[str, ...] = get_args(StreamingLanguage)
BATCH_LANGUAGES: tuple[str, ...] = get_args(BatchLanguage)
STT_LANGUAGES: tuple[str, ...] = tuple(dict.fromkeys(STREAMING_LANGUAGES + BATCH_LANGUAGES))
STT_SAMPLE_RATES: tuple[STTSampleRate, ...] = get_args(STTSampleRate)
STT_ENCODINGS: tuple[STTEncoding, ...] = get_args(STTEncoding)

#: Bytes per sample of the encodings whose duration follows from their length; Opus
#: frames carry their own timing, so a byte count says nothing about seconds.
SAMPLE_WIDTH: dict[str, int] = {"linear16": 2, "linear32": 4, "alaw": 1, "mulaw": 1}

# Numeric ranges, inclusive.
EOU_TIMEOUT_MS_RANGE = (100, 10000)  # §1.2
ENDPOINTING_TIMEOUT_MS_RANGE = (100, 10000)  # §1.2 (LiveKit sends 300; server default 600)
MAX_WORDS_RANGE = (1, 10000)
#: D14: boost default 1.0; older texts allow up to 20 (values above 5 hallucinate).
KEYWORD_BOOST_RANGE = (0.0, 20.0)
MAX_KEYWORDS = 10_000  # D14
_KEYWORD_ALLOWED = "non-empty terms without ',' or ':' (boost 0 < b <= 20)"


def _keywords(value: object) -> tuple[tuple[str, float], ...]:
    """Normalise ``keywords`` to ``((term, boost), ...)``; see :class:`STTOptions`."""
    items: list[Any]
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, tuple | list):
        items = list(value)
    else:
        raise InvalidOptionError(
            "keywords", value, "a tuple of terms or (term, boost) pairs, or a {term: boost} map"
        )
    if len(items) > MAX_KEYWORDS:
        raise InvalidOptionError(
            "keywords", f"<{len(items)} terms>", f"at most {MAX_KEYWORDS} terms"
        )
    out: list[tuple[str, float]] = []
    for item in items:
        term, boost = (item, 1.0) if isinstance(item, str) else (item, None)
        if not isinstance(item, str):
            if not isinstance(item, tuple | list) or len(item) != 2:
                raise InvalidOptionError("keywords", item, _KEYWORD_ALLOWED)
            term, boost = item
        # The query carries ``term:boost`` joined by commas (§1.2): either character
        # inside a term would split it on the server.
        if not isinstance(term, str) or not term.strip() or "," in term or ":" in term:
            raise InvalidOptionError("keywords", term, _KEYWORD_ALLOWED)
        if (
            isinstance(boost, bool)
            or not isinstance(boost, int | float)
            or not math.isfinite(boost)
            or not KEYWORD_BOOST_RANGE[0] < boost <= KEYWORD_BOOST_RANGE[1]
        ):
            raise InvalidOptionError(f"keywords[{term!r}]", boost, "0 < boost <= 20")
        out.append((term.strip(), float(boost)))
    return tuple(out)


@dataclass(frozen=True, slots=True, kw_only=True)
class STTOptions:
    """Transcription options, validated when built so bad values fail before any network.

    One set of options serves the streaming session and the batch call; each transport
    also checks what only it cannot take (:meth:`check_streaming`, :meth:`check_batch`).
    Values go on the query string as ``docs/stt.md`` §1.2/§1.6 describes; booleans are
    always sent explicitly (D6: the defaults differ between paths), ``None`` omits a
    parameter so the server default applies.

    Attributes:
        model: ``pulse`` (streaming and batch) or ``pulse-pro`` (batch, English only).
        language: a §1.4 code or aggregator (``multi``, ``multi-eu``, ``multi-asian``...).
            Finals may still report another detected code.
        sample_rate: the audio's real rate in Hz (§1.5: no resampling server-side).
        encoding: ``linear16`` (PCM s16le, the default), ``linear32``, ``alaw``,
            ``mulaw``, ``opus`` or ``ogg_opus``.
        word_timestamps: words with start/end/confidence on finals.
        sentence_timestamps: ``utterances`` with start/end on finals.
        diarize: a speaker per word.
        format: punctuation, capitalisation and ITN master switch (false forces them off).
        punctuate, capitalize: fine-tuning under ``format``; None omits them.
        itn_normalize: spoken → written numbers and dates, on finals only.
        keywords: terms to boost: ``("Smallest", ("Pulse", 2.0))`` or ``{"Pulse": 2.0}``;
            stored as ``((term, boost), ...)``, boost 1.0 when not given.
        redact_pii, redact_pci: placeholders such as ``[FIRSTNAME_1]`` in finals.
        endpointing: cut a final on trailing silence (server default on).
        endpointing_timeout_ms: the server VAD's silence window; None omits it.
        vad_events: ``speech_started`` / ``speech_ended`` events.
        eou_timeout_ms: the end-of-utterance silence timer (100-10000); None omits it.
        finalize_on_words: word-count rollover of finals; None omits it (server: on).
        max_words: force a final after this many words; None omits it.
        session_id: sent as ``external_session_id`` (analytics; never echoed).

    Raises:
        InvalidOptionError: naming the field, the bad value and the allowed values.
    """

    model: STTModel = "pulse"
    language: STTLanguage = "en"
    sample_rate: STTSampleRate = 16000
    encoding: STTEncoding = "linear16"
    word_timestamps: bool = True
    sentence_timestamps: bool = False
    diarize: bool = False
    format: bool = True
    punctuate: bool | None = None
    capitalize: bool | None = None
    itn_normalize: bool = False
    keywords: tuple[tuple[str, float], ...] = ()
    redact_pii: bool = False
    redact_pci: bool = False
    endpointing: bool = True
    endpointing_timeout_ms: int | None = None
    vad_events: bool = True
    eou_timeout_ms: int | None = None
    finalize_on_words: bool | None = None
    max_words: int | None = None
    session_id: str | None = None

    def __post_init__(self) -> None:
        _choice("model", self.model, STT_MODELS, str)
        _choice("language", self.language, STT_LANGUAGES, str)
        _choice("sample_rate", self.sample_rate, STT_SAMPLE_RATES, int)
        _choice("encoding", self.encoding, STT_ENCODINGS, str)
        for name in (
            "word_timestamps",
            "sentence_timestamps",
            "diarize",
            "format",
            "itn_normalize",
            "redact_pii",
            "redact_pci",
            "endpointing",
            "vad_events",
        ):
            _flag(name, getattr(self, name))
        for name in ("punctuate", "capitalize", "finalize_on_words"):
            _flag(name, getattr(self, name), optional=True)
        object.__setattr__(self, "keywords", _keywords(self.keywords))
        for name, bounds in (
            ("endpointing_timeout_ms", ENDPOINTING_TIMEOUT_MS_RANGE),
            ("eou_timeout_ms", EOU_TIMEOUT_MS_RANGE),
            ("max_words", MAX_WORDS_RANGE),
        ):
            value = getattr(self, name)
            if value is not None:
                _number(name, value, bounds, integer=True)
        if self.session_id is not None:
            validate_request_id(self.session_id, field="session_id")

    @property
    def sample_width(self) -> int | None:
        """Bytes per sample of the encoding; None for Opus (its length is not its duration)."""
        return SAMPLE_WIDTH.get(self.encoding)

    def seconds(self, n_bytes: int) -> float | None:
        """Seconds of audio in ``n_bytes`` of this encoding (None for Opus)."""
        width = self.sample_width
        return None if width is None else n_bytes // width / self.sample_rate

    def check_streaming(self) -> STTOptions:
        """These options as a streaming session takes them (§1.3, §1.4).

        Returns:
            ``self``.

        Raises:
            InvalidOptionError: ``model`` has no streaming transport (``pulse-pro``), or
                ``language`` is batch-only.
        """
        if self.model != "pulse":
            raise InvalidOptionError(
                "model", self.model, "pulse", problem="has no streaming transport"
            )
        if self.language not in STREAMING_LANGUAGES:
            raise InvalidOptionError(
                "language",
                self.language,
                _allowed(STREAMING_LANGUAGES),
                problem="is not available for streaming",
            )
        return self

    def check_batch(self) -> STTOptions:
        """These options as ``POST /stt/`` takes them (§1.3, §1.4, §1.6).

        Returns:
            ``self``.

        Raises:
            InvalidOptionError: ``language`` is streaming-only, or ``pulse-pro`` with a
                language other than ``en``.
        """
        if self.language not in BATCH_LANGUAGES:
            raise InvalidOptionError(
                "language",
                self.language,
                _allowed(BATCH_LANGUAGES),
                problem="is not available for batch transcription",
            )
        if self.model == "pulse-pro" and self.language != "en":
            raise InvalidOptionError(
                "language", self.language, "en", problem="is not available with pulse-pro"
            )
        return self

    def replace(self, **changes: Any) -> STTOptions:
        """A validated copy with ``changes`` applied (the original is untouched).

        Raises:
            InvalidOptionError: an unknown field name, or a bad value.
        """
        return replaced(self, changes)
