"""The results store in one SQLite file (WAL, busy timeout): the default backend.

Several processes may write the same file at once: every write is a short ``begin
immediate`` transaction and readers never block writers. A store on a read-only disk
(or a file without write permission) opens read-only: listing and showing runs work,
a write says which file could not be written.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmops import _sqlite
from llmops._files import full_disk_cause
from llmops.errors import RuntimeFailure, UserError
from llmops.store.queries import SqlStore
from llmops.store.sql import Insert

_TYPES = {"{id}": "integer primary key", "{real}": "real"}


def _dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    return {d[0]: v for d, v in zip(cursor.description, row, strict=True)}


ROWS_PER_INSERT = 500  # 7,000 parameters: under SQLite's limit of 32,766


class SqliteConnection:
    """A SQLite file behind the :class:`llmops.store.sql.Connection` protocol."""

    def __init__(self, path: Path, *, readonly: bool = False) -> None:
        self.path = path
        self.where = str(path)
        self.readonly = readonly
        self.db = _sqlite.connect(path, foreign_keys=True, readonly=readonly)
        self.db.row_factory = sqlite3.Row  # for tools that look inside; queries get dicts

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]:
        try:
            cur = self.db.cursor()
            cur.row_factory = _dict_row
            rows: list[dict[str, Any]] = cur.execute(sql, tuple(args)).fetchall()
            return rows
        except sqlite3.OperationalError as exc:
            raise self._failure(exc) from exc

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None:
        try:
            self.db.execute(sql, tuple(args))
        except sqlite3.OperationalError as exc:
            raise self._failure(exc) from exc

    def insert_many(self, insert: Insert, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Multi-row inserts of up to :data:`ROWS_PER_INSERT` rows in one transaction:
        one statement to prepare per chunk instead of one per row."""
        row_marks = "(" + ", ".join("?" * len(insert.columns)) + ")"
        head = f"insert into {insert.table} ({insert.column_list}) values"
        out: list[tuple[Any, ...]] = []
        with self.transaction():  # every row or none
            for start in range(0, len(rows), ROWS_PER_INSERT):
                chunk = rows[start : start + ROWS_PER_INSERT]
                marks = ", ".join([row_marks] * len(chunk))
                cur = self.db.cursor()
                cur.row_factory = None  # plain tuples
                try:
                    cur.execute(f"{head} {marks} {insert.tail}", [v for row in chunk for v in row])
                except sqlite3.OperationalError as exc:
                    raise self._failure(exc) from exc
                out.extend(cur.fetchall())
        return out

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        try:
            self.db.executemany(sql, rows)
        except sqlite3.OperationalError as exc:
            raise self._failure(exc) from exc

    @contextmanager
    def transaction(self) -> Iterator[None]:
        if self.db.in_transaction:  # nested: the outer transaction commits
            yield
            return
        try:
            with _sqlite.transaction(self.db):
                yield
        except sqlite3.OperationalError as exc:
            raise self._failure(exc) from exc

    @contextmanager
    def migration_lock(self) -> Iterator[None]:
        # The write lock for the whole migration: a second process waits, then finds
        # every migration applied.
        with self.transaction():
            yield

    def ddl(self, sql: str) -> None:
        for word, spelling in _TYPES.items():
            sql = sql.replace(word, spelling)
        self.db.execute(sql)

    def has_table(self, name: str) -> bool:
        return bool(self.query(
            "select 1 from sqlite_master where type = 'table' and name = ?", (name,)))

    def close(self) -> None:
        self.db.close()

    def _failure(self, exc: sqlite3.OperationalError) -> Exception:
        text = str(exc)
        if "readonly" in text or "read-only" in text:
            return UserError(f"cannot write the results store: {text}", file=self.where,
                             hint="make it writable, or point LLMOPS_STORE at another store")
        if "disk is full" in text or "disk I/O" in text:
            cause = full_disk_cause(self.path) if "disk I/O" in text else None
            if cause is not None:
                text = f"{text}: {cause}"
            room = "raise the limit" if cause and "ulimit" in cause else "free disk space"
            return RuntimeFailure(f"cannot write the results store: {text}", file=self.where,
                                  hint=f"{room} and run again with --resume")
        return exc


class SqliteStore(SqlStore):
    """The results store in the SQLite file at ``path``; migrations run on open."""

    backend = "sqlite"

    def __init__(self, path: str | Path, *, readonly: bool | None = None) -> None:
        self.path = Path(path)
        if readonly is None:
            readonly = self.path.exists() and not _writable(self.path)
        try:
            if not readonly:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = SqliteConnection(self.path, readonly=readonly)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError):
                raise UserError(f"cannot open the results store: {exc}", file=self.path,
                                ) from None
            raise UserError(f"not a usable results store: {exc}", file=self.path,
                            hint="move it aside") from None
        except OSError as exc:
            raise UserError(f"cannot open the results store: {exc}", file=self.path) from None
        self.db = conn.db  # for tests and tools that look inside the file
        try:
            super().__init__(conn, readonly=readonly)
        except sqlite3.DatabaseError as exc:
            conn.close()
            raise UserError(
                f"not a usable results store: {exc}", file=self.path, hint="move it aside"
            ) from None


def _writable(path: Path) -> bool:
    """Whether SQLite could write ``path`` and its journal beside it."""
    return os.access(path, os.W_OK) and os.access(path.parent, os.W_OK)
