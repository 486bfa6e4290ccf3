"""Key redaction: the one place that knows what a secret looks like.

Every repr, log line and error message that may contain a server body, a header or a
URL goes through :func:`redact` first. Keys never appear in URLs in this package, but
a server may echo one back, and a user may paste one into text.
"""

from __future__ import annotations

import json
import logging
import re
import threading
import weakref

from .wire import Field

__all__ = [
    "REDACTED",
    "RedactingFilter",
    "Secret",
    "mask_key",
    "redact",
    "register_secret",
    "scrub_frame",
]

REDACTED = "[secure]"

# API keys look like ``sk_…`` (docs/protocol.md §1); Bearer tokens may be anything.
_PATTERNS = (
    # a token, not prose: "Bearer token is missing" stays readable
    re.compile(r"(?i)(bearer\s+)(?=[^\s\"',;]{16}|[^\s\"',;]*[0-9_\-])[^\s\"',;]{6,}"),
    re.compile(r"\bsk_[A-Za-z0-9_\-]{4,}"),
)


class Secret:
    """A key held by one client; :func:`redact` hides it for as long as the client lives.

    The registry holds live keys by handle: a client that is gone takes its key out of
    it (when its last handle goes), so a process that creates many clients does not
    accumulate keys.
    """

    __slots__ = ("__weakref__", "value")

    def __init__(self, value: str) -> None:
        self.value = value

    def __repr__(self) -> str:
        return f"Secret({mask_key(self.value)})"


# The live handles, and the distinct keys they hold as a tuple: what redact() scans.
# redact() runs on every error's path (a close reaches each of its utterances through it),
# so it reads one tuple rather than iterating the WeakSet. The tuple is rebuilt only after
# a key came or went (``None``: stale). Registering and rebuilding share a lock, so a
# rebuild never misses a key registered meanwhile; a handle's finalizer (any thread, at
# any allocation, so it takes no lock) only marks the tuple stale. At worst a rebuild
# racing a finalizer keeps a gone key one rebuild longer: more redaction, never less.
_live: weakref.WeakSet[Secret] = weakref.WeakSet()
_keys: tuple[str, ...] | None = ()
_lock = threading.Lock()


def _stale() -> None:
    global _keys
    _keys = None


def _live_keys() -> tuple[str, ...]:
    global _keys
    keys = _keys
    if keys is None:
        with _lock:
            keys = _keys = tuple({handle.value for handle in list(_live)})
    return keys


def register_secret(secret: str) -> Secret:
    """Make :func:`redact` hide ``secret`` (even with no known shape) while the returned
    handle is referenced; a client keeps the handle as long as it holds the key."""
    global _keys
    handle = Secret(secret)
    if secret and len(secret) >= 4:
        with _lock:
            _live.add(handle)
            _keys = None
        weakref.finalize(handle, _stale).atexit = False
    return handle


def redact(text: str) -> str:
    """Return ``text`` with API keys and Bearer tokens replaced by ``[secure]``."""
    if not text:
        return text
    for secret in _live_keys():
        if secret in text:
            text = text.replace(secret, REDACTED)
    # Each pattern needs its literal: most texts (close reasons, error codes, server
    # messages) have neither, and skip both scans (this runs on every error's path).
    if "bearer" in text.lower():
        text = _PATTERNS[0].sub(lambda m: m.group(1) + REDACTED, text)
    if "sk_" in text:
        text = _PATTERNS[1].sub(REDACTED, text)
    return text


def mask_key(key: str | None) -> str:
    """A printable stand-in for a key: its kind and length, never its characters."""
    if not key:
        return "<no key>"
    return f"{REDACTED}({len(key)} chars)"


class RedactingFilter(logging.Filter):
    """A logging filter that redacts each record's message before it is emitted.

    Attached to the logger we hand to ``websockets``, whose DEBUG handshake lines
    print request headers, ``Authorization`` included.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


#: Frame fields whose values are user content (or audio): logged as a length, never as text.
_CONTENT = frozenset({Field.TEXT, Field.AUDIO, Field.WORD, Field.MESSAGE, Field.DATA})


def scrub_frame(frame: str, limit: int = 200) -> str:
    """A frame as a log line that carries no user content: ids, flags and status as they
    are; text, words, audio and messages as their lengths; keys redacted; at most
    ``limit`` characters (the frame logs at DEBUG go through this, both directions)."""
    try:
        data = json.loads(frame)
    except (ValueError, RecursionError):
        return f"<unparseable frame, {len(frame)} chars>"
    if not isinstance(data, dict):
        return f"<{type(data).__name__} frame, {len(frame)} chars>"
    shown = {k: _content(v) if k in _CONTENT else v for k, v in data.items()}
    text = json.dumps(shown, separators=(",", ":"), default=str)
    return redact(text if len(text) <= limit else text[:limit] + "…")


def _content(value: object) -> object:
    if isinstance(value, dict):
        return {k: _content(v) for k, v in value.items()}
    if isinstance(value, str):
        return f"<{len(value)} chars>"
    return value
