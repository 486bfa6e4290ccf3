"""The API key never leaks: not in a log record, a repr, an exception text or captured output.

Every adapter runs its happy path, a fault after audio (a typed error carrying the core's
message) and a refused key, with stdlib logging at DEBUG on every logger, loguru (Pipecat)
at DEBUG, and stdout/stderr captured at the file-descriptor level. A recognisable key is
used both with the ``sk_`` prefix and without it (redaction must not rely on the prefix).
"""

from __future__ import annotations

import logging
from typing import Any

import pytest
from loguru import logger as loguru

from smallest_local import Server
from tests.support.drivers import ADAPTERS, Driver, driver
from tests.support.scenarios import tokens_of

KEYS = ("sk_conformance_SECRET_4b1d9e02c7", "conformanceSECRETnoprefix77aa31f0")
WRONG = "sk_wrong_SECRET_key_9c3e51aa"


def reprs(d: Driver) -> list[str]:
    """The repr/str of every object an app holds for this adapter."""
    objs: list[Any] = [d]
    for name in ("tts", "speech", "tool", "llm"):
        obj = getattr(d, name, None)
        if obj is not None:
            objs.append(obj)
            for attr in ("pool", "_pool", "_rest", "client"):
                inner = getattr(obj, attr, None)
                if inner is not None and not callable(inner):
                    objs.append(inner)
    return [repr(o) for o in objs] + [str(o) for o in objs]


@pytest.mark.parametrize("adapter", ADAPTERS)
@pytest.mark.parametrize(
    "key", [pytest.param(k, marks=pytest.mark.smallest_server(api_keys=(k,))) for k in KEYS]
)
async def test_the_key_appears_nowhere(
    key: str,
    adapter: str,
    smallest_server: Server,
    caplog: pytest.LogCaptureFixture,
    capfd: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    debug: list[str] = []
    sink = loguru.add(lambda m: debug.append(str(m)), level="DEBUG")
    texts: list[str] = []
    try:
        async with driver(adapter, smallest_server, api_key=key) as d:
            ok = await d.speak(tokens_of("Hello there, this is fine."))
            assert ok.error is None and ok.audio
            if adapter != "langchain-tool":
                smallest_server.set_latency(realtime_factor=0.25, chunk_ms=20)
            smallest_server.faults.abort_after(5)
            broken = await d.speak(tokens_of("Five words are spoken here."))
            texts += reprs(d)
        for turn in (ok, broken):
            texts += [str(turn.error), repr(turn.error)]
            cause = getattr(turn.error, "__cause__", None) or getattr(turn.error, "exception", None)
            texts += [str(cause), repr(cause)]
        smallest_server.set_latency(realtime_factor=0.0)
        async with driver(adapter, smallest_server, api_key=WRONG) as bad:
            refused = await bad.speak(tokens_of("Refused."))
            texts += [*reprs(bad), str(refused.error), repr(refused.error)]
            texts += [repr(e) for e in bad.errors()]
        assert refused.error is not None, "a wrong key was accepted"
    finally:
        loguru.remove(sink)
    out, err = capfd.readouterr()
    records = [r.getMessage() for r in caplog.records] + [str(r.args) for r in caplog.records]
    assert caplog.records, "DEBUG logging captured nothing: the check would be empty"
    for secret in (key, WRONG):
        for where, haystack in (
            ("log records", records),
            ("loguru", debug),
            ("reprs and errors", texts),
            ("stdout/stderr", [out, err]),
        ):
            hits = [h for h in haystack if secret in h]
            assert not hits, f"the key leaked into {where}: {hits[0][:300]}"
