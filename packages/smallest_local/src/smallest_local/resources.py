"""Voices, voice cloning, pronunciation dictionaries and the retired legacy routes.

Everything here except TTS itself (docs/protocol.md §6-§8):

=========================================  ==================================================
route                                      behaviour
=========================================  ==================================================
``GET /waves/v1/{model}/get_voices``       catalog for ``lightning-v3.1`` (also accepted:
                                           ``lightning-v3.1-pro``, same union); legacy models
                                           410; anything else 400 naming the allowed values
``GET /waves/v1/voice/get-all-models``     the browse catalog with ``_id``/``audioPreview``
``GET /waves/v1/voice/previews/{id}.wav``  local-only preview clip that ``audioPreview``
                                           points to
``POST /waves/v1/voice-cloning``           multipart clone job (§7), status moves with time
``GET /waves/v1/voice-cloning``            ``{"data": [...]}`` with live statuses
``DELETE /waves/v1/voice-cloning[/{id}]``  local convenience (the service has none, §7)
``/waves/v1/pronunciation-dicts``          GET/POST/PUT/DELETE per ``spec/waves-api.yaml``
legacy model routes (§6), both bases       410 ``MODEL_DEPRECATED`` (or the old shapes when
                                           ``config.legacy_routes``)
=========================================  ==================================================

Clones and dictionaries are kept by :class:`smallest_local.store.Store` (SQLite), so they
survive a restart. Handlers run behind the auth middleware of :mod:`smallest_local.app`.

Dictionary uploads are checked for size (:data:`MAX_DICT_ITEMS` entries, words up to
:data:`MAX_DICT_WORD_CHARS` and pronunciations up to :data:`MAX_DICT_PRONUNCIATION_CHARS`
characters); pronunciations are literal text (no pattern syntax), applied in one pass.
"""

from __future__ import annotations

import hashlib
import json
import math
import struct
from dataclasses import dataclass, field
from typing import Any

from aiohttp import BodyPartReader, web

from . import app as app_module
from . import audio
from .catalog import CATALOG_MODELS, LANGUAGES, VOICES, Voice, is_catalog_voice
from .faults import FaultKind
from .state import STATE
from .store import DEFAULT_ORGANIZATION_ID, Store
from .wire import RequestError, loads_json, short

__all__ = [
    "ALLOWED_CLONE_CONTENT_TYPES",
    "MAX_CLONE_FILE_BYTES",
    "MAX_DICT_ITEMS",
    "MAX_DICT_PRONUNCIATION_CHARS",
    "MAX_DICT_WORD_CHARS",
    "MIN_CLONE_AUDIO_S",
    "add_routes",
    "audio_problem",
    "wav_duration",
]

#: Upload types the cloning API accepts (docs/protocol.md §7, ``spec/voice-cloning-openapi.yaml``).
ALLOWED_CLONE_CONTENT_TYPES = (
    "audio/mpeg",
    "audio/mpeg-3",
    "audio/wav",
    "audio/wave",
    "audio/webm",
    "video/webm",
    "audio/mp4",
    "video/mp4",
)
#: Largest clone upload (§7: 5 MB).
MAX_CLONE_FILE_BYTES = 5 * 1024 * 1024
#: Most entries in one pronunciation dictionary (local limit; the service documents none).
MAX_DICT_ITEMS = 10_000
#: Longest dictionary ``word`` (characters).
MAX_DICT_WORD_CHARS = 100
#: Longest dictionary ``pronunciation`` (characters).
MAX_DICT_PRONUNCIATION_CHARS = 500
#: Shortest WAV a clone job accepts before failing (local rule; the service asks 5-15 s).
MIN_CLONE_AUDIO_S = 1.0
#: Models whose routes were retired (§6); ``lightning`` (v1) went before the others.
LEGACY_MODELS = ("lightning", "lightning-large", "lightning-v2")
#: The body every retired route answers with names this replacement (§6).
RECOMMENDED_ENDPOINT = "/waves/v1/lightning-v3.1/get_speech"

