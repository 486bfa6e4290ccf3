"""Real speech from espeak-ng, loaded from the ``espeakng-loader`` wheel through ctypes.

espeak-ng keeps global state (current voice, rate, synth callback), so every call into
the library happens under one module-level lock, and the library is initialised once,
lazily, on first use. Synthesis runs in ``AUDIO_OUTPUT_SYNCHRONOUS`` mode: ``espeak_Synth``
blocks while our callback collects 22050 Hz PCM and WORD events; at roughly 1000× real
time holding the lock costs nothing. The audio is then resampled with ``soxr`` to the
requested rate; word times stay in seconds and need no conversion.

Word timings always cover every whitespace-separated token of the input, verbatim
(``$100``, ``25th``, ``café``...), as docs/protocol.md §5.3 asks. espeak's WORD events do not
map one-to-one onto those tokens: ``text_position`` is a 1-based index in *characters*
(code points, not UTF-8 bytes), numbers yield several events ("2024" → four), and after
some non-ASCII words the positions drift or events go missing. So events are only
anchors: each one is attributed to the token that contains its position, a token
starts at its earliest event, and tokens without an event are placed between their
neighbours in proportion to their length (see ``_align_words``).
"""

from __future__ import annotations

import bisect
import ctypes
import re
import threading
import zlib
from dataclasses import dataclass, field

import espeakng_loader
import numpy as np
import soxr

from smallest_local.engines.base import Synthesis, WordTiming

__all__ = [
    "DEFAULT_VOICE",
    "ENGLISH_VARIANTS",
    "KNOWN_VOICE_IDS",
    "EspeakEngine",
    "espeak_voice",
    "words_per_minute",
]

#: The espeak voice used for well-known Smallest voice ids and English by default.
DEFAULT_VOICE = "en-us"

#: English voices an unknown ``voice_id`` is hashed onto. Measured with pocketsphinx on
#: the easy test sentences at 140 wpm, WER en-us 0.04, +f2 0.20, +m1 0.22; the others
#: tried were worse (en-us-nyc 0.32, +f1 0.40, +f3 0.48, en-gb-x-rp 0.48, en-029 0.86).
ENGLISH_VARIANTS: tuple[str, ...] = ("en-us", "en-us+f2", "en-us+m1")

#: Voice ids from the Smallest docs and catalog; they all get the plain, clearest voice.
KNOWN_VOICE_IDS: frozenset[str] = frozenset(
    {
        "magnus",
        "jordan",
        "daniel",
        "sophia",
        "meher",
        "kaitlyn",
        "sophie",
        "blake",
        "avery",
        "liam",
        "devansh",
        "mishka",
        "kartik",
        "maithili",
    }
)

# Protocol language code → espeak voice, where espeak has one (checked against the
# voices of espeak-ng 1.52 in espeakng-loader 0.2.4). Anything else falls back to English.
_LANGUAGE_VOICES: dict[str, str] = {
    "hi": "hi",
    "mr": "mr",
    "kn": "kn",
    "ta": "ta",
    "bn": "bn",
    "gu": "gu",
    "te": "te",
    "ml": "ml",
    "pa": "pa",
    "or": "or",
    "es": "es",
    "de": "de",
    "fr": "fr",
    "it": "it",
    "nl": "nl",
    "sv": "sv",
    "pt": "pt",
    "ru": "ru",
    "el": "el",
    "fi": "fi",
    "no": "nb",
    "nb": "nb",
    "pl": "pl",
    "ar": "ar",
    "zh": "cmn",
    "id": "id",
    "ja": "ja",
    "ko": "ko",
    "ms": "ms",
    "tr": "tr",
    "vi": "vi",
}

_MIN_WPM, _MAX_WPM, _BASE_WPM = 80, 450, 175

# speak_lib.h constants.
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000  # report errors instead of calling exit()
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_PARAM_RATE = 1
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1
_BUFFER_MS = 100

_TOKEN = re.compile(r"\S+")


class _Event(ctypes.Structure):
    """``espeak_EVENT`` (the ``id`` union is read as its 8-byte string member)."""

    _fields_ = (
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", ctypes.c_char * 8),
    )


_SynthCallback = ctypes.CFUNCTYPE(
    ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int, ctypes.POINTER(_Event)
)


