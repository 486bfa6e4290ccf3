"""The retry policy: how long to wait before the next attempt, or whether to give up.

What lives here: :class:`RetryPolicy`, a pure function of (attempt, error, elapsed) →
delay. It reads only ``error.retryable`` and ``error.retry_after`` (the websockets
``process_exception`` pattern). What must not: sleeping, clocks, or knowing whether audio
already reached the caller — the transport retries only before the first audio and
passes the elapsed time in.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass

from .errors import InvalidOptionError, SmallestError

__all__ = ["RetryPolicy"]

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