_WAV_TYPES = ("audio/wav", "audio/wave")
_MAX_DISPLAY_NAME = 500
_MAX_TEXT_FIELD = 64 * 1024
_DEFAULT_CLONE_FAILURE = "Voice cloning failed: the sample could not be processed."
_CLONE_DEPRECATED = {
    "lightning-v2": "Voice cloning for lightning-v2 is deprecated. Please use lightning-v3.1",
    "lightning-large": "Voice cloning for lightning-large is deprecated. Please use lightning-v3.1",
    "lightning": "Voice cloning for lightning is deprecated. Please use lightning-v3.1",
}
#: Path segments under which every route is retired (§6).
_RETIRED_PREFIXES = (*LEGACY_MODELS, "prof-voice-cloning")
_LEGACY_PREFIX_PATTERN = "{model:" + "|".join(_RETIRED_PREFIXES) + "}"

PREVIEW_PATH = "/waves/v1/voice/previews/{voice_id}.wav"


# -- helpers ----------------------------------------------------------------------------------


def _store(request: web.Request) -> Store:
    store = request.app[STATE].store
    if store is None:  # Server always builds one; a bare ServerState may not
        raise web.HTTPServiceUnavailable(
            text=json.dumps({"error": "ServiceUnavailable", "message": "No store configured."}),
            content_type="application/json",
        )
    return store


def _error(status: int, message: str) -> web.Response:
    """The cloning / dictionary error body: just ``{"error": message}`` (docs/protocol.md §8)."""
    return web.json_response({"error": message}, status=status)


def _deprecated(name: str) -> web.Response:
    """The 410 body of every retired legacy route (docs/protocol.md §6)."""
    return web.json_response(
        {
            "status": "error",
            "error_code": "MODEL_DEPRECATED",
            "message": (
                f"'{name}' has been deprecated and is no longer available. "
                "Please migrate to lightning-v3.1."
            ),
            "recommended_endpoint": RECOMMENDED_ENDPOINT,
        },
        status=410,
    )


def _object_id(seed: str) -> str:
    """A stable 24-hex-digit document id for a catalog entry."""
    return hashlib.sha1(seed.encode(), usedforsecurity=False).hexdigest()[:24]


# -- voices (§7) -----------------------------------------------------------------------------


def _legacy_voice_json(voice: Voice) -> dict[str, Any]:
    """The pre-v3.1 ``get_voices`` entry: tags carry only language, accent, gender (§6)."""
    return {
        "voiceId": voice.voice_id,
        "displayName": voice.display_name,
        "tags": {"language": list(voice.languages), "accent": voice.accent, "gender": voice.gender},
    }


async def get_voices(request: web.Request) -> web.Response:
    """``GET /waves/v1/{model}/get_voices`` (docs/protocol.md §7).

    The spec's only model is ``lightning-v3.1``, answering the union of the standard and
    Pro catalogs with no Pro flag. ``lightning-v3.1-pro`` is accepted too and answers
    the same union (clients that derive the catalog model from the TTS model keep
    working). Clones are *not* listed: the cloning API lists them. Retired models answer
    410 (§6; their old shape when ``config.legacy_routes``); anything else, including the
    underscore TTS names, is a 400 naming the allowed values (§1 naming trap).
    """
    model = request.match_info["model"]
    if model in CATALOG_MODELS:
        return web.json_response({"voices": [voice.to_json() for voice in VOICES]})
    if model in _RETIRED_PREFIXES:
        return await _legacy_answer(request, model, "/get_voices")
    hint = ""
    if model.replace("_", "-") in CATALOG_MODELS:
        hint = " Catalog model names use hyphens; underscores are for TTS request bodies."
    return app_module.json_error(
        400,
        "InvalidRequest",
        f"Invalid model {short(model)}. Supported: {', '.join(CATALOG_MODELS)}.{hint}",
    )


def _description(voice: Voice) -> str:
    languages = " and ".join(lang.capitalize() for lang in voice.languages)
    return f"A {voice.age} {voice.accent} {voice.gender} voice speaking {languages}."


async def get_all_models(request: web.Request) -> web.Response:
    """``GET /waves/v1/voice/get-all-models``: the browse catalog (docs/protocol.md §7).

    Entries are ``{_id, voiceId, displayName, description, audioPreview, tags: {age,
    emotions, language}}``. ``_id`` is stable per voice; ``audioPreview`` points at this
    server's preview route (the service uses a CDN URL) so it works offline.
    """
    origin = request.url.origin()
    voices = [
        {
            "_id": _object_id(voice.voice_id),
            "voiceId": voice.voice_id,
            "displayName": voice.display_name,
            "description": _description(voice),
            "audioPreview": str(origin.with_path(f"/waves/v1/voice/previews/{voice.voice_id}.wav")),
            "tags": {"age": voice.age, "emotions": [], "language": list(voice.languages)},
        }
        for voice in VOICES
    ]
    return web.json_response({"voices": voices})


