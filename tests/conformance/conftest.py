"""Assertion rewriting for the shared catalogue and drivers (plain modules, not tests)."""

import pytest

pytest.register_assert_rewrite("tests.support.scenarios", "tests.support.drivers")
