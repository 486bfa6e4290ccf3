"""One mapping from the ``smallest_core`` error tree to what LangChain handles.

Tools raise :class:`~langchain_core.tools.ToolException`, the only exception
``handle_tool_error`` catches, so an agent sees a sentence it can act on instead of a
traceback. Each message says what went wrong and what to try next; the core's own
message (already redacted: it never holds the API key) follows for the details.
"""

from __future__ import annotations

from langchain_core.tools import ToolException
from pydantic import ValidationError

from smallest_core import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    PermissionDeniedError,
    PlanNotEntitledError,
    ProtocolError,
    RateLimitError,
    RequestTimeoutError,
    ServerError,
    SmallestError,
)

__all__ = ["to_tool_exception", "validation_message"]

# Most specific class first: the first row that matches wins.
_ADVICE: tuple[tuple[type[SmallestError], str], ...] = (
    (InvalidOptionError, "Invalid argument; call again with an allowed value."),
    (AuthenticationError, "Smallest rejected the API key; this cannot be fixed by retrying."),
    (PlanNotEntitledError, "The Smallest plan does not include this; use another model."),
    (PermissionDeniedError, "This API key is not allowed to do this."),
    (InvalidRequestError, "Smallest rejected the request; change the arguments."),
    (RateLimitError, "Smallest is rate limiting this key; wait and try again later."),
    (RequestTimeoutError, "The Smallest service timed out; try again later."),
    (ServerError, "The Smallest service failed; try again later."),
    (ConnectionLostError, "The Smallest service could not be reached; try again later."),
    (ProtocolError, "The Smallest service sent an unreadable reply; try again later."),
)


def to_tool_exception(error: SmallestError, hint: str | None = None) -> ToolException:
    """A :class:`ToolException` for ``error``: advice first, then the core's message.

    Args:
        error: the typed failure from ``smallest_core`` (retries already spent).
        hint: a sentence that replaces the generic advice when the caller knows better
            (e.g. the valid voices for an unknown ``voice_id``).
    """
    advice = hint or next(
        (text for cls, text in _ADVICE if isinstance(error, cls)), "Speech synthesis failed."
    )
    if isinstance(error, RateLimitError) and error.retry_after is not None:
        advice += f" (retry after {error.retry_after:g} s)"
    exc = ToolException(f"{advice} Details: {error}")
    exc.__cause__ = error
    return exc


def validation_message(error: ValidationError) -> str:
    """Tool-argument validation errors as one line per field (``handle_validation_error``).

    Pydantic's default text carries URLs and input dumps; a model acts better on
    ``sample_rate=22050: Input should be 8000, 16000, 24000 or 44100``.
    """
    lines = []
    for item in error.errors(include_url=False):
        field = ".".join(str(part) for part in item.get("loc", ())) or "input"
        shown = (
            f"={item['input']!r}" if "input" in item and not isinstance(item["input"], dict) else ""
        )
        lines.append(f"{field}{shown}: {item.get('msg', 'is not valid')}")
    return "Invalid tool arguments; fix them and call again. " + "; ".join(lines)
