"""The retry policy and the one rule every client retries by.

What lives here: :class:`RetryPolicy`, a pure function of (attempt, error, elapsed) →
delay that reads only ``error.retryable`` and ``error.retry_after`` (the websockets
``process_exception`` pattern), and :class:`Attempts`, the bookkeeping of one operation
under a policy — "retry only before the first output", written once and used by the
stream and both REST clients. What must not: sleeping or reading a clock (callers pass
``now`` in and do the waiting).
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .errors import ConnectionLostError, InvalidOptionError, SmallestError

__all__ = ["Attempts", "RetryPolicy"]

# 2**64 times any sane base delay is beyond every cap; stops float overflow.
_MAX_EXPONENT = 64


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Jittered exponential backoff that honours ``Retry-After`` and a deadline.

    docs/protocol.md §8: retry 408, 429 and 5xx (here: whatever is ``retryable``), honour
    ``Retry-After``, back off exponentially otherwise.

    Attributes:
        max_attempts: attempts in total, the first one included (1 = never retry).
        base_delay: seconds before the second attempt; doubled for each further one.
        max_delay: cap on the exponential delay (not on a server's ``Retry-After``).
        deadline: seconds from the first attempt after which nothing is retried; a
            delay that would end past it gives up instead.
        jitter: relative spread, e.g. 0.2 = ±20 % (keeps clients from retrying in step).

    Raises:
        InvalidOptionError: a negative delay, ``max_attempts`` < 1, ``jitter`` outside 0..1.
    """

    max_attempts: int = 3
    base_delay: float = 0.1
    max_delay: float = 2.0
    deadline: float = 10.0
    jitter: float = 0.2

    def __post_init__(self) -> None:
        if isinstance(self.max_attempts, bool) or not isinstance(self.max_attempts, int):
            raise InvalidOptionError("max_attempts", self.max_attempts, "an integer >= 1")
        if self.max_attempts < 1:
            raise InvalidOptionError("max_attempts", self.max_attempts, "an integer >= 1")
        for name in ("base_delay", "max_delay", "deadline"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
                raise InvalidOptionError(name, value, "a number >= 0 (seconds)")
        if isinstance(self.jitter, bool) or not isinstance(self.jitter, int | float):
            raise InvalidOptionError("jitter", self.jitter, "0..1")
        if not 0 <= self.jitter <= 1:
            raise InvalidOptionError("jitter", self.jitter, "0..1")

    def delay(
        self,
        attempt: int,
        error: SmallestError,
        elapsed: float,
        rng: random.Random | None = None,
    ) -> float | None:
        """Seconds to wait before the next attempt, or None to give up.

        Args:
            attempt: attempts made so far (1 after the first failure).
            error: why the last attempt failed.
            elapsed: seconds since the first attempt started.
            rng: source of jitter (default: the ``random`` module); pass a seeded
                ``random.Random`` for reproducible delays.

        Returns:
            None when ``error`` is not retryable, ``attempt`` reached ``max_attempts``,
            or waiting would pass the deadline. Otherwise ``error.retry_after`` when the
            server gave one (bounded only by the deadline), else
            ``min(max_delay, base_delay * 2**(attempt-1))`` ± jitter.
        """
        if not error.retryable or attempt >= self.max_attempts:
            return None
        retry_after = error.retry_after
        if retry_after is not None and math.isfinite(retry_after):
            wait = max(0.0, float(retry_after))
        else:
            exponent = min(max(attempt, 1) - 1, _MAX_EXPONENT)
            wait = min(self.max_delay, self.base_delay * 2.0**exponent)
            if self.jitter and wait:
                uniform = rng.uniform if rng is not None else random.uniform
                spread = uniform(-self.jitter, self.jitter)
                wait = max(0.0, wait * (1 + spread))
        if elapsed + wait > self.deadline:
            return None
        return wait


class Attempts:
    """One operation's attempts under a policy: retry only before the first output.

    The caller reports output with :meth:`output` (audio reached its caller) and asks
    :meth:`next_delay` after each failure: a delay to wait before the next attempt, or the
    error to raise. Once output went out nothing is retried (audio would be duplicated): a
    retryable failure then becomes :class:`ConnectionLostError` (from the original).

    Args:
        policy: the retry policy; None never retries.
        now: the monotonic time the operation started.
        what: how errors name the operation (e.g. ``"utterance u-1"``).
    """

    __slots__ = ("attempt", "policy", "produced", "started", "what")

    def __init__(self, policy: RetryPolicy | None, now: float, what: str = "the request"):
        self.policy = policy
        self.started = now
        self.what = what
        self.attempt = 0
        self.produced = False

    def output(self) -> None:
        """Output reached the caller: from now on nothing is retried."""
        self.produced = True

    def next_delay(self, error: SmallestError, now: float) -> float:
        """Seconds to wait before the next attempt.

        Raises:
            SmallestError: ``error`` when giving up (not retryable, attempts or deadline
                used up, no policy); a :class:`ConnectionLostError` from ``error`` when a
                retryable failure came after output.
        """
        if self.produced:
            if not error.retryable:
                raise error
            raise ConnectionLostError(
                f"{self.what} lost its stream after audio was delivered ({error}); "
                "not retried, to avoid duplicate audio",
                request_id=error.request_id,
            ) from error
        self.attempt += 1
        delay = self.policy.delay(self.attempt, error, now - self.started) if self.policy else None
        if delay is None:
            raise error
        return delay

    def remaining(self, now: float) -> float:
        """Seconds left before the policy's deadline (0 without a policy)."""
        if self.policy is None:
            return 0.0
        return max(0.0, self.policy.deadline - (now - self.started))
