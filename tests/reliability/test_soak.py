"""The soak's short form (``bench/soak.py`` runs the long one: 50 sessions × 200 turns).

Concurrent sessions through every streaming adapter, random barge-ins and server faults:
every utterance spoken, cancelled or failed with a typed error; no socket or task left
behind; every session freed once closed; RSS flat between the warm-up and the end.
"""

from __future__ import annotations

import logging

from tests.support.soak import soak


async def test_short_soak_accounts_for_every_utterance_and_leaks_nothing() -> None:
    # As bench/soak.py runs: logging off. pytest's capture handler keeps every LogRecord
    # for the test's duration, and a record carrying an exception (the faults log them)
    # keeps its traceback's frames, hence the closed sessions, reachable.
    previous = logging.root.manager.disable
    logging.disable(logging.CRITICAL)
    try:
        report = await soak(sessions=6, utterances=8, seed=7)
    finally:
        logging.disable(previous)
    figures = "\n".join(report.lines())
    assert report.problems == [], figures
    assert report.accounted == 48, figures
    assert report.outcomes["spoken"] and report.outcomes["cancelled"], figures
    assert report.faults_fired > 0, figures
    assert report.sockets_left_open == 0 and report.tasks_left == 0, figures
    assert report.sessions_alive == 0, figures
    # LiveKit keeps each turn's events and chat items for the session's life: dropped
    assert report.trimmed["events"] > 0 and report.trimmed["chat items"] > 0, figures
    assert report.rss_growth <= 0.05, figures