async def get_preview(request: web.Request) -> web.Response:
    """A short tone WAV per catalog voice, the target of ``audioPreview`` (local only).

    Each voice gets its own pitch so a listener can tell previews apart; real previews
    are speech on a CDN and need no key, this route sits behind the same auth as the rest.
    """
    voice_id = request.match_info["voice_id"]
    if not is_catalog_voice(voice_id):
        return app_module.json_error(404, "NotFound", f"No preview for voice {short(voice_id)}.")
    index = next(i for i, v in enumerate(VOICES) if v.voice_id == voice_id)
    rate, seconds, freq = 24000, 0.5, 220.0 + 30.0 * index
    frames = b"".join(
        struct.pack("<h", int(8000 * math.sin(2 * math.pi * freq * n / rate)))
        for n in range(int(rate * seconds))
    )
    return web.Response(body=audio.encode(frames, rate, "wav"), content_type="audio/wav")


# -- voice cloning (§7) ----------------------------------------------------------------------


def wav_duration(data: bytes) -> float:
    """Seconds of audio in a RIFF/WAVE file, from its ``fmt `` and ``data`` chunks.

    Works for any sample format (PCM, float, G.711) because it only reads the byte rate;
    a ``data`` chunk whose declared size exceeds the file (streaming writers) is
    measured by the bytes actually present.

    Raises:
        ValueError: the bytes are not a readable WAV file (with the reason).
    """
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError("missing RIFF/WAVE header")
    pos, byte_rate, data_len = 12, None, None
    while pos + 8 <= len(data):
        chunk_id = data[pos : pos + 4]
        size = int.from_bytes(data[pos + 4 : pos + 8], "little")
        body = pos + 8
        if chunk_id == b"fmt ":
            if size < 16 or body + 16 > len(data):
                raise ValueError("truncated fmt chunk")
            _, channels, rate, byte_rate, _, _ = struct.unpack_from("<HHIIHH", data, body)
            if channels == 0 or rate == 0 or byte_rate == 0:
                raise ValueError("fmt chunk declares no audio")
        elif chunk_id == b"data" and data_len is None:
            data_len = min(size, len(data) - body)
        pos = body + size + (size & 1)
    if byte_rate is None:
        raise ValueError("no fmt chunk")
    if data_len is None:
        raise ValueError("no data chunk")
    return data_len / byte_rate


def audio_problem(data: bytes, content_type: str) -> str | None:
    """Why an accepted upload cannot make a voice, or None if it looks usable.

    The rule (local; the service's own checks are unpublished): the request itself is
    valid (type and size pass), but the *job* ends in ``failed`` when the file is empty,
    or — for ``audio/wav``/``audio/wave`` — when it is not a readable RIFF/WAVE file or
    holds less than :data:`MIN_CLONE_AUDIO_S` of audio. Compressed types (mp3, webm,
    mp4) are not decoded and only need to be non-empty.
    """
    if not data:
        return "Audio file is empty."
    if content_type in _WAV_TYPES:
        try:
            seconds = wav_duration(data)
        except ValueError as exc:
            return f"Audio file is not a valid WAV file: {exc}."
        if seconds < MIN_CLONE_AUDIO_S:
            return (
                f"Audio is too short ({seconds:.2f} s); at least {MIN_CLONE_AUDIO_S:g} s "
                "of clear speech is needed (5-15 s recommended)."
            )
    return None


@dataclass(slots=True)
class _CloneForm:
    """The multipart fields of a clone request as read off the wire."""

    fields: dict[str, str] = field(default_factory=dict)
    file_name: str | None = None
    file_type: str = ""
    file_bytes: bytearray = field(default_factory=bytearray)
    file_size: int = 0

    @property
    def has_file(self) -> bool:
        return self.file_name is not None


