"""The error taxonomy of ``smallest_core``: exception classes with ``retryable`` set right.

What must not live here: the mappings from wire failures to these classes (that is
:mod:`smallest_core.classify`), any I/O, any retry *decision* (that is
:mod:`smallest_core.retry`, which reads only ``retryable`` and ``retry_after``), and any
unredacted server text — every message and body passes through :func:`redact` on the way
in, so ``str(err)``, ``repr(err)`` and tracebacks are safe to log.

Hierarchy::

    Exception
    └── SmallestError                      retryable = False (an instance may override)
        ├── InvalidOptionError (+ValueError)   bad local input: names field, value, allowed
        ├── InvalidState (+AssertionError)     caller misuse (a bug); never retried
        ├── AuthenticationError                401: key missing or invalid
        ├── PermissionDeniedError              403: key valid but not allowed
        │   └── PlanNotEntitledError           the plan lacks this feature (400/403 with plan text)
        ├── InvalidRequestError                400/404/422 and invalid-field error frames
        │   └── ModelDeprecatedError           410 MODEL_DEPRECATED (legacy routes, §6)
        ├── RateLimitError                     429 / concurrency frames / close 1008; retryable
        ├── ServerError                        5xx and 408; retryable
        ├── ConnectionLostError                the socket dropped or closed; retryable
        │   └── TranscriptionLostError         an STT stream dropped after audio was sent
        ├── ProtocolError                      the peer sent something unparseable; retryable
        └── RequestTimeoutError (+TimeoutError)  idle timeout, slow handshake; retryable

``ProtocolError`` is retryable on purpose: a garbled frame poisons one connection, and an
utterance that has produced no audio yet may be replayed on a fresh socket (the transport
decides that; audio is never duplicated).
"""

from __future__ import annotations

import builtins
from typing import Any

from .redact import redact

__all__ = [
    "AuthenticationError",
    "ConnectionLostError",
    "InvalidOptionError",
    "InvalidRequestError",
    "InvalidState",
    "ModelDeprecatedError",
    "PermissionDeniedError",
    "PlanNotEntitledError",
    "ProtocolError",
    "RateLimitError",
    "RequestTimeoutError",
    "ServerError",
    "SmallestError",
    "TranscriptionLostError",
]

#: The longest server body kept on an error (after redaction).
MAX_BODY_CHARS = 2000
#: The longest server message quoted in ``str(err)``.
MAX_MESSAGE_CHARS = 300


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _restore(cls: type[SmallestError], args: tuple[Any, ...], state: dict[str, Any]) -> Any:
    """Rebuild an error without calling ``__init__`` (copy/pickle support)."""
    err = cls.__new__(cls, *args)
    err.args = args
    err.__dict__.update(state)
    return err


class SmallestError(Exception):
    """Base class of every error ``smallest_core`` raises or reports.

    Attributes:
        retryable: whether a fresh attempt may succeed. A class attribute that an
            instance may override (``SmallestError("x", retryable=True)``).
        status_code: the HTTP status, when the error came from one.
        code: the server's machine-readable code (``error_code``/``error.code``/``error``),
            or ``ws_close_<n>`` for a WebSocket close.
        request_id: our id of the request it belongs to (``X-External-Request-Id``,
            ``external_request_id`` or ``context_id``), when known.
        server_request_id: the server's id (``X-Request-Id`` or a frame's ``request_id``);
            quote it to support (docs/protocol.md §8).
        body: the server's body or frame, redacted and shortened.
        retry_after: seconds the server asked us to wait (``Retry-After``), when it did.
        field: the request field the error is about (``text``, ``voice_id``...), when
            known: named by a local check, or by the server's message. Tells a bad
            *text* (this request's content) from a bad setting (every request's).
    """

    retryable: bool = False
    field: str | None = None

    def __init__(
        self,
        message: str = "",
        *,
        status_code: int | None = None,
        code: str | None = None,
        request_id: str | None = None,
        server_request_id: str | None = None,
        body: str | bytes | None = None,
        retry_after: float | None = None,
        retryable: bool | None = None,
        field: str | None = None,
    ) -> None:
        message = redact(str(message))
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.code = redact(code) if code else None
        self.request_id = request_id
        self.server_request_id = server_request_id
        if isinstance(body, bytes):
            body = body.decode("utf-8", "replace")
        self.body = _clip(redact(body), MAX_BODY_CHARS) if body else None
        self.retry_after = retry_after
        if field is not None:
            self.field = field
        if retryable is not None:
            self.retryable = retryable

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        extra = "".join(
            f", {name}={getattr(self, name)!r}"
            for name in ("status_code", "code", "request_id", "retry_after")
            if getattr(self, name, None) is not None
        )
        return f"{type(self).__name__}({self.message!r}{extra})"

    def __reduce__(self) -> tuple[Any, ...]:
        # Subclasses have their own __init__ signatures; rebuild from state instead.
        return (_restore, (type(self), self.args, dict(self.__dict__)))


