"""The STT catalogue × every adapter × the server's STT dialects, and the STT faults.

Speech scenarios run under each dialect whose reading could change what an adapter
delivers (``docs``: the server README's "STT dialects"): ``pulse``, ``no-from-finalize``
(a finalize answered by a final without ``from_finalize``), ``close-stream-only``
(finalize ignored), ``direct`` (keepalive and error frames as the direct server),
``transcription-only`` / ``transcript-only`` (one text field), ``client-closes`` (the
server waits for the client to close after ``is_last``). The batch tool has one reading
(``(HTTP)`` in the matrix). Faults run under ``pulse``. Every adapter must give the same
outcome: the exact transcript or the same typed error, within a bounded time.
"""

from __future__ import annotations

from functools import partial

import pytest

from smallest_local import Server
from tests.support.stt_drivers import STT_ADAPTERS, STT_STREAMING, stt_driver
from tests.support.stt_scenarios import FAULTS, SCENARIOS, applicable, run_fault

STT_DIALECTS = (
    "pulse",
    "no-from-finalize",
    "close-stream-only",
    "direct",
    "transcription-only",
    "transcript-only",
    "client-closes",
)


def cases() -> list:
    out = []
    for dialect in STT_DIALECTS:
        mark = pytest.mark.smallest_server(stt_dialect=dialect)
        for adapter in STT_ADAPTERS:
            if adapter not in STT_STREAMING and dialect != "pulse":
                continue  # batch: no dialects, one reading
            for name in SCENARIOS:
                if applicable(name, adapter):
                    out.append(
                        pytest.param(
                            name, adapter, dialect, marks=mark, id=f"{name}|{adapter}|{dialect}"
                        )
                    )
    return out


def fault_cases() -> list:
    return [
        pytest.param(name, adapter, id=f"{name}|{adapter}")
        for name in FAULTS
        for adapter in STT_ADAPTERS
        if applicable(name, adapter)
    ]


@pytest.mark.parametrize(("name", "adapter", "dialect"), cases())
async def test_stt_scenario(name: str, adapter: str, dialect: str, smallest_server: Server) -> None:
    assert smallest_server.config.stt_dialect == dialect
    await SCENARIOS[name](partial(stt_driver, adapter, smallest_server), smallest_server)


@pytest.mark.parametrize(("name", "adapter"), fault_cases())
async def test_stt_fault(name: str, adapter: str, smallest_server: Server) -> None:
    await run_fault(name, partial(stt_driver, adapter, smallest_server), smallest_server)