async def _read_capped(part: BodyPartReader, keep: int) -> tuple[bytes, int]:
    """Read a part to its end, keeping at most ``keep`` bytes; returns (kept, total size).

    The whole part is consumed even when it is too big, so the 400 that follows reaches
    the client instead of a reset connection mid-upload.
    """
    kept = bytearray()
    total = 0
    while chunk := await part.read_chunk(64 * 1024):
        total += len(chunk)
        if len(kept) < keep:
            kept.extend(chunk[: keep - len(kept)])
    return bytes(kept), total


async def _read_clone_form(request: web.Request) -> _CloneForm:
    """Stream the multipart body: the first file part named ``file`` and text fields."""
    form = _CloneForm()
    reader = await request.multipart()
    while (part := await reader.next()) is not None:
        if not isinstance(part, BodyPartReader):  # nested multipart: not ours to read
            await part.release()
            continue
        if part.name == "file" and part.filename is not None and not form.has_file:
            raw_type = part.headers.get("Content-Type", "")
            form.file_name = part.filename
            form.file_type = raw_type.split(";", 1)[0].strip().lower()
            data, form.file_size = await _read_capped(part, MAX_CLONE_FILE_BYTES + 1)
            form.file_bytes.extend(data)
        elif part.name and part.filename is None:
            data, _ = await _read_capped(part, _MAX_TEXT_FIELD)
            form.fields[part.name] = data.decode(part.get_charset("utf-8"), errors="replace")
        else:
            await part.release()
    return form


def _validate_clone_form(form: _CloneForm) -> tuple[str, str, str] | web.Response:
    """Check a clone request; ``(display_name, model, language)`` or the 400 to send.

    Order: file type, file size, missing file (what an upload middleware rejects first),
    then displayName, model, language. Every message is the ``error`` of §8's cloning body.
    """
    if form.has_file and form.file_type not in ALLOWED_CLONE_CONTENT_TYPES:
        shown = short(form.file_type or "none")
        return _error(
            400,
            f"Invalid file type {shown}. Supported: {', '.join(ALLOWED_CLONE_CONTENT_TYPES)}",
        )
    if form.file_size > MAX_CLONE_FILE_BYTES:
        return _error(400, "File too large. Maximum size is 5 MB")
    if not form.has_file:
        return _error(400, "No file provided")
    display_name = form.fields.get("displayName", "").strip()
    if not display_name:
        return _error(400, "displayName is required")
    if len(display_name) > _MAX_DISPLAY_NAME:
        return _error(400, f"displayName must be at most {_MAX_DISPLAY_NAME} characters")
    model = form.fields.get("model", "").strip() or CATALOG_MODELS[0]
    if model in _CLONE_DEPRECATED:
        return _error(400, _CLONE_DEPRECATED[model])
    if model not in CATALOG_MODELS:
        return _error(400, f"Invalid model {short(model)}. Supported: {', '.join(CATALOG_MODELS)}")
    language = form.fields.get("language", "").strip()
    if language and language not in LANGUAGES:
        return _error(400, f"Invalid language. Supported: {', '.join(LANGUAGES)}")
    return display_name, model, language


async def create_clone(request: web.Request) -> web.Response:
    """``POST /waves/v1/voice-cloning`` (multipart; docs/protocol.md §7).

    Fields: ``displayName`` (required, 1-500 chars after trimming), ``file`` (required,
    ≤ 5 MB, one of :data:`ALLOWED_CLONE_CONTENT_TYPES` by its part ``Content-Type`` —
    note ``audio/x-wav``, Python's guess for ``.wav``, is *not* on the list), optional
    ``description``, ``accent``, ``tags`` (comma-separated, trimmed, empties dropped),
    ``language`` (one of ``catalog.LANGUAGES``), ``model`` (``lightning-v3.1`` default or
    ``lightning-v3.1-pro``; retired models get the spec's deprecation 400). Any bad input
    is a 400 ``{"error": ...}`` and nothing is stored.

    A valid request always creates a job and answers 200 with its initial status
    (normally ``pending``). The job ends in ``failed`` instead of ``completed`` when a
    scripted ``CLONE_FAILS`` fault is taken, or when :func:`audio_problem` rejects the
    audio. ``samples`` is empty: the local server pre-generates no sample clips.
    """
    if request.content_type != "multipart/form-data":
        return _error(400, "No file provided")
    try:
        form = await _read_clone_form(request)
    except (ValueError, AssertionError) as exc:  # aiohttp's parser on a broken body
        return _error(400, f"Malformed multipart body: {exc}")
    checked = _validate_clone_form(form)
    if isinstance(checked, web.Response):
        return checked
    display_name, model, language = checked
    state = request.app[STATE]
    fault = state.faults.take_one(FaultKind.CLONE_FAILS, where="clone")
    fail_reason = audio_problem(bytes(form.file_bytes), form.file_type)
    if fault is not None and fail_reason is None:
        fail_reason = fault.message or _DEFAULT_CLONE_FAILURE
    tags = [tag.strip() for tag in form.fields.get("tags", "").split(",") if tag.strip()]
    data = _store(request).create_clone(
        display_name=display_name,
        model=model,
        description=form.fields.get("description", "").strip(),
        accent=form.fields.get("accent", "").strip(),
        tags=tags,
        language=language,
        audio_file_names=[form.file_name or "audio"],
        organization_id=DEFAULT_ORGANIZATION_ID,
        fail_reason=fail_reason,
    )
    return web.json_response({"message": "Voice clone created successfully", "data": data})


