"""``smallest-local serve --control``: faults and the close log from another process.

The close-to-error benchmark runs the server in its own process and scripts a close or
an abort through ``/_local/faults``, then reads when it hit the wire from
``/_local/close_log``. These check the routes against the in-process controls they
stand for, their refusals, and that they exist only when asked for.
"""

from __future__ import annotations

import time

import httpx
import pytest

from smallest_core import ConnectionPool, SmallestError, TTSOptions
from smallest_local import Server
from smallest_local.faults import FaultKind

from .wsclient import TLS

KEY = "sk_control_test_0001"


@pytest.fixture
def server() -> Server:
    with Server(engine="tone", api_keys=(KEY,), control=True) as srv:
        yield srv  # type: ignore[misc]


def _client(server: Server, key: str = KEY) -> httpx.Client:
    return httpx.Client(
        verify=TLS, base_url=server.http_url, headers={"Authorization": f"Bearer {key}"}
    )


async def test_a_scripted_close_reaches_the_client_and_the_log(server: Server) -> None:
    with _client(server) as http:
        answer = http.post(
            "/_local/faults",
            json={
                "kind": "close_after_chunks",
                "after_chunks": 2,
                "code": 1011,
                "request_id": "c1",
            },
        )
        assert answer.status_code == 200 and answer.json() == {"added": "close_after_chunks"}
        before = time.perf_counter_ns()
        async with ConnectionPool(
            api_key=KEY, base_url=server.ws_url, options=TTSOptions(sample_rate=16000)
        ) as pool:
            utt = await pool.utterance("c1")
            await utt.end("one two three four five six")
            with pytest.raises(SmallestError):
                async for _event in utt:
                    pass
        log = http.get("/_local/close_log").json()
        assert log["next"] == 1
        [(client_id, what, ns)] = log["entries"]
        assert (client_id, what) == ("c1", "close 1011")
        assert before < ns < time.perf_counter_ns()  # CLOCK_MONOTONIC: this process's scale
        assert http.get("/_local/close_log", params={"since": 1}).json() == {
            "entries": [],
            "next": 1,
        }


def test_faults_added_and_cleared_as_in_process(server: Server) -> None:
    with _client(server) as http:
        http.post("/_local/faults", json={"kind": "abort_after_chunks", "after_chunks": 3})
        http.post("/_local/faults", json={"kind": "stall", "seconds": 1.5, "times": None})
        http.post(
            "/_local/faults",
            json={"kind": "idle_close", "seconds": 0.5, "between_requests": True},
        )
        pending = server.faults.pending
        assert [(f.kind, f.after_chunks) for f in pending] == [
            (FaultKind.ABORT_AFTER_CHUNKS, 3),
            (FaultKind.STALL, 0),
            (FaultKind.IDLE_CLOSE, 0),
        ]
        assert pending[1].seconds == 1.5 and pending[1].times is None
        assert pending[2].between_requests and not pending[1].between_requests
        assert http.delete("/_local/faults").json() == {"cleared": True}
        assert server.faults.pending == []
        assert server.stats.http_requests == 0  # control calls are not API traffic


@pytest.mark.parametrize(
    ("body", "problem"),
    [
        ({"kind": "no_such_kind"}, "'kind' must be one of"),
        ({}, "'kind' must be one of"),
        ({"kind": "stall", "speed": 2}, "Unknown Fault field 'speed'"),
        ({"kind": "stall", "fired": 3}, "Unknown Fault field 'fired'"),
        ({"kind": "stall", "after_chunks": "3"}, "Invalid 'after_chunks'"),
        ({"kind": "stall", "after_chunks": True}, "Invalid 'after_chunks'"),
        ({"kind": "idle_close", "between_requests": 1}, "Invalid 'between_requests'"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_bad_fault_bodies_are_refused(server: Server, body: object, problem: str) -> None:
    with _client(server) as http:
        answer = http.post("/_local/faults", json=body)
    assert answer.status_code == 400
    assert problem in answer.json()["message"]
    assert server.faults.pending == []


def test_controls_need_the_key_and_leave_http_faults_alone(server: Server) -> None:
    with _client(server, key="sk_wrong_key_000") as http:
        assert http.delete("/_local/faults").status_code == 401
    server.faults.http_error(503, times=1)
    with _client(server) as http:
        assert http.get("/_local/close_log").status_code == 200
        assert http.get("/_local/close_log", params={"since": "-1"}).status_code == 400
    assert [f.kind for f in server.faults.pending] == [FaultKind.HTTP_STATUS]  # not taken


def test_no_controls_unless_asked() -> None:
    with Server(engine="tone", api_keys=(KEY,)) as plain, _client(plain) as http:
        assert http.post("/_local/faults", json={"kind": "stall"}).status_code == 404
        assert http.get("/_local/close_log").status_code == 404
        assert plain.stats.close_log is None
