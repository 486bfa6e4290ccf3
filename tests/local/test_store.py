"""Unit tests of ``smallest_local.store``: clone lifecycle, dictionaries, durability.

No server is involved: the store is driven directly, with an injected clock so clone
jobs move through their states without sleeping (PROTOCOL.md §7).
"""

from __future__ import annotations

import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smallest_local.store import Store, format_timestamp
from tests.support.clock import PENDING_S, PROCESSING_S, START, FakeClock


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def store(clock: FakeClock) -> Iterator[Store]:
    with Store(":memory:", pending_s=PENDING_S, processing_s=PROCESSING_S, clock=clock) as s:
        yield s


# -- clone jobs ------------------------------------------------------------------------------


def test_create_clone_returns_the_create_response_shape(store: Store) -> None:
    data = store.create_clone(
        display_name="Me",
        model="lightning-v3.1-pro",
        language="en",
        audio_file_names=["me.wav"],
    )
    assert set(data) == {
        "voiceId",
        "displayName",
        "model",
        "status",
        "language",
        "audioFileNames",
        "createdAt",
        "organizationId",
        "samples",
    }
    assert re.fullmatch(r"voice_[A-Za-z0-9]{10}", data["voiceId"])
    assert data["status"] == "pending"
    assert data["model"] == "lightning-v3.1-pro"
    assert data["audioFileNames"] == ["me.wav"]
    assert data["createdAt"] == format_timestamp(START)


def test_clone_status_follows_the_clock(store: Store, clock: FakeClock) -> None:
    voice_id = store.create_clone(display_name="A")["voiceId"]
    seen = []
    for step in (0.0, PENDING_S - 0.01, 0.01, PROCESSING_S - 0.01, 0.01, 1000.0):
        clock.advance(step)
        clone = store.get_clone(voice_id)
        assert clone is not None
        seen.append((clone["status"], store.voice_is_ready(voice_id)))
    assert seen == [
        ("pending", False),
        ("pending", False),
        ("processing", False),
        ("processing", False),
        ("completed", True),
        ("completed", True),
    ]


def test_failed_clone_reports_reason_and_is_never_ready(store: Store, clock: FakeClock) -> None:
    voice_id = store.create_clone(display_name="B", fail_reason="bad audio")["voiceId"]
    assert store.get_clone(voice_id)["status"] == "pending"  # type: ignore[index]
    clock.advance(PENDING_S + PROCESSING_S)
    clone = store.get_clone(voice_id)
    assert clone is not None
    assert clone["status"] == "failed"
    assert clone["error"] == "bad audio"
    assert not store.voice_is_ready(voice_id)


def test_zero_durations_complete_at_once(clock: FakeClock) -> None:
    with Store(pending_s=0, processing_s=0, clock=clock) as store:
        data = store.create_clone(display_name="Now")
        assert data["status"] == "completed"
        assert store.voice_is_ready(data["voiceId"])


def test_negative_durations_are_rejected() -> None:
    with pytest.raises(ValueError, match="durations"):
        Store(pending_s=-1)


def test_list_clones_shape_order_and_clock_swap(store: Store) -> None:
    first = store.create_clone(display_name="One", tags=["en", "calm"], accent="indian")
    second = store.create_clone(display_name="Two", description="d", language="hi")
    listed = store.list_clones()
    assert [c["voiceId"] for c in listed] == [first["voiceId"], second["voiceId"]]
    entry = listed[0]
    assert set(entry) == {
        "_id",
        "voiceId",
        "displayName",
        "description",
        "accent",
        "tags",
        "language",
        "status",
        "cloningType",
        "modelIds",
        "createdAt",
    }
    assert re.fullmatch(r"[0-9a-f]{24}", entry["_id"])
    assert entry["tags"] == ["en", "calm"]
    assert entry["accent"] == "indian"
    assert entry["cloningType"] == "instant"
    assert entry["modelIds"] == ["lightning-v3.1"]
    assert listed[1]["language"] == "hi"
    # The clock is a public attribute: a test may swap it on a live store.
    store.clock = lambda: START + 10_000
    assert {c["status"] for c in store.list_clones()} == {"completed"}


def test_delete_clone(store: Store) -> None:
    voice_id = store.create_clone(display_name="Gone")["voiceId"]
    assert store.delete_clone(voice_id) is True
    assert store.get_clone(voice_id) is None
    assert store.delete_clone(voice_id) is False
    assert store.list_clones() == []
    assert not store.voice_is_ready("voice_unknown123")


# -- dictionaries ----------------------------------------------------------------------------


