"""Typed, self-validating synthesis options and the value sets they draw from.

What lives here: :class:`TTSOptions` (checked on construction, before any network call),
the ``Literal`` aliases and allowed-value tuples for models, languages, sample rates and
output formats (docs/protocol.md §2), the model-spelling helper :func:`catalog_model` (§1),
and :func:`validate_request_id`. What must not: JSON field names or frame layout (those
are wire literals and live in :mod:`smallest_core.codec`), voice catalogs (they change;
ask the voices API), and any I/O.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, TypeVar, get_args

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

from .errors import InvalidOptionError

__all__ = [
    "LANGUAGES",
    "MODELS",
    "OUTPUT_FORMATS",
    "SAMPLE_RATES",
    "Language",
    "Model",
    "OutputFormat",
    "SampleRate",
    "TTSOptions",
    "catalog_model",
    "check_text",
    "default_voice",
    "follow_on_request_id",
    "language_code",
    "validate_request_id",
]

#: TTS body spelling (underscores). The voice catalog and cloning use hyphens (§1).
Model = Literal["lightning_v3.1", "lightning_v3.1_pro"]
#: §2 ``language`` enum, 31 codes plus ``auto`` (restored 2026-07-21, §9.9).
Language = Literal[
    "auto", "en", "hi", "mr", "kn", "ta", "bn", "gu", "te", "ml", "pa", "or", "es", "de",
    "fr", "it", "nl", "sv", "pt", "ru", "el", "fi", "no", "pl", "ar", "zh", "id", "ja",
    "ko", "ms", "tr", "vi",
]  # fmt: skip
#: HTTP/SSE only; WebSocket audio is always PCM s16le (§9.7).
OutputFormat = Literal["pcm", "mp3", "wav", "ulaw", "alaw"]
SampleRate = Literal[8000, 16000, 24000, 44100]

MODELS: tuple[Model, ...] = get_args(Model)
LANGUAGES: tuple[Language, ...] = get_args(Language)
OUTPUT_FORMATS: tuple[OutputFormat, ...] = get_args(OutputFormat)
SAMPLE_RATES: tuple[SampleRate, ...] = get_args(SampleRate)

# Numeric ranges, inclusive (§2, §5.2, §12).
SPEED_RANGE = (0.5, 2.0)
MAX_BUFFER_FLUSH_MS_RANGE = (0, 1000)
COMPLETE_BACKOFF_MS_RANGE = (0, 10000)
MAX_BUFFER_DELAY_MS_RANGE = (0, 5000)
#: §2: ``session_id``/``request_id`` (and §12 ``context_id``) charset and length.
ID_MAX_CHARS = 128
_ID_RE = re.compile(r"[A-Za-z0-9_.\-]+")
_ID_ALLOWED = f"1-{ID_MAX_CHARS} characters from A-Z a-z 0-9 _ - ."

_CATALOG_SPELLING: dict[str, str] = {m: m.replace("_", "-") for m in MODELS}


def _allowed(values: tuple[Any, ...]) -> str:
    return ", ".join(str(v) for v in values)


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _choice(name: str, value: object, allowed: tuple[Any, ...], kind: type) -> None:
    # ``type`` check first: 8000.0 == 8000 and True == 1 must not slip through.
    if not isinstance(value, kind) or isinstance(value, bool) or value not in allowed:
        raise InvalidOptionError(name, value, _allowed(allowed))


def _number(name: str, value: Any, bounds: tuple[float, float], *, integer: bool = False) -> None:
    lo, hi = bounds
    what = "an integer" if integer else "a number"
    if not (_is_int(value) if integer else _is_number(value)):
        raise InvalidOptionError(name, value, f"{what} in {lo}..{hi}", problem=f"is not {what}")
    if not math.isfinite(value) or not lo <= value <= hi:
        raise InvalidOptionError(name, value, f"{lo}..{hi}", problem="is out of range")


def _flag(name: str, value: object, *, optional: bool = False) -> None:
    if not (isinstance(value, bool) or (optional and value is None)):
        raise InvalidOptionError(
            name, value, "True, False" + (", None" if optional else ""), problem="is not a bool"
        )


def validate_request_id(rid: object, *, field: str = "request_id") -> str:
    """Check a client correlation id (``request_id``, ``session_id``, ``context_id``).

    The server echoes these ids on every frame (§5.2) and rejects ids outside the §2
    pattern ``^[a-zA-Z0-9_\\-.]+$`` / 128 characters, so we check them locally first.

    Returns:
        ``rid`` unchanged.

    Raises:
        InvalidOptionError: naming ``field``, the value and the allowed charset.
    """
    if not isinstance(rid, str) or not rid:
        raise InvalidOptionError(field, rid, _ID_ALLOWED, problem="is not a non-empty str")
    if len(rid) > ID_MAX_CHARS:
        raise InvalidOptionError(field, rid, _ID_ALLOWED, problem=f"is {len(rid)} characters")
    if not _ID_RE.fullmatch(rid):
        raise InvalidOptionError(field, rid, _ID_ALLOWED, problem="has characters not allowed")
    return rid


def follow_on_request_id(request_id: str, n: int) -> str:
    """The id of the ``n``-th request made for one caller id (``n`` counts from 1).

    A request id may be used once per socket (a retry must go elsewhere, §12); a caller
    that has to start over on its own (a context whose request failed after audio was
    played, so the core could not replay it) sends ``request_id`` first, then
    ``request_id.2``, ``request_id.3``...: server logs still show which caller they
    belong to. Long ids keep their tail, so the result stays within 128 characters.

    Raises:
        InvalidOptionError: ``request_id`` breaks the §2 pattern, or ``n`` < 1.
    """
    validate_request_id(request_id)
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise InvalidOptionError("n", n, "an integer >= 1")
    if n == 1:
        return request_id
    suffix = f".{n}"
    return request_id[-(ID_MAX_CHARS - len(suffix)) :] + suffix


def language_code(language: object) -> object:
    """A regional tag (``en-US``, ``hi_IN``, or an enum whose ``value`` is one) as the
    §2 code (``en``, ``hi``); other values are returned unchanged, for
    :class:`TTSOptions` to reject with a message naming the allowed codes."""
    value = getattr(language, "value", language)
    if isinstance(value, str):
        base = value.replace("_", "-").split("-")[0].lower()
        if base in LANGUAGES:
            return base
    return language


#: The voice each model speaks with when none is named (the official integrations' choice).
_DEFAULT_VOICES: dict[str, str] = {"lightning_v3.1": "sophia", "lightning_v3.1_pro": "meher"}


def default_voice(model: str) -> str:
    """The voice of ``model`` used when no ``voice_id`` is given: ``meher`` for
    ``lightning_v3.1_pro`` (Pro voices need the Pro model), ``sophia`` for
    ``lightning_v3.1`` — as the official LiveKit and Pipecat integrations pick it.

    Raises:
        InvalidOptionError: ``model`` is not a TTS model (underscore spelling).
    """
    if model not in _DEFAULT_VOICES:
        raise InvalidOptionError("model", model, _allowed(MODELS))
    return _DEFAULT_VOICES[model]


def catalog_model(model: str) -> str:
    """The catalog/cloning spelling of a model: ``lightning_v3.1_pro`` → ``lightning-v3.1-pro``.

    TTS bodies use underscores, the catalog and cloning routes hyphens (docs/protocol.md §1);
    either spelling is accepted here so callers never have to remember which is which.

    Raises:
        InvalidOptionError: ``model`` is neither spelling of a known model.
    """
    if model in _CATALOG_SPELLING:
        return _CATALOG_SPELLING[model]
    if model in _CATALOG_SPELLING.values():
        return model
    raise InvalidOptionError(
        "model", model, _allowed((*_CATALOG_SPELLING, *_CATALOG_SPELLING.values()))
    )


@dataclass(frozen=True, slots=True, kw_only=True)
class TTSOptions:
    """Synthesis options, validated when built so bad values fail before any network call.

    Each utterance takes its own copy (``options.replace(...)``), so changing the
    defaults never affects an utterance already in flight. Values go on the wire as
    described in docs/protocol.md §2 (all transports), §5.2 (WebSocket flush mode) and §12
    (continuations); ``None`` means "omit the field, let the server decide".

    Attributes:
        model: ``lightning_v3.1`` or ``lightning_v3.1_pro`` (underscore spelling, §1).
        voice_id: a voice of that model's catalog (not checked locally; §2 says a
            mismatched voice is not rejected by the server either).
        sample_rate: 8000, 16000, 24000 or 44100 Hz.
        speed: 0.5 to 2.0.
        language: a §2 language code or ``auto``; None omits it (Pro then mixes en+hi).
        number_pronunciation_language: language used to read numbers; None omits it.
        math_notation: read digit-flanked operators as words; None omits it.
        word_timestamps: ask for ``word_timestamp`` frames (WebSocket only, §5.3).
        output_format: HTTP/SSE body format; WebSocket audio is always PCM (§9.7).
        pronunciation_dicts: ids of pronunciation dictionaries (§7).
        max_buffer_flush_ms: flush mode: longest wait for more text before speaking
            (0-1000; None omits it, server default 0 = no timer, §9.3).
        complete_backoff_ms: quiet time after the last chunk before ``complete``
            (0-10000). The server default is 4000; we send a small value (§5.4) so an
            utterance ends promptly once its audio is out.
        max_buffer_delay_ms: continuations: longest hold of text waiting for a sentence
            boundary (0-5000; None omits it, server default 3000, §12).
        session_id: client session id echoed as ``external_session_id``.

    Raises:
        InvalidOptionError: naming the field, the bad value and the allowed values.
    """

    model: Model = "lightning_v3.1_pro"
    voice_id: str = "meher"
    sample_rate: SampleRate = 24000
    speed: float = 1.0
    language: Language | None = "en"
    number_pronunciation_language: Language | None = None
    math_notation: bool | None = None
    word_timestamps: bool = False
    output_format: OutputFormat = "pcm"
    pronunciation_dicts: tuple[str, ...] = ()
    max_buffer_flush_ms: int | None = None
    complete_backoff_ms: float = 50
    max_buffer_delay_ms: int | None = None
    session_id: str | None = None

    def __post_init__(self) -> None:
        _choice("model", self.model, MODELS, str)
        if not isinstance(self.voice_id, str) or not self.voice_id.strip():
            raise InvalidOptionError(
                "voice_id", self.voice_id, "a non-empty voice id (see the voices API)"
            )
        _choice("sample_rate", self.sample_rate, SAMPLE_RATES, int)
        _number("speed", self.speed, SPEED_RANGE)
        object.__setattr__(self, "speed", float(self.speed))
        for name in ("language", "number_pronunciation_language"):
            value = getattr(self, name)
            if value is not None:
                _choice(name, value, LANGUAGES, str)
        _flag("math_notation", self.math_notation, optional=True)
        _flag("word_timestamps", self.word_timestamps)
        _choice("output_format", self.output_format, OUTPUT_FORMATS, str)
        dicts = self.pronunciation_dicts
        if not isinstance(dicts, tuple | list) or not all(
            isinstance(d, str) and d.strip() for d in dicts
        ):
            raise InvalidOptionError(
                "pronunciation_dicts", dicts, "a tuple of non-empty dictionary ids"
            )
        object.__setattr__(self, "pronunciation_dicts", tuple(dicts))
        if self.max_buffer_flush_ms is not None:
            _number(
                "max_buffer_flush_ms",
                self.max_buffer_flush_ms,
                MAX_BUFFER_FLUSH_MS_RANGE,
                integer=True,
            )
        _number("complete_backoff_ms", self.complete_backoff_ms, COMPLETE_BACKOFF_MS_RANGE)
        if self.max_buffer_delay_ms is not None:
            _number(
                "max_buffer_delay_ms",
                self.max_buffer_delay_ms,
                MAX_BUFFER_DELAY_MS_RANGE,
                integer=True,
            )
        if self.session_id is not None:
            validate_request_id(self.session_id, field="session_id")

    def replace(self, **changes: Any) -> TTSOptions:
        """A validated copy with ``changes`` applied (the original is untouched).

        Raises:
            InvalidOptionError: an unknown field name, or a bad value.
        """
        return replaced(self, changes)


_Options = TypeVar("_Options", bound="DataclassInstance")


def replaced(options: _Options, changes: Mapping[str, Any]) -> _Options:
    """A copy of an options dataclass with ``changes`` applied and validated again (its
    ``__post_init__`` runs); a name that is not a field is refused, naming the fields.

    Raises:
        InvalidOptionError: an unknown field name, or a bad value.
    """
    names = tuple(f.name for f in dataclasses.fields(options))
    for name in changes:
        if name not in names:
            raise InvalidOptionError(
                name, changes[name], _allowed(names), problem="is not an option"
            )
    return dataclasses.replace(options, **changes)


def check_text(text: object) -> str:
    """``text`` as the API takes it: a ``str`` of valid Unicode.

    A lone surrogate (``"\\ud800"``, which an LLM's broken token can produce) cannot be
    carried as UTF-8; it is refused here, before any network, rather than by the server
    mid-utterance.

    Raises:
        InvalidOptionError: not a str, or a lone surrogate (names ``text`` and where).
    """
    if not isinstance(text, str):
        raise InvalidOptionError("text", text, "a str", problem="is not a str")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise InvalidOptionError(
            "text",
            f"<lone surrogate at index {exc.start}>",
            "valid Unicode text (no lone surrogates U+D800-U+DFFF)",
            problem="cannot be sent",
        ) from None
    return text
