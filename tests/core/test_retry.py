"""RetryPolicy: a pure function of (attempt, error, elapsed) → delay or give up (PROTOCOL.md §8)."""

from __future__ import annotations

import dataclasses
import random

import pytest

from smallest_core.errors import (
    AuthenticationError,
    ConnectionLostError,
    InvalidOptionError,
    InvalidRequestError,
    InvalidState,
    RateLimitError,
    ServerError,
)
from smallest_core.retry import Attempts, RetryPolicy

NO_JITTER = RetryPolicy(max_attempts=10, base_delay=0.1, max_delay=1.0, deadline=60.0, jitter=0)


class TestGivingUp:
    """Retry only what may succeed, within the attempts and the deadline."""

    @pytest.mark.parametrize(
        "error",
        [AuthenticationError("no"), InvalidState("bug"), ServerError("x", retryable=False)],
    )
    def test_non_retryable_errors_are_never_retried(self, error):
        assert RetryPolicy().delay(1, error, 0.0) is None

    def test_attempts_are_counted_including_the_first(self):
        policy = RetryPolicy(max_attempts=3, jitter=0)
        err = ServerError("x")
        assert policy.delay(1, err, 0.0) is not None
        assert policy.delay(2, err, 0.0) is not None
        assert policy.delay(3, err, 0.0) is None

    def test_one_attempt_means_no_retry(self):
        assert RetryPolicy(max_attempts=1).delay(1, ServerError("x"), 0.0) is None

    def test_a_delay_that_would_pass_the_deadline_gives_up(self):
        policy = RetryPolicy(base_delay=1.0, max_delay=1.0, deadline=10.0, jitter=0)
        assert policy.delay(1, ServerError("x"), 8.9) == 1.0
        assert policy.delay(1, ServerError("x"), 9.1) is None


class TestBackoff:
    """Exponential from ``base_delay``, capped by ``max_delay``, spread by ``jitter``."""

    def test_exponential_then_capped(self):
        err = ConnectionLostError("x")
        delays = [NO_JITTER.delay(n, err, 0.0) for n in range(1, 7)]
        assert delays == pytest.approx([0.1, 0.2, 0.4, 0.8, 1.0, 1.0])

    def test_jitter_stays_within_its_bounds_and_varies(self):
        policy = RetryPolicy(base_delay=1.0, max_delay=1.0, jitter=0.2)
        rng = random.Random(7)
        delays = {policy.delay(1, ServerError("x"), 0.0, rng) for _ in range(200)}
        assert all(d is not None and 0.8 <= d <= 1.2 for d in delays)
        assert len(delays) > 100

    def test_seeded_rng_gives_reproducible_delays(self):
        policy = RetryPolicy()
        first = [policy.delay(1, ServerError("x"), 0, random.Random(1)) for _ in range(3)]
        assert first == [policy.delay(1, ServerError("x"), 0, random.Random(1))] * 3

    def test_zero_delays_stay_zero(self):
        policy = RetryPolicy(max_attempts=4, base_delay=0.0, max_delay=0.0, deadline=10.0)
        assert policy.delay(3, ServerError("x"), 0.0) == 0.0

    def test_huge_attempt_numbers_do_not_overflow(self):
        policy = RetryPolicy(max_attempts=10**6, jitter=0)
        assert policy.delay(10**5, ServerError("x"), 0.0) == policy.max_delay


class TestRetryAfter:
    """§8: honour the server's Retry-After; only the deadline bounds it."""

    def test_retry_after_replaces_the_backoff_even_above_max_delay(self):
        err = RateLimitError("slow", retry_after=5.0)
        assert NO_JITTER.delay(1, err, 0.0) == 5.0

    def test_retry_after_is_not_jittered(self):
        policy = RetryPolicy(jitter=1.0)
        assert policy.delay(1, RateLimitError("x", retry_after=0.5), 0, random.Random(3)) == 0.5

    def test_retry_after_beyond_the_deadline_gives_up(self):
        err = RateLimitError("slow", retry_after=30.0)
        assert RetryPolicy(deadline=10.0).delay(1, err, 0.0) is None

    def test_retry_after_zero_retries_at_once(self):
        assert RetryPolicy().delay(1, RateLimitError("x", retry_after=0.0), 0.0) == 0.0


class TestConfiguration:
    """The policy checks itself like TTSOptions does."""

    @pytest.mark.parametrize(
        ("field", "value"),
        [
            ("max_attempts", 0),
            ("max_attempts", 2.0),
            ("max_attempts", True),
            ("base_delay", -0.1),
            ("max_delay", float("nan")),
            ("deadline", "10"),
            ("jitter", 1.5),
            ("jitter", -0.1),
        ],
    )
    def test_bad_values_are_rejected_by_name(self, field: str, value: object):
        with pytest.raises(InvalidOptionError, match=rf"^{field}="):
            RetryPolicy(**{field: value})  # type: ignore[arg-type]

    def test_defaults(self):
        assert RetryPolicy() == RetryPolicy(
            max_attempts=3, base_delay=0.1, max_delay=2.0, deadline=10.0, jitter=0.2
        )

    def test_frozen(self):
        with pytest.raises(dataclasses.FrozenInstanceError):
            RetryPolicy().max_attempts = 9  # type: ignore[misc]


class TestAttempts:
    """The one "retry only before the first output" rule (stream and both REST clients)."""

    POLICY = RetryPolicy(max_attempts=3, base_delay=0.1, max_delay=1.0, deadline=5.0, jitter=0)

    def test_retryable_failures_get_delays_until_attempts_run_out(self):
        attempts = Attempts(self.POLICY, now=100.0)
        assert attempts.next_delay(ServerError("x"), now=100.0) == 0.1
        assert attempts.next_delay(ServerError("x"), now=100.2) == 0.2
        with pytest.raises(ServerError):
            attempts.next_delay(ServerError("third"), now=100.5)

    def test_after_output_a_retryable_failure_is_connection_lost_from_it(self):
        attempts = Attempts(self.POLICY, now=0.0, what="utterance u-1")
        attempts.output()
        cause = ServerError("dropped", request_id="u-1")
        with pytest.raises(ConnectionLostError, match="utterance u-1") as info:
            attempts.next_delay(cause, now=0.1)
        assert info.value.__cause__ is cause and info.value.request_id == "u-1"

    def test_after_output_a_final_error_is_raised_as_it_is(self):
        attempts = Attempts(self.POLICY, now=0.0)
        attempts.output()
        final = InvalidRequestError("bad voice")
        with pytest.raises(InvalidRequestError):
            attempts.next_delay(final, now=0.0)

    def test_no_policy_never_retries_and_has_no_time_left(self):
        attempts = Attempts(None, now=0.0)
        with pytest.raises(ServerError):
            attempts.next_delay(ServerError("x"), now=0.0)
        assert attempts.remaining(now=1.0) == 0.0

    def test_remaining_counts_down_to_the_deadline(self):
        attempts = Attempts(self.POLICY, now=10.0)
        assert attempts.remaining(now=12.0) == pytest.approx(3.0)
        assert attempts.remaining(now=20.0) == 0.0
