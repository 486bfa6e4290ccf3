"""One translation from the ``smallest_core`` error tree to LiveKit's ``APIError`` types.

Every error that reaches LiveKit is marked ``retryable=False``: the core already retried
what was worth retrying under the policy built from LiveKit's ``APIConnectOptions``
(``tts._retry_policy``), so a LiveKit retry on top would multiply the attempts (and the
dead air) instead of adding a safety net.
"""

from __future__ import annotations

from livekit.agents import APIConnectionError, APIError, APIStatusError, APITimeoutError

from smallest_core import (
    ConnectionLostError,
    ProtocolError,
    RequestTimeoutError,
    SmallestError,
)

# LiveKit ends a stream silently on 499 ("client closed request"); a server status of
# 499 must never be read that way, so it is reported without a status code.
_SILENT_STATUS = 499


def to_api_error(err: SmallestError) -> APIError:
    """The LiveKit error for ``err``, never retryable (the core owns retries).

    Timeouts become ``APITimeoutError``; a lost socket or an unreadable frame
    ``APIConnectionError``; everything the server refused (HTTP status, error frame,
    rate-limit close) ``APIStatusError`` with the HTTP status when there was one, else -1
    (WebSocket close codes are not HTTP statuses, so they are never put there).
    Messages are already redacted by the core.
    """
    message = str(err)
    if isinstance(err, RequestTimeoutError):
        return APITimeoutError(message, retryable=False)
    if isinstance(err, ConnectionLostError | ProtocolError):
        return APIConnectionError(message, retryable=False)
    status = err.status_code if err.status_code is not None else -1
    if status == _SILENT_STATUS:
        status = -1
    return APIStatusError(
        message,
        status_code=status,
        request_id=err.server_request_id or err.request_id,
        body=err.body,
        retryable=False,
    )
