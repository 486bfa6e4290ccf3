"""The catalogue × every adapter × every server reading of continuations (§12).

Dialects (docs/protocol.md §12, §13): ``context`` (one ``complete``
per context), ``release-ids`` (a fresh server id per sentence release), ``release`` (a
``complete`` per release too), and the ``-bare`` forms (``context_id`` never echoed). The
release dialects leave a realistic gap between releases, so an adapter that took the
first ``complete`` for the end would lose the rest of the turn.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial

import pytest

from smallest_local import Server
from tests.support.drivers import ADAPTERS, STREAMING, Driver, driver
from tests.support.scenarios import SCENARIOS, applicable

DIALECTS = ("context", "context-bare", "release-ids", "release", "release-bare")
RELEASE_GAP_MS = 20.0


def cases() -> list:
    out = []
    for dialect in DIALECTS:
        mark = pytest.mark.smallest_server(dialect=dialect, release_gap_ms=RELEASE_GAP_MS)
        for adapter in ADAPTERS:
            if adapter not in STREAMING and dialect != "context":
                continue  # HTTP: no continuations, one reading only
            for name in SCENARIOS:
                if applicable(name, adapter):
                    out.append(
                        pytest.param(
                            name, adapter, dialect, marks=mark, id=f"{name}|{adapter}|{dialect}"
                        )
                    )
    return out


@pytest.mark.parametrize(("name", "adapter", "dialect"), cases())
async def test_scenario(name: str, adapter: str, dialect: str, smallest_server: Server) -> None:
    assert smallest_server.config.dialect == dialect
    make: Callable[..., Driver] = partial(driver, adapter, smallest_server)
    await SCENARIOS[name](make, smallest_server)
