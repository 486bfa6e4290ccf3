"""The built-in voice catalog and the protocol's enumerations, read from docs/protocol.md.

This module is the local server's own reading of the spec (DESIGN.md: the server does
not import the client core, so a misread field cannot hide on both sides).
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "LANGUAGES",
    "MODELS",
    "OUTPUT_FORMATS",
    "SAMPLE_RATES",
    "VOICES",
    "Voice",
    "is_catalog_voice",
]

#: TTS body model names (underscores; docs/protocol.md §1 naming trap).
MODELS = ("lightning_v3.1", "lightning_v3.1_pro")
#: Catalog/cloning model names (hyphens).
CATALOG_MODELS = ("lightning-v3.1", "lightning-v3.1-pro")
SAMPLE_RATES = (8000, 16000, 24000, 44100)
OUTPUT_FORMATS = ("pcm", "mp3", "wav", "ulaw", "alaw")
# docs/protocol.md §2: the 32-code enum shared by `language` and `number_pronunciation_language`.
LANGUAGES = (
    "auto", "en", "hi", "mr", "kn", "ta", "bn", "gu", "te", "ml", "pa", "or", "es", "de", "fr",
    "it", "nl", "sv", "pt", "ru", "el", "fi", "no", "pl", "ar", "zh", "id", "ja", "ko", "ms",
    "tr", "vi",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Voice:
    """One catalog voice (docs/protocol.md §7 `get_voices` shape)."""

    voice_id: str
    display_name: str
    languages: tuple[str, ...]
    accent: str
    gender: str
    age: str = "adult"
    pro: bool = False

    def to_json(self) -> dict[str, object]:
        """The `get_voices` entry for this voice."""
        return {
            "voiceId": self.voice_id,
            "displayName": self.display_name,
            "tags": {
                "language": list(self.languages),
                "accent": self.accent,
                "gender": self.gender,
                "age": self.age,
                "emotions": [],
                "usecases": ["conversational"],
            },
        }


# Voice ids that appear in the spec, the SDK and the two official clients (docs/protocol.md §10).
VOICES: tuple[Voice, ...] = (
    Voice("magnus", "Magnus", ("english",), "american", "male"),
    Voice("jordan", "Jordan", ("english",), "american", "male"),
    Voice("daniel", "Daniel", ("english",), "british", "male"),
    Voice("sophia", "Sophia", ("english", "hindi"), "american", "female"),
    Voice("emily", "Emily", ("english",), "american", "female"),
    Voice("meher", "Meher", ("english", "hindi"), "indian", "female", pro=True),
    Voice("kaitlyn", "Kaitlyn", ("english",), "american", "female", pro=True),
    Voice("sophie", "Sophie", ("english",), "british", "female", pro=True),
    Voice("blake", "Blake", ("english",), "american", "male", pro=True),
    Voice("avery", "Avery", ("english",), "american", "female", "young", pro=True),
    Voice("liam", "Liam", ("english",), "american", "male", pro=True),
    Voice("devansh", "Devansh", ("english", "hindi"), "indian", "male", pro=True),
    Voice("kartik", "Kartik", ("english", "hindi"), "indian", "male", pro=True),
    Voice("maithili", "Maithili", ("english", "hindi"), "indian", "female", pro=True),
    Voice("mishka", "Mishka", ("english", "hindi"), "indian", "female", pro=True),
)

_IDS = frozenset(v.voice_id for v in VOICES)


def is_catalog_voice(voice_id: str) -> bool:
    """True for a built-in voice id (cloned voices are checked against the store)."""
    return voice_id in _IDS
