"""SQLite files of the project: one way to open them, write to them and migrate them.

The results store, the response cache, the embedding cache and the index manifest are
SQLite files. Each opens with :func:`connect` (autocommit, WAL, a busy timeout), writes in
:func:`transaction` blocks, and lists its schema as numbered :class:`Migrations`:

    MIGRATIONS = Migrations("cache")

    @MIGRATIONS.add
    def m001_responses(db):
        db.execute("create table responses (key text primary key, body text)")

    db = connect(path)
    MIGRATIONS.apply(db)

A migration runs once per file, recorded by name in ``_migrations``; never edit a released
one, add the next.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from datetime import UTC, datetime
from pathlib import Path

BUSY_TIMEOUT_MS = 30_000

Migration = Callable[[sqlite3.Connection], None]


def connect(
    path: str | Path, *, busy_timeout_ms: int = BUSY_TIMEOUT_MS, wal: bool = True,
    foreign_keys: bool = False, readonly: bool = False,
) -> sqlite3.Connection:
    """Open ``path`` in autocommit mode (transactions are explicit, see :func:`transaction`).

    WAL with ``synchronous = normal``: readers never block the writer and a committed
    transaction survives the process being killed. ``readonly`` opens the file without
    writing to it (no WAL switch, no migrations), for a store on a read-only disk.
    """
    if readonly:
        db = _connect_readonly(Path(path), busy_timeout_ms)
    else:
        db = sqlite3.connect(
            path, isolation_level=None, timeout=busy_timeout_ms / 1000, check_same_thread=False
        )
    db.execute(f"pragma busy_timeout = {int(busy_timeout_ms)}")
    if wal and not readonly:
        db.execute("pragma journal_mode = wal")
        db.execute("pragma synchronous = normal")
    if foreign_keys:
        db.execute("pragma foreign_keys = on")
    return db


def _connect_readonly(path: Path, busy_timeout_ms: int) -> sqlite3.Connection:
    """``mode=ro``; on a read-only disk, a WAL file closed cleanly opens ``immutable``.

    SQLite reads a WAL-mode file through its ``-shm`` file, which it cannot create in a
    read-only folder. A file closed cleanly has no ``-wal`` left, so nothing can change
    it there: opening it immutable (no locks, no shared memory) reads all of it.
    """
    uri = path.resolve().as_uri()

    def open_(query: str) -> sqlite3.Connection:
        return sqlite3.connect(f"{uri}?{query}", uri=True, isolation_level=None,
                               timeout=busy_timeout_ms / 1000, check_same_thread=False)

    db = open_("mode=ro")
    try:
        db.execute("select count(*) from sqlite_master").fetchone()
        return db
    except sqlite3.OperationalError:
        wal = path.with_name(path.name + "-wal")
        if (wal.exists() and wal.stat().st_size > 0) or os.access(path.parent, os.W_OK):
            raise
        db.close()
    return open_("mode=ro&immutable=1")


@contextmanager
def transaction(db: sqlite3.Connection, *, immediate: bool = True) -> Iterator[sqlite3.Connection]:
    """``begin immediate`` … ``commit``, rolled back on any exception.

    ``immediate`` takes the write lock at the start, so two writers never deadlock on an
    upgrade. When the rollback itself fails (the disk is full, the file vanished), the
    original error is the one raised: it says what went wrong.
    """
    db.execute("begin immediate" if immediate else "begin")
    try:
        yield db
    except BaseException:
        with suppress(sqlite3.Error):
            db.execute("rollback")
        raise
    db.execute("commit")


class Migrations:
    """The numbered schema of one kind of SQLite file."""

    def __init__(self, name: str, *, adopt_user_version: bool = False) -> None:
        self.name = name
        self.steps: list[Migration] = []
        # Files first numbered with `pragma user_version`: its value counts as the first
        # that many migrations applied, recorded by name on the next apply().
        self.adopt_user_version = adopt_user_version

    def add(self, step: Migration) -> Migration:
        """Decorator: append ``step`` (named ``mNNN_what``) as the next migration."""
        self.steps.append(step)
        return step

    def applied(self, db: sqlite3.Connection) -> set[str]:
        """Names already recorded in this file (none when the table does not exist)."""
        exists = db.execute(
            "select 1 from sqlite_master where type = 'table' and name = '_migrations'"
        ).fetchone()
        if exists is not None:
            return {row[0] for row in db.execute("select name from _migrations")}
        if self.adopt_user_version:
            numbered = int(db.execute("pragma user_version").fetchone()[0])
            return {m.__name__ for m in self.steps[:numbered]}
        return set()

    def unknown(self, db: sqlite3.Connection) -> set[str]:
        """Migrations recorded in the file that this code does not know: a newer llmops."""
        return self.applied(db) - {m.__name__ for m in self.steps}

    def apply(self, db: sqlite3.Connection) -> list[str]:
        """Apply every migration not yet applied, each in its own transaction.

        ``begin immediate`` takes the write lock first, so two processes opening a blank
        file at once apply each migration exactly once. Returns the names applied.
        """
        done = self.applied(db)
        if all(m.__name__ in done for m in self.steps):
            return []
        db.execute(
            "create table if not exists _migrations"
            " (name text primary key, applied_at text not null)"
        )
        with transaction(db):
            recorded = {row[0] for row in db.execute("select name from _migrations")}
            db.executemany(
                "insert or ignore into _migrations (name, applied_at) values (?, ?)",
                [(name, _now()) for name in sorted(done - recorded)],
            )
        ran: list[str] = []
        for step in self.steps:
            if step.__name__ in done:
                continue
            with transaction(db):
                again = db.execute("select 1 from _migrations where name = ?", (step.__name__,))
                if again.fetchone() is not None:  # another process got there first
                    continue
                step(db)
                db.execute(
                    "insert into _migrations (name, applied_at) values (?, ?)",
                    (step.__name__, _now()),
                )
                ran.append(step.__name__)
        return ran


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
