"""Durable state of the local server: voice-clone jobs and pronunciation dictionaries.

Both live in one SQLite file (stdlib :mod:`sqlite3`) so a restarted server still knows
the clones and dictionaries a test created before (docs/protocol.md §7). ``":memory:"`` gives
a throw-away store for tests.

Design choices:

* **No background worker.** A clone job's status is *derived* at read time from its
  ``created_at`` and the store's configured durations: ``pending`` for ``pending_s``,
  then ``processing`` for ``processing_s``, then ``completed`` — or ``failed`` when the
  job was created with a failure reason (scripted fault or unusable audio). A restart
  therefore resumes every job exactly where the clock says it is.
* **Injected clock.** :attr:`Store.clock` is a public attribute (default
  :func:`time.time`); tests replace it to move jobs through their states without
  sleeping.
* **Concurrent writers lose nothing.** WAL journal, a ``busy_timeout``, one short
  ``BEGIN IMMEDIATE`` transaction per write, and one connection per :class:`Store`
  guarded by a :class:`threading.Lock` (the server calls it from its event-loop thread,
  tests from theirs; several stores or processes may share one file).
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import string
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

__all__ = [
    "CLONE_STATUSES",
    "DEFAULT_ORGANIZATION_ID",
    "Store",
    "format_timestamp",
    "new_voice_id",
]

#: Every status a clone job can report (docs/protocol.md §7), in lifecycle order.
CLONE_STATUSES = ("pending", "processing", "completed", "failed")
#: The one organization of the local server (the real service scopes clones per org).
DEFAULT_ORGANIZATION_ID = "org_local"

_BUSY_TIMEOUT_MS = 30_000
_ALNUM = string.ascii_letters + string.digits

_SCHEMA = """
CREATE TABLE IF NOT EXISTS clones (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    voice_id TEXT NOT NULL UNIQUE,
    doc_id TEXT NOT NULL,
    display_name TEXT NOT NULL,
    description TEXT NOT NULL,
    accent TEXT NOT NULL,
    tags TEXT NOT NULL,
    language TEXT NOT NULL,
    model TEXT NOT NULL,
    cloning_type TEXT NOT NULL,
    audio_file_names TEXT NOT NULL,
    organization_id TEXT NOT NULL,
    created_at REAL NOT NULL,
    fail_reason TEXT
);
CREATE TABLE IF NOT EXISTS dicts (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    id TEXT NOT NULL UNIQUE,
    items TEXT NOT NULL,
    created_at REAL NOT NULL
);
"""


def new_voice_id() -> str:
    """A clone id shaped like the service's: ``voice_`` + 10 letters/digits (§7)."""
    return "voice_" + "".join(secrets.choice(_ALNUM) for _ in range(10))


def _new_object_id() -> str:
    """A 24-hex-digit id, the shape of the service's document ids (``_id``, dict ``id``)."""
    return secrets.token_hex(12)


