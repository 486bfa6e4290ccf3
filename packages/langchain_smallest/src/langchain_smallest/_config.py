"""Settings every public class shares: the key, the endpoint, timeouts and retries.

One place so the tools, the toolkit and :class:`~langchain_smallest.SmallestSpeech`
read the same environment variables and build the core's clients the same way.
"""

from __future__ import annotations

from typing import Any

from langchain_core.utils import from_env, secret_from_env
from pydantic import Field, SecretStr

from smallest_core import API_KEY_ENV, BASE_URL_ENV, DEFAULT_HTTP_BASE, RetryPolicy

__all__ = [
    "API_KEY_ENV",
    "BASE_URL_ENV",
    "api_key_field",
    "base_url_field",
    "check_settings",
    "retry_policy",
]

MISSING_KEY = f"no Smallest API key: pass api_key=... or set {API_KEY_ENV}"


def api_key_field() -> Any:
    """``api_key: SecretStr``, default ``$SMALLEST_API_KEY``; a clear error when unset."""
    return Field(
        default_factory=secret_from_env(API_KEY_ENV, error_message=MISSING_KEY),
        description=f"Smallest API key (default: ${API_KEY_ENV}).",
    )


def base_url_field() -> Any:
    """``base_url: str``, default ``$SMALLEST_BASE_URL`` or the public API."""
    return Field(
        default_factory=from_env(BASE_URL_ENV, default=DEFAULT_HTTP_BASE),
        description=(
            f"HTTP(S) base URL of the API (default: ${BASE_URL_ENV} or {DEFAULT_HTTP_BASE}); "
            "the WebSocket URL is derived from it."
        ),
    )


def check_settings(api_key: SecretStr, timeout: float, max_retries: int) -> None:
    """Reject an empty key, a non-positive timeout or a negative retry count.

    Raises:
        ValueError: naming the field and what is allowed.
    """
    if not api_key.get_secret_value().strip():
        raise ValueError(MISSING_KEY)
    if not timeout > 0:
        raise ValueError(f"timeout={timeout!r} is not allowed; allowed: a number of seconds > 0")
    if max_retries < 0:
        raise ValueError(f"max_retries={max_retries!r} is not allowed; allowed: an integer >= 0")


def retry_policy(max_retries: int) -> RetryPolicy:
    """The core's retry policy for ``max_retries`` retries after the first attempt.

    The core is the one retry owner: wrapping these objects in LangChain's
    ``with_retry()`` as well would multiply the attempts.
    """
    return RetryPolicy(max_attempts=max_retries + 1)