async def list_clones(request: web.Request) -> web.Response:
    """``GET /waves/v1/voice-cloning``: ``{"data": [...]}`` with live statuses (§7).

    Clients watch a job by polling this list for its ``voiceId`` until ``completed`` or
    ``failed`` (there is no per-clone GET and no webhook). A ``failed`` entry also
    carries ``error`` with the reason (local extension).
    """
    return web.json_response({"data": _store(request).list_clones()})


async def _delete_clone_by_id(request: web.Request, voice_id: str) -> web.Response:
    if not _store(request).delete_clone(voice_id):
        return _error(404, "Voice not found")
    return web.json_response({"success": True, "voiceId": voice_id})


async def delete_clone(request: web.Request) -> web.Response:
    """``DELETE /waves/v1/voice-cloning/{voice_id}`` → ``{"success": true, "voiceId"}``.

    A local convenience: the real service has no delete route today (§7: deletion is
    dashboard-only and the legacy ``DELETE /lightning-large`` answers 410). The body
    mirrors that legacy route. Unknown ids answer 404 ``{"error": "Voice not found"}``.
    """
    return await _delete_clone_by_id(request, request.match_info["voice_id"])


async def delete_clone_by_body(request: web.Request) -> web.Response:
    """``DELETE /waves/v1/voice-cloning`` with JSON ``{"voiceId": ...}`` (local convenience).

    Same answers as :func:`delete_clone`; a body without a non-empty string ``voiceId``
    is a 400 ``{"error": "voiceId is required"}``.
    """
    voice_id = _voice_id_from_body(await _json_or_missing(request))
    if voice_id is None:
        return _error(400, "voiceId is required")
    return await _delete_clone_by_id(request, voice_id)


def _voice_id_from_body(body: Any) -> str | None:
    if isinstance(body, dict):
        value = body.get("voiceId")
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None


# -- pronunciation dictionaries (§7, spec/waves-api.yaml) ------------------------------------


class _Missing:
    """Marks an absent JSON value (zod's ``undefined``)."""


_MISSING = _Missing()


class _Malformed:
    """A body :func:`~smallest_local.wire.loads_json` refused, with its reason."""

    def __init__(self, reason: str) -> None:
        self.reason = reason


async def _json_or_missing(request: web.Request) -> Any:
    """The JSON body, :data:`_MISSING` when empty, a :class:`_Malformed` when refused."""
    raw = await request.read()
    if not raw.strip():
        return _MISSING
    try:
        return loads_json(raw)
    except RequestError as exc:
        return _Malformed(exc.message)


def _zod_type(value: Any) -> str:
    """zod's name for a JSON value's type, as used in ``received``."""
    if value is _MISSING:
        return "undefined"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "nan" if isinstance(value, float) and math.isnan(value) else "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


_IssuePath = list[str | int]
#: Most zod issues listed in one 400 (a 10,000-item body of wrong types stays small).
_MAX_ISSUES = 20


def _invalid_type(path: _IssuePath, expected: str, value: Any) -> dict[str, Any]:
    received = _zod_type(value)
    wrong = f"Expected {expected}, received {received}"
    message = "Required" if received == "undefined" else wrong
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": received,
        "path": path,
        "message": message,
    }