def format_timestamp(epoch_s: float) -> str:
    """ISO-8601 UTC with milliseconds and ``Z``, as in the specs (``2023-09-01T12:00:00.000Z``)."""
    moment = datetime.fromtimestamp(epoch_s, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


@dataclass(frozen=True, slots=True)
class _Clone:
    """One stored clone job (a row of ``clones``)."""

    voice_id: str
    doc_id: str
    display_name: str
    description: str
    accent: str
    tags: list[str]
    language: str
    model: str
    cloning_type: str
    audio_file_names: list[str]
    organization_id: str
    created_at: float
    fail_reason: str | None

    @classmethod
    def from_row(cls, row: sqlite3.Row) -> _Clone:
        return cls(
            voice_id=row["voice_id"],
            doc_id=row["doc_id"],
            display_name=row["display_name"],
            description=row["description"],
            accent=row["accent"],
            tags=json.loads(row["tags"]),
            language=row["language"],
            model=row["model"],
            cloning_type=row["cloning_type"],
            audio_file_names=json.loads(row["audio_file_names"]),
            organization_id=row["organization_id"],
            created_at=row["created_at"],
            fail_reason=row["fail_reason"],
        )


class Store:
    """SQLite-backed clone jobs and pronunciation dictionaries (docs/protocol.md §7).

    Attributes:
        path: the database file, or ``":memory:"``.
        pending_s: seconds a new clone job reports ``pending``.
        processing_s: seconds it then reports ``processing`` before its final status.
        clock: returns "now" in epoch seconds; replace it to move time in tests.
    """

    def __init__(
        self,
        path: str = ":memory:",
        *,
        pending_s: float = 0.2,
        processing_s: float = 0.5,
        clock: Callable[[], float] = time.time,
    ) -> None:
        """Open (creating if needed) the database at ``path``.

        Args:
            path: SQLite file path; ``":memory:"`` for a private, non-persistent store.
            pending_s: duration of the ``pending`` state of a clone job.
            processing_s: duration of the ``processing`` state that follows it.
            clock: time source in epoch seconds (tests inject a controllable one).
        """
        if pending_s < 0 or processing_s < 0:
            raise ValueError("clone durations must be >= 0")
        self.path = path
        self.pending_s = pending_s
        self.processing_s = processing_s
        self.clock = clock
        #: bumped by every dictionary write, so compiled dictionaries know they are stale
        self.dicts_version = 0
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # autocommit; writes open explicit short transactions
            check_same_thread=False,  # guarded by self._lock instead
        )
        self._conn.row_factory = sqlite3.Row
        with self._lock:
            self._conn.execute(f"PRAGMA busy_timeout = {_BUSY_TIMEOUT_MS}")
            if path != ":memory:":
                # Readers never block the writer and vice versa; survives crashes.
                self._enable_wal(self._conn)
                self._conn.execute("PRAGMA synchronous = NORMAL")
        # executescript() commits implicitly, so create tables statement by statement
        # inside one IMMEDIATE transaction instead (safe when stores start together).
        with self._write() as conn:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)

    # -- plumbing -------------------------------------------------------------------------
    @staticmethod
    def _enable_wal(conn: sqlite3.Connection) -> None:
        """Switch a file database to WAL, tolerating a racing process doing the same.

        Changing the journal mode needs an exclusive lock and SQLite answers "database
        is locked" at once (no busy handler) while another process opens the same new
        file; the switch is idempotent, so retry briefly.
        """
        deadline = time.monotonic() + _BUSY_TIMEOUT_MS / 1000
        while True:
            try:
                conn.execute("PRAGMA journal_mode = WAL")
                return
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.01)  # back off from the other process's exclusive lock

    def _connection(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("store is closed")
        return self._conn

    @contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One short write transaction, taken with the write lock up front.

        ``BEGIN IMMEDIATE`` acquires SQLite's write lock at the start (waiting up to
        ``busy_timeout`` for other writers), so a transaction never fails half-way
        with ``SQLITE_BUSY`` on a lock upgrade.
        """
        with self._lock:
            conn = self._connection()
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def _read(self, sql: str, params: Sequence[Any] = ()) -> list[sqlite3.Row]:
        with self._lock:
            return self._connection().execute(sql, params).fetchall()

    def close(self) -> None:
        """Close the database connection (idempotent)."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store(path={self.path!r})"

    # -- clone jobs -----------------------------------------------------------------------
    def clone_status(self, created_at: float, fail_reason: str | None) -> str:
        """The status a job created at ``created_at`` reports now.

        ``pending`` for :attr:`pending_s`, then ``processing`` for :attr:`processing_s`,
        then ``failed`` if the job carries a failure reason, else ``completed``.
        """
        elapsed = self.clock() - created_at
        if elapsed < self.pending_s:
            return "pending"
        if elapsed < self.pending_s + self.processing_s:
            return "processing"
        return "failed" if fail_reason is not None else "completed"

    def create_clone(
        self,
        *,
        display_name: str,
        model: str = "lightning-v3.1",
        description: str = "",
        accent: str = "",
        tags: Iterable[str] = (),
        language: str = "",
        audio_file_names: Iterable[str] = (),
        organization_id: str = DEFAULT_ORGANIZATION_ID,
        cloning_type: str = "instant",
        fail_reason: str | None = None,
    ) -> dict[str, Any]:
        """Store a new clone job and return the ``data`` object of the create response.

        Args:
            display_name: the clone's name (validated by the caller: 1-500 chars).
            model: catalog model name (hyphens), e.g. ``lightning-v3.1``.
            description: optional free text.
            accent: optional accent tag.
            tags: tags, already split and trimmed.
            language: language code, ``""`` when the request gave none.
            audio_file_names: names of the uploaded files.
            organization_id: owner organization.
            cloning_type: ``instant`` (the API) or ``professional``.
            fail_reason: when set, the job ends in ``failed`` instead of ``completed``.

        Returns:
            ``{"voiceId", "displayName", "model", "status", "language", "audioFileNames",
            "createdAt", "organizationId", "samples"}`` (docs/protocol.md §7), with the status
            the job has at creation time (normally ``pending``).
        """
        created_at = self.clock()
        tag_list = list(tags)
        files = list(audio_file_names)
        with self._write() as conn:
            while True:  # a collision among 62^10 ids is unlikely but cheap to rule out
                voice_id = new_voice_id()
                taken = conn.execute("SELECT 1 FROM clones WHERE voice_id = ?", (voice_id,))
                if taken.fetchone() is None:
                    break
            conn.execute(
                "INSERT INTO clones (voice_id, doc_id, display_name, description, accent, tags,"
                " language, model, cloning_type, audio_file_names, organization_id, created_at,"
                " fail_reason) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    voice_id,
                    _new_object_id(),
                    display_name,
                    description,
                    accent,
                    json.dumps(tag_list),
                    language,
                    model,
                    cloning_type,
                    json.dumps(files),
                    organization_id,
                    created_at,
                    fail_reason,
                ),
            )
        return {
            "voiceId": voice_id,
            "displayName": display_name,
            "model": model,
            "status": self.clone_status(created_at, fail_reason),
            "language": language,
            "audioFileNames": files,
            "createdAt": format_timestamp(created_at),
            "organizationId": organization_id,
            "samples": [],
        }

    def _listing(self, clone: _Clone) -> dict[str, Any]:
        status = self.clone_status(clone.created_at, clone.fail_reason)
        entry: dict[str, Any] = {
            "_id": clone.doc_id,
            "voiceId": clone.voice_id,
            "displayName": clone.display_name,
            "description": clone.description,
            "accent": clone.accent,
            "tags": clone.tags,
            "language": clone.language,
            "status": status,
            "cloningType": clone.cloning_type,
            "modelIds": [clone.model],
            "createdAt": format_timestamp(clone.created_at),
        }
        if status == "failed":
            entry["error"] = clone.fail_reason  # local extension: why it failed
        return entry

    def list_clones(self) -> list[dict[str, Any]]:
        """Every clone job, oldest first, in the ``GET /voice-cloning`` entry shape (§7).

        Each entry: ``_id, voiceId, displayName, description, accent, tags, language,
        status, cloningType, modelIds, createdAt`` with the live status; a ``failed``
        entry also carries ``error`` (the failure reason; a local extension).
        """
        rows = self._read("SELECT * FROM clones ORDER BY seq")
        return [self._listing(_Clone.from_row(row)) for row in rows]

    def get_clone(self, voice_id: str) -> dict[str, Any] | None:
        """One clone job in the list-entry shape of :meth:`list_clones`, or None."""
        rows = self._read("SELECT * FROM clones WHERE voice_id = ?", (voice_id,))
        return self._listing(_Clone.from_row(rows[0])) if rows else None

    def delete_clone(self, voice_id: str) -> bool:
        """Forget a clone job; False when there was none with that id."""
        with self._write() as conn:
            cursor = conn.execute("DELETE FROM clones WHERE voice_id = ?", (voice_id,))
            return cursor.rowcount > 0

    def voice_is_ready(self, voice_id: str) -> bool:
        """True when ``voice_id`` is a clone whose job has ``completed`` (usable for TTS)."""
        clone = self.get_clone(voice_id)
        return clone is not None and clone["status"] == "completed"

    # -- pronunciation dictionaries -------------------------------------------------------
    @staticmethod
    def _dict_json(row: sqlite3.Row) -> dict[str, Any]:
        return {
            "id": row["id"],
            "items": json.loads(row["items"]),
            "createdAt": format_timestamp(row["created_at"]),
        }

    def list_dicts(self) -> list[dict[str, Any]]:
        """Every dictionary, oldest first: ``[{"id", "items", "createdAt"}]`` (§7)."""
        return [self._dict_json(row) for row in self._read("SELECT * FROM dicts ORDER BY seq")]

    def create_dict(self, items: Sequence[tuple[str, str]]) -> dict[str, Any]:
        """Store a new dictionary of ``(word, pronunciation)`` pairs.

        Returns:
            ``{"id", "items": [{"word", "pronunciation"}], "createdAt"}`` (§7).
        """
        dict_id = _new_object_id()
        created_at = self.clock()
        payload = _items_json(items)
        with self._write() as conn:
            conn.execute(
                "INSERT INTO dicts (id, items, created_at) VALUES (?, ?, ?)",
                (dict_id, json.dumps(payload), created_at),
            )
        self.dicts_version += 1
        return {"id": dict_id, "items": payload, "createdAt": format_timestamp(created_at)}

    def update_dict(self, dict_id: str, items: Sequence[tuple[str, str]]) -> dict[str, Any] | None:
        """Replace a dictionary's items; ``{"id", "items"}`` (§7 PUT), or None if unknown."""
        payload = _items_json(items)
        with self._write() as conn:
            cursor = conn.execute(
                "UPDATE dicts SET items = ? WHERE id = ?", (json.dumps(payload), dict_id)
            )
            if cursor.rowcount == 0:
                return None
        self.dicts_version += 1
        return {"id": dict_id, "items": payload}

    def delete_dict(self, dict_id: str) -> bool:
        """Delete a dictionary; False when there was none with that id."""
        with self._write() as conn:
            deleted = conn.execute("DELETE FROM dicts WHERE id = ?", (dict_id,)).rowcount > 0
        self.dicts_version += 1
        return deleted

    def dict_exists(self, dict_id: str) -> bool:
        """True when a dictionary with this id exists (TTS validates ``pronunciation_dicts``)."""
        return bool(self._read("SELECT 1 FROM dicts WHERE id = ?", (dict_id,)))

    def dict_items(self, dict_ids: Iterable[str]) -> list[tuple[str, str]]:
        """The ``(word, pronunciation)`` pairs of the given dictionaries, in request order.

        Dictionaries are taken in the order of ``dict_ids`` (each once), items in their
        stored order; unknown ids are skipped (the TTS handlers reject them earlier).
        """
        wanted = list(dict.fromkeys(dict_ids))
        if not wanted:
            return []
        marks = ", ".join("?" for _ in wanted)
        rows = self._read(f"SELECT id, items FROM dicts WHERE id IN ({marks})", wanted)
        by_id = {row["id"]: json.loads(row["items"]) for row in rows}
        return [
            (item["word"], item["pronunciation"])
            for dict_id in wanted
            for item in by_id.get(dict_id, [])
        ]


def _items_json(items: Sequence[tuple[str, str]]) -> list[dict[str, str]]:
    return [{"word": word, "pronunciation": pronunciation} for word, pronunciation in items]