@dataclass(slots=True)
class _Sink:
    """What one ``espeak_Synth`` call produced: PCM pieces and (text_position, sample)."""

    chunks: list[bytes] = field(default_factory=list)
    events: list[tuple[int, int]] = field(default_factory=list)


_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_native_rate = 0
_current_voice: str | None = None
_sink: _Sink | None = None  # only set while _lock is held


def _on_synth(wav: ctypes._Pointer[ctypes.c_short], n: int, events: ctypes._Pointer[_Event]) -> int:
    """Synth callback: runs inside ``espeak_Synth`` on the calling thread, lock held."""
    sink = _sink
    if sink is None:
        return 0
    if n > 0:
        sink.chunks.append(ctypes.string_at(wav, n * 2))
    i = 0
    while events[i].type != _EVENT_LIST_TERMINATED:
        event = events[i]
        if event.type == _EVENT_WORD:
            sink.events.append((event.text_position, event.sample))
        i += 1
    return 0


# Kept at module level for the process lifetime: espeak holds a raw pointer to it.
_callback = _SynthCallback(_on_synth)


def _load() -> ctypes.CDLL:
    """Load and initialise the library once; caller holds ``_lock``."""
    global _lib, _native_rate
    if _lib is not None:
        return _lib
    lib = ctypes.CDLL(espeakng_loader.get_library_path())
    lib.espeak_Initialize.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int]
    lib.espeak_Initialize.restype = ctypes.c_int
    lib.espeak_SetSynthCallback.argtypes = [_SynthCallback]
    lib.espeak_SetSynthCallback.restype = None
    lib.espeak_SetVoiceByName.argtypes = [ctypes.c_char_p]
    lib.espeak_SetVoiceByName.restype = ctypes.c_int
    lib.espeak_SetParameter.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int]
    lib.espeak_SetParameter.restype = ctypes.c_int
    lib.espeak_Synth.argtypes = [
        ctypes.c_void_p,
        ctypes.c_size_t,
        ctypes.c_uint,
        ctypes.c_int,
        ctypes.c_uint,
        ctypes.c_uint,
        ctypes.c_void_p,
        ctypes.c_void_p,
    ]
    lib.espeak_Synth.restype = ctypes.c_int
    data_path = espeakng_loader.get_data_path().encode()
    rate = lib.espeak_Initialize(
        _AUDIO_OUTPUT_SYNCHRONOUS, _BUFFER_MS, data_path, _INITIALIZE_DONT_EXIT
    )
    if rate <= 0:
        raise RuntimeError(f"espeak_Initialize failed ({rate}); data path {data_path!r}")
    lib.espeak_SetSynthCallback(_callback)
    _native_rate = rate
    _lib = lib
    return lib


def words_per_minute(speed: float) -> int:
    """Map the protocol's speed (1.0 = normal) to espeak's rate: 175 wpm × speed, 80..450."""
    return max(_MIN_WPM, min(_MAX_WPM, round(_BASE_WPM * speed)))


def espeak_voice(voice_id: str, language: str | None = None) -> str:
    """Pick the espeak voice for a request, deterministically.

    A non-English language espeak knows gets that language's voice. Otherwise the
    well-known Smallest ids (and the empty id) get ``en-us``, the most intelligible,
    and any other id is hashed (crc32, stable across processes) onto an English variant,
    so different voices sound different but a voice always sounds the same.
    """
    if language:
        primary = language.strip().lower().replace("_", "-").split("-")[0]
        if primary in _LANGUAGE_VOICES:
            return _LANGUAGE_VOICES[primary]
    key = voice_id.strip().lower()
    if not key or key in KNOWN_VOICE_IDS:
        return DEFAULT_VOICE
    return ENGLISH_VARIANTS[zlib.crc32(key.encode("utf-8")) % len(ENGLISH_VARIANTS)]