def _too_small(path: _IssuePath, kind: str) -> dict[str, Any]:
    unit = "element(s)" if kind == "array" else "character(s)"
    noun = "Array" if kind == "array" else "String"
    return {
        "code": "too_small",
        "minimum": 1,
        "type": kind,
        "inclusive": True,
        "exact": False,
        "message": f"{noun} must contain at least 1 {unit}",
        "path": path,
    }


def _too_big(path: _IssuePath, kind: str, maximum: int) -> dict[str, Any]:
    unit = "element(s)" if kind == "array" else "character(s)"
    noun = "Array" if kind == "array" else "String"
    return {
        "code": "too_big",
        "maximum": maximum,
        "type": kind,
        "inclusive": True,
        "exact": False,
        "message": f"{noun} must contain at most {maximum} {unit}",
        "path": path,
    }


def _check_string(
    issues: list[dict[str, Any]], path: _IssuePath, value: Any, maximum: int | None = None
) -> None:
    if not isinstance(value, str):
        issues.append(_invalid_type(path, "string", value))
    elif not value:
        issues.append(_too_small(path, "string"))
    elif maximum is not None and len(value) > maximum:
        issues.append(_too_big(path, "string", maximum))


def _check_items(issues: list[dict[str, Any]], value: Any, *, min_items: int) -> None:
    if not isinstance(value, list):
        issues.append(_invalid_type(["items"], "array", value))
        return
    if len(value) > MAX_DICT_ITEMS:
        issues.append(_too_big(["items"], "array", MAX_DICT_ITEMS))
        return
    limits = {"word": MAX_DICT_WORD_CHARS, "pronunciation": MAX_DICT_PRONUNCIATION_CHARS}
    for index, item in enumerate(value):
        if len(issues) >= _MAX_ISSUES:
            return
        if not isinstance(item, dict):
            issues.append(_invalid_type(["items", index], "object", item))
            continue
        for key, maximum in limits.items():
            _check_string(issues, ["items", index, key], item.get(key, _MISSING), maximum)
    if len(value) < min_items:
        issues.append(_too_small(["items"], "array"))


def _validate_dict_body(
    body: Any, *, need_id: bool, need_items: bool, min_items: int
) -> list[dict[str, Any]]:
    """zod-style issues for a dictionary request body (empty list when valid)."""
    if isinstance(body, _Malformed):
        return [{"code": "custom", "message": f"Malformed JSON: {body.reason}", "path": []}]
    if not isinstance(body, dict):
        return [_invalid_type([], "object", body)]
    issues: list[dict[str, Any]] = []
    if need_id:
        _check_string(issues, ["id"], body.get("id", _MISSING))
    if need_items:
        _check_items(issues, body.get("items", _MISSING), min_items=min_items)
    return issues


def _invalid_body(issues: list[dict[str, Any]]) -> web.Response:
    return web.json_response({"error": "Invalid request body", "details": issues}, status=400)


def _pairs(items: list[dict[str, str]]) -> list[tuple[str, str]]:
    return [(item["word"], item["pronunciation"]) for item in items]


async def list_dicts(request: web.Request) -> web.Response:
    """``GET /waves/v1/pronunciation-dicts`` → ``[{"id", "items", "createdAt"}]`` (§7)."""
    return web.json_response(_store(request).list_dicts())


async def create_dict(request: web.Request) -> web.Response:
    """``POST /waves/v1/pronunciation-dicts`` ``{"items": [...]}`` (≥ 1 item) → the dict.

    Each item needs non-empty string ``word`` and ``pronunciation``; violations answer
    400 ``{"error": "Invalid request body", "details": [zod issues]}`` listing them all.
    """
    body = await _json_or_missing(request)
    issues = _validate_dict_body(body, need_id=False, need_items=True, min_items=1)
    if issues:
        return _invalid_body(issues)
    return web.json_response(_store(request).create_dict(_pairs(body["items"])))


async def update_dict(request: web.Request) -> web.Response:
    """``PUT /waves/v1/pronunciation-dicts`` ``{"id", "items"}`` → ``{"id", "items"}``.

    The spec's update schema has no ``minItems``, so an empty ``items`` list is allowed
    (it empties the dictionary). Unknown ids answer 404
    ``{"error": "Pronunciation dictionary not found"}``.
    """
    body = await _json_or_missing(request)
    issues = _validate_dict_body(body, need_id=True, need_items=True, min_items=0)
    if issues:
        return _invalid_body(issues)
    updated = _store(request).update_dict(body["id"], _pairs(body["items"]))
    if updated is None:
        return _error(404, "Pronunciation dictionary not found")
    return web.json_response(updated)


