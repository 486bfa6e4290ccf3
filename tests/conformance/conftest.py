"""Assertion rewriting for the shared catalogues and drivers (plain modules, not tests)."""

import pytest

pytest.register_assert_rewrite(
    "tests.support.scenarios",
    "tests.support.drivers",
    "tests.support.stt_scenarios",
    "tests.support.stt_drivers",
)
