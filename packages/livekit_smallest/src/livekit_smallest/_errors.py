"""One translation from the ``smallest_core`` error tree to LiveKit's ``APIError`` types.

An error that reaches LiveKit is marked ``retryable=False`` when the core already retried
what was worth retrying under the policy built from LiveKit's ``APIConnectOptions``, so a
LiveKit retry on top would multiply the attempts (and the dead air). The one exception is
an error the core never retries: a speech-to-text session lost after the server accepted
audio (``TranscriptionLostError``: what it heard cannot be replayed). LiveKit then reopens
the stream on a fresh session, so the agent keeps listening; it is the only retry there.
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


def to_api_error(err: SmallestError, *, retryable: bool = False) -> APIError:
    """The LiveKit error for ``err``; not retryable unless the caller says so (the core
    owns retries: only an error the core did not retry at all, such as a transcription
    session lost after its audio was accepted, may be left to LiveKit).

    Timeouts become ``APITimeoutError``; a lost socket or an unreadable frame
    ``APIConnectionError``; everything the server refused (HTTP status, error frame,
    rate-limit close) ``APIStatusError`` with the HTTP status when there was one, else -1
    (WebSocket close codes are not HTTP statuses, so they are never put there).
    Messages are already redacted by the core.
    """
    message = str(err)
    if isinstance(err, RequestTimeoutError):
        return APITimeoutError(message, retryable=retryable)
    if isinstance(err, ConnectionLostError | ProtocolError):
        return APIConnectionError(message, retryable=retryable)
    status = err.status_code if err.status_code is not None else -1
    if status == _SILENT_STATUS:
        status = -1
    return APIStatusError(
        message,
        status_code=status,
        request_id=err.server_request_id or err.request_id,
        body=err.body,
        retryable=retryable,
    )