async def delete_dict(request: web.Request) -> web.Response:
    """``DELETE /waves/v1/pronunciation-dicts`` ``{"id"}`` → ``{"id", "deleted": true}``.

    The id travels in a JSON body, as the spec defines (not in the path).

    Unknown ids answer 404 ``{"error": "Pronunciation dictionary not found"}``.
    """
    body = await _json_or_missing(request)
    issues = _validate_dict_body(body, need_id=True, need_items=False, min_items=0)
    if issues:
        return _invalid_body(issues)
    if not _store(request).delete_dict(body["id"]):
        return _error(404, "Pronunciation dictionary not found")
    return web.json_response({"id": body["id"], "deleted": True})


# -- retired legacy routes (§6, §9.14) --------------------------------------------------------


async def legacy(request: web.Request) -> web.Response:
    """Every route under a retired prefix, on both bases (docs/protocol.md §6, §9.14).

    ``/lightning/*``, ``/lightning-large/*`` (incl. ``DELETE /lightning-large``),
    ``/lightning-v2/*`` and ``/prof-voice-cloning/*`` answer 410 ``MODEL_DEPRECATED``.
    With ``config.legacy_routes`` the three read/delete routes whose old shapes §6
    records are served instead: ``GET /{model}/get_voices``,
    ``GET /lightning-large/get_cloned_voices`` and ``DELETE /lightning-large``
    ``{"voiceId"}``; everything else stays 410.
    """
    return await _legacy_answer(request, request.match_info["model"], request.match_info["tail"])


async def _legacy_answer(request: web.Request, model: str, tail: str) -> web.Response:
    """What a retired route answers: its old shape (when enabled and recorded) or 410."""
    if request.app[STATE].config.legacy_routes and model != "prof-voice-cloning":
        if request.method == "GET" and tail == "/get_voices":
            return web.json_response({"voices": [_legacy_voice_json(v) for v in VOICES]})
        if model == "lightning-large" and request.method == "GET" and tail == "/get_cloned_voices":
            return web.json_response({"voices": _legacy_clones(_store(request))})
        if model == "lightning-large" and request.method == "DELETE" and tail in ("", "/"):
            return await delete_clone_by_body(request)
    return _deprecated(model)


def _legacy_clones(store: Store) -> list[dict[str, Any]]:
    """Clones in the old ``get_cloned_voices`` shape (§6)."""
    return [
        {
            "displayName": clone["displayName"],
            "accent": clone["accent"],
            "tags": clone["tags"],
            "voiceId": clone["voiceId"],
            "model": clone["modelIds"][0],
            "status": clone["status"],
            "createdAt": clone["createdAt"],
        }
        for clone in store.list_clones()
    ]


# -- registration -----------------------------------------------------------------------------


def add_routes(app: web.Application) -> None:
    """Register the voice, cloning, dictionary and legacy routes on ``app``.

    Called by :func:`smallest_local.app.create_app` before its catch-all 404 route.
    ``get_voices`` is registered before the legacy prefixes so a retired model's
    ``get_voices`` is answered by :func:`get_voices` (same outcome either way).
    """
    router = app.router
    for base in ("/waves/v1", "/api/v1"):
        router.add_get(f"{base}/{{model}}/get_voices", get_voices)
    router.add_get("/waves/v1/voice/get-all-models", get_all_models)
    router.add_get(PREVIEW_PATH, get_preview)
    router.add_post("/waves/v1/voice-cloning", create_clone)
    router.add_get("/waves/v1/voice-cloning", list_clones)
    router.add_delete("/waves/v1/voice-cloning", delete_clone_by_body)
    router.add_delete("/waves/v1/voice-cloning/{voice_id}", delete_clone)
    router.add_get("/waves/v1/pronunciation-dicts", list_dicts)
    router.add_post("/waves/v1/pronunciation-dicts", create_dict)
    router.add_put("/waves/v1/pronunciation-dicts", update_dict)
    router.add_delete("/waves/v1/pronunciation-dicts", delete_dict)
    for base in ("/waves/v1", "/api/v1"):
        router.add_route("*", f"{base}/{_LEGACY_PREFIX_PATTERN}{{tail:(/.*)?}}", legacy)