class InvalidOptionError(SmallestError, ValueError):
    """A local value is not acceptable; raised before anything touches the network.

    The message names the field, the bad value and what is allowed, e.g.
    ``sample_rate=22050 is not supported; allowed: 8000, 16000, 24000, 44100``.

    Attributes:
        field: the option's name.
        value: the rejected value.
        allowed: a human description of the allowed values or range.
    """

    def __init__(
        self, field: str, value: object, allowed: str, *, problem: str = "is not supported"
    ) -> None:
        shown = _clip(repr(value), 80)
        super().__init__(f"{field}={shown} {problem}; allowed: {allowed}")
        self.field = field
        self.value = value
        self.allowed = allowed


class InvalidState(SmallestError, AssertionError):
    """The caller asked for something illegal in the current state (a bug; never retried)."""


class AuthenticationError(SmallestError):
    """The API key is missing or invalid (HTTP 401, refused upgrade)."""


class PermissionDeniedError(SmallestError):
    """The key is valid but not allowed here (HTTP 403: other workspace, product, limits)."""


class PlanNotEntitledError(PermissionDeniedError):
    """The account's plan does not include this feature or model (docs/protocol.md §8)."""


class InvalidRequestError(SmallestError):
    """The server rejected the request itself (400/404/422, invalid-field error frames)."""


class ModelDeprecatedError(InvalidRequestError):
    """A retired model or route (HTTP 410 ``MODEL_DEPRECATED``, docs/protocol.md §6)."""


class RateLimitError(SmallestError):
    """Too many requests or concurrent syntheses (429, concurrency frames, close 1008).

    ``retry_after`` carries the server's ``Retry-After`` in seconds when it sent one.
    """

    retryable = True


class ServerError(SmallestError):
    """The server failed (5xx, 408, unclassified error frames, close 1013)."""

    retryable = True


class ConnectionLostError(SmallestError):
    """The socket dropped or was closed before the request finished."""

    retryable = True


class ProtocolError(SmallestError):
    """The peer sent something we cannot parse (bad JSON, unknown status, binary frame)."""

    retryable = True


class RequestTimeoutError(SmallestError, builtins.TimeoutError):
    """Something took too long: the server's idle timeout (§5.1), a handshake, a read.

    Also a :class:`builtins.TimeoutError`, so ``except TimeoutError`` still catches it.
    """

    retryable = True


class TranscriptionLostError(ConnectionLostError):
    """A speech-to-text stream dropped after audio was sent: some audio may be untranscribed.

    The session does not retry it (a new socket restarts the server's audio clock and
    would need the audio again); the caller may resend from ``covered_seconds``.

    Attributes:
        covered_seconds: seconds of the stream's audio, from its start, that finals
            already covered (their transcripts were delivered).
        audio_seconds: seconds of audio sent before the drop (None for Opus).
    """

    def __init__(
        self,
        message: str,
        *,
        covered_seconds: float,
        audio_seconds: float | None,
        **kwargs: Any,
    ) -> None:
        super().__init__(message, **kwargs)
        self.covered_seconds = covered_seconds
        self.audio_seconds = audio_seconds