def test_dictionary_crud(store: Store) -> None:
    created = store.create_dict([("mysql", "my-sequel")])
    assert re.fullmatch(r"[0-9a-f]{24}", created["id"])
    assert created["items"] == [{"word": "mysql", "pronunciation": "my-sequel"}]
    assert created["createdAt"] == format_timestamp(START)
    assert store.list_dicts() == [created]
    assert store.dict_exists(created["id"])

    updated = store.update_dict(created["id"], [("sql", "sequel"), ("gif", "jif")])
    assert updated == {
        "id": created["id"],
        "items": [
            {"word": "sql", "pronunciation": "sequel"},
            {"word": "gif", "pronunciation": "jif"},
        ],
    }
    assert store.list_dicts()[0]["createdAt"] == created["createdAt"]
    assert store.update_dict("0" * 24, [("a", "b")]) is None

    assert store.delete_dict(created["id"]) is True
    assert store.delete_dict(created["id"]) is False
    assert not store.dict_exists(created["id"])
    assert store.list_dicts() == []


def test_dict_items_follow_request_order_and_skip_unknown(store: Store) -> None:
    a = store.create_dict([("one", "wun"), ("two", "too")])["id"]
    b = store.create_dict([("three", "tree")])["id"]
    assert store.dict_items([b, "missing", a, b]) == [
        ("three", "tree"),
        ("one", "wun"),
        ("two", "too"),
    ]
    assert store.dict_items([]) == []


def test_format_timestamp_matches_spec_examples() -> None:
    assert format_timestamp(1693569600.0) == "2023-09-01T12:00:00.000Z"
    assert format_timestamp(1693569600.25) == "2023-09-01T12:00:00.250Z"


def test_closed_store_refuses_work() -> None:
    store = Store()
    store.close()
    store.close()  # idempotent
    with pytest.raises(RuntimeError, match="closed"):
        store.list_dicts()


# -- durability and concurrency --------------------------------------------------------------


def test_state_survives_reopening_the_file(tmp_path: Path, clock: FakeClock) -> None:
    db = str(tmp_path / "local.db")
    with Store(db, pending_s=PENDING_S, processing_s=PROCESSING_S, clock=clock) as first:
        voice_id = first.create_clone(display_name="Kept", fail_reason=None)["voiceId"]
        failing = first.create_clone(display_name="Doomed", fail_reason="nope")["voiceId"]
        dict_id = first.create_dict([("kept", "kept")])["id"]
    clock.advance(PENDING_S + 1)
    with Store(db, pending_s=PENDING_S, processing_s=PROCESSING_S, clock=clock) as second:
        assert second.get_clone(voice_id)["status"] == "processing"  # type: ignore[index]
        assert second.dict_items([dict_id]) == [("kept", "kept")]
        clock.advance(PROCESSING_S)
        assert second.voice_is_ready(voice_id)
        assert second.get_clone(failing)["status"] == "failed"  # type: ignore[index]


def test_journal_is_wal_on_files(tmp_path: Path) -> None:
    with Store(str(tmp_path / "wal.db")) as store:
        rows = store._read("PRAGMA journal_mode")
        assert rows[0][0] == "wal"


def test_two_stores_in_two_threads_lose_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "shared.db")
    stores = [Store(db), Store(db)]
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(stores))

    def write(store: Store, tag: str) -> None:
        try:
            barrier.wait()
            for i in range(200):
                store.create_dict([(f"{tag}{i}", "x")])
                if i % 50 == 0:
                    store.create_clone(display_name=f"{tag}{i}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [
        threading.Thread(target=write, args=(s, tag)) for s, tag in zip(stores, "ab", strict=True)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    with Store(db) as check:
        words = {d["items"][0]["word"] for d in check.list_dicts()}
        assert len(words) == 400
        assert words == {f"{tag}{i}" for tag in "ab" for i in range(200)}
        assert len(check.list_clones()) == 8


def test_one_store_shared_by_many_threads(tmp_path: Path) -> None:
    with Store(str(tmp_path / "one.db")) as store:
        threads = [
            threading.Thread(
                target=lambda n=n: [store.create_dict([(f"{n}-{i}", "y")]) for i in range(50)]
            )
            for n in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(store.list_dicts()) == 400


_WRITER = """
import sys
from smallest_local.store import Store
store = Store(sys.argv[1])
for i in range(200):
    store.create_dict([(f"{sys.argv[2]}{i}", "z")])
store.close()
"""


def test_two_processes_writing_one_file_lose_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "procs.db")
    procs = [
        subprocess.Popen([sys.executable, "-c", _WRITER, db, tag], stderr=subprocess.PIPE)
        for tag in ("p", "q")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err.decode()
    with Store(db) as check:
        assert len(check.list_dicts()) == 400
