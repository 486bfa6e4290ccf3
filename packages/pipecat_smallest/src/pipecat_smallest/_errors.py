"""One mapping from the ``smallest_core`` error tree to Pipecat's error reporting.

Errors reach Pipecat as ``ErrorFrame``\\ s whose ``category`` tells the pipeline worker
whether the service is still usable: credentials, permissions and malformed requests
are permanent (Pipecat then stops giving the service work); a value the application
chose that was refused locally is the application's; everything transient —
dropped sockets, timeouts, server faults, rate limits — is not, so the next turn speaks.
"""

from __future__ import annotations

from pipecat.frames.frames import ErrorFrame
from pipecat.utils.errors import ErrorCategory

from smallest_core import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SmallestError,
)

__all__ = ["error_category", "error_frame"]

# Most specific first: PlanNotEntitledError is a PermissionDeniedError, and
# ModelDeprecatedError an InvalidRequestError.
_CATEGORIES: tuple[tuple[type[SmallestError], ErrorCategory], ...] = (
    (AuthenticationError, ErrorCategory.AUTHENTICATION),
    (PermissionDeniedError, ErrorCategory.AUTHORIZATION),
    # A value the application chose was refused locally (e.g. a settings update): the
    # service keeps its previous settings and stays usable.
    (InvalidOptionError, ErrorCategory.APPLICATION),
    (InvalidRequestError, ErrorCategory.INVALID_REQUEST),
    (RateLimitError, ErrorCategory.RATE_LIMIT),
    (ServerError, ErrorCategory.SERVER),
    (ConnectionLostError, ErrorCategory.CONNECTIVITY),
    (RequestTimeoutError, ErrorCategory.CONNECTIVITY),
    (ProtocolError, ErrorCategory.SERVER),
)


def error_category(error: SmallestError) -> ErrorCategory:
    """The Pipecat category of a core error (``UNKNOWN`` for anything unlisted).

    A request the server refused for its *text* (too long, not speakable) says nothing
    about the service: the next turn's text may be fine, so it is the application's, as
    Pipecat's ``APPLICATION`` category reads ("application-supplied content a provider
    rejected"). A refused setting (voice, model, ...) stays ``INVALID_REQUEST``: it will
    fail every turn until the settings change.
    """
    if isinstance(error, InvalidRequestError) and error.field == "text":
        return ErrorCategory.APPLICATION
    for cls, category in _CATEGORIES:
        if isinstance(error, cls):
            return category
    return ErrorCategory.UNKNOWN


def error_frame(error: SmallestError, *, service: str = "TTS") -> ErrorFrame:
    """An ``ErrorFrame`` for a core error that reached the framework.

    The core's retry policy already had its turn (it is the only retry owner), so the
    error is marked non-retryable before anyone downstream sees it. Its traceback is
    dropped: it points into the core's plumbing, not the application, and Pipecat
    would read source files to quote its last line in the log; the typed error and its
    message say what happened. ``service`` names it in the text (``TTS`` or ``STT``).
    """
    error.retryable = False
    return ErrorFrame(
        error=f"Smallest {service}: {error}",
        exception=error.with_traceback(None),
        category=error_category(error),
    )
