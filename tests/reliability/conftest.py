"""Shared fixtures for the reliability suite: WARNING capture across logging and loguru."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest

pytest.register_assert_rewrite("tests.support.scenarios", "tests.support.drivers")

#: loggers of the core and the adapters (pipecat_smallest logs through loguru)
OURS = ("smallest_core", "livekit.plugins.smallest", "langchain_smallest", "pipecat_smallest")


class Warnings:
    """WARNING+ messages our code logged during the test (stdlib logging and loguru)."""

    def __init__(self, caplog: pytest.LogCaptureFixture) -> None:
        self.caplog = caplog
        self.loguru: list[str] = []

    def __call__(self) -> list[str]:
        std = [
            r.getMessage()
            for r in self.caplog.records
            if r.levelno >= logging.WARNING and r.name.startswith(OURS)
        ]
        return std + self.loguru


@pytest.fixture
def warnings_from_us(caplog: pytest.LogCaptureFixture) -> Iterator[Warnings]:
    from loguru import logger

    caplog.set_level(logging.INFO)
    seen = Warnings(caplog)

    def sink(message: object) -> None:
        record = message.record  # type: ignore[attr-defined]
        if record["extra"].get("name", "").startswith(OURS):
            seen.loguru.append(record["message"])

    handler = logger.add(sink, level="WARNING")
    yield seen
    logger.remove(handler)