def _align_words(
    text: str, events: list[tuple[int, int]], total_samples: int
) -> list[tuple[str, int]]:
    """Give every whitespace-separated token of ``text`` a start sample.

    Args:
        text: the text exactly as passed to espeak.
        events: WORD events as (1-based character ``text_position``, ``sample``).
        total_samples: length of the synthesized audio, the upper bound for starts.

    Returns:
        (verbatim token, start sample) for every token, starts non-decreasing.
    """
    tokens = [(m.start(), m.end(), m.group()) for m in _TOKEN.finditer(text)]
    if not tokens:
        return []
    starts = [t[0] for t in tokens]
    anchor: list[int | None] = [None] * len(tokens)
    for position, sample in events:
        # Positions in the gap after a token belong to it (a multi-event reading such as
        # an emoji's name spills over); positions before the first token go to the first.
        i = max(0, bisect.bisect_right(starts, position - 1) - 1)
        sample = min(max(sample, 0), total_samples)
        current = anchor[i]
        anchor[i] = sample if current is None else min(current, sample)

    result: list[int] = [0] * len(tokens)
    previous = 0  # start of the last timed token (or 0)
    i = 0
    while i < len(tokens):
        current = anchor[i]
        if current is not None:
            previous = max(previous, current)
            result[i] = previous
            i += 1
            continue
        # A run of tokens espeak gave no event: share the span from the previous timed
        # token's start to the next anchor (or the end) by character count, including
        # the previous timed token itself, which is still speaking during that span.
        j = i
        while j < len(tokens) and anchor[j] is None:
            j += 1
        following = anchor[j] if j < len(tokens) else None
        right = max(previous, total_samples if following is None else following)
        lead = i - 1 if i > 0 else None
        weights = [len(tokens[k][2]) for k in range(i, j)]
        lead_weight = len(tokens[lead][2]) if lead is not None else 0
        total = lead_weight + sum(weights)
        left = result[lead] if lead is not None else 0
        acc = lead_weight
        for k, weight in zip(range(i, j), weights, strict=True):
            result[k] = left + (right - left) * acc // total
            acc += weight
        i = j
    return [(token[2], start) for token, start in zip(tokens, result, strict=True)]


class EspeakEngine:
    """Real, intelligible speech with word timings; safe to call from any thread."""

    name = "espeak"

    def synthesize(
        self,
        text: str,
        *,
        voice_id: str,
        sample_rate: int,
        speed: float = 1.0,
        language: str | None = None,
        tag: str = "",
    ) -> Synthesis:
        """Synthesize ``text`` completely (see ``Engine.synthesize``); ``tag`` is unused."""
        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        if not text.strip():
            return Synthesis(pcm=b"", sample_rate=sample_rate, words=[])
        # A NUL would end the C string early; replacing it keeps every character position,
        # and the words are still cut from the original text.
        clean = text.replace("\0", " ")
        voice = espeak_voice(voice_id, language)
        native, rate, events = self._run(clean, voice, words_per_minute(speed))

        samples = np.frombuffer(native, dtype=np.int16)
        if sample_rate != rate and samples.size:
            samples = soxr.resample(samples, rate, sample_rate)
        pcm = samples.astype("<i2", copy=False).tobytes()
        duration = len(pcm) / 2 / sample_rate

        aligned = _align_words(text, events, len(native) // 2)
        starts = [min(start / rate, duration) for _, start in aligned]
        ends = [*starts[1:], duration]
        words = [
            WordTiming(word=token, start=start, end=end)
            for (token, _), start, end in zip(aligned, starts, ends, strict=True)
        ]
        return Synthesis(pcm=pcm, sample_rate=sample_rate, words=words)

    @staticmethod
    def _run(text: str, voice: str, wpm: int) -> tuple[bytes, int, list[tuple[int, int]]]:
        """One synchronous ``espeak_Synth`` under the lock: (PCM at native rate, rate, events)."""
        global _sink, _current_voice
        data = text.encode("utf-8") + b"\0"
        with _lock:
            lib = _load()
            if voice != _current_voice:
                if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                    voice = DEFAULT_VOICE
                    if lib.espeak_SetVoiceByName(voice.encode()) != 0:
                        raise RuntimeError("espeak has no en-us voice; broken data path?")
                _current_voice = voice
            lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
            sink = _Sink()
            _sink = sink
            try:
                status = lib.espeak_Synth(
                    data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE, None, None
                )
            finally:
                _sink = None
            if status != 0:
                raise RuntimeError(f"espeak_Synth failed with status {status}")
            return b"".join(sink.chunks), _native_rate, sink.events
