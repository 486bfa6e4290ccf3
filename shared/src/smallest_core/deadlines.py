"""How long an utterance may stay silent, for callers that have their own limit.

The core retires a socket that owes an utterance frames and sends none for
``finish_timeout`` seconds, and retries the utterance elsewhere while it has produced
no audio (:class:`~smallest_core.Utterance`). A framework that gives up on a silent
stream itself (Pipecat's ``stop_frame_timeout_s``) should let the core decide first:
the core can still recover, the framework can only report.
"""

from __future__ import annotations

__all__ = ["FINISH_TIMEOUT_S", "finish_timeout_within"]

#: The default ``finish_timeout`` of an utterance: the longest silence, after ``end()``
#: or while frames are owed, before its socket is retired.
FINISH_TIMEOUT_S = 5.0
#: The share of a caller's own silence limit that the core's deadline takes.
_SHARE = 0.8


def finish_timeout_within(limit_s: float) -> float:
    """The ``finish_timeout`` for an utterance whose caller gives up after ``limit_s``
    seconds of silence: 80 % of it, so the core acts first, at most the default.

    Raises:
        ValueError: ``limit_s`` is not a positive number of seconds.
    """
    if not limit_s > 0:
        raise ValueError(f"limit_s must be a positive number of seconds, got {limit_s!r}")
    return min(FINISH_TIMEOUT_S, _SHARE * limit_s)
