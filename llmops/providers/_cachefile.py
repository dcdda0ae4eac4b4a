"""A SQLite cache file that a crash, a full disk or a bad copy cannot turn into a failed run.

A cache only saves work, so a file that is not a database any more (truncated, garbage,
a malformed page found later) is moved aside as ``NAME.corrupt-<time>`` with a warning,
and an empty cache takes its place. Errors that are not corruption (locked too long,
read-only, no space) propagate: the caller decides how to go on without the cache.
"""

from __future__ import annotations

import sqlite3
import threading
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from llmops._sqlite import Migrations, connect

T = TypeVar("T")

_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


def is_corrupt(exc: sqlite3.Error) -> bool:
    """True when SQLite says the file is not (or no longer) a database."""
    name = getattr(exc, "sqlite_errorname", "") or ""
    if name.split("_")[:2] == ["SQLITE", "CORRUPT"] or name in _CORRUPT:
        return True
    text = str(exc).lower()
    return "not a database" in text or "malformed" in text


def move_aside(path: Path) -> Path:
    """Rename ``path`` (and its WAL) to ``NAME.corrupt-<time>``; drop its shared-memory file."""
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}")
    n = 1
    while target.exists():
        n += 1
        target = target.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{n}")
    path.replace(target)
    wal = path.with_name(path.name + "-wal")
    if wal.exists():
        wal.replace(target.with_name(target.name + "-wal"))
    path.with_name(path.name + "-shm").unlink(missing_ok=True)
    return target


class CacheFile:
    """One SQLite cache file: opened on first use, re-created if found corrupt."""

    def __init__(
        self, path: Path, migrations: Migrations, *, what: str, busy_timeout_ms: int = 30_000
    ) -> None:
        self.path = Path(path)
        self.migrations = migrations
        self.what = what
        self._busy_timeout_ms = busy_timeout_ms
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None

    def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """``work(connection)`` under the file's lock; once more on a fresh file if corrupt."""
        with self._lock:
            try:
                return work(self._connection())
            except sqlite3.DatabaseError as exc:
                if not is_corrupt(exc):
                    raise
                self._recover(exc)
                return work(self._connection())

    def close(self) -> None:
        with self._lock:
            self._close()

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            try:
                self._db = self._open()
            except sqlite3.DatabaseError as exc:
                if not is_corrupt(exc):
                    raise
                self._recover(exc)
                self._db = self._open()
        return self._db

    def _open(self) -> sqlite3.Connection:
        db = connect(self.path, busy_timeout_ms=self._busy_timeout_ms)
        try:
            self.migrations.apply(db)
        except BaseException:
            db.close()
            raise
        return db

    def _recover(self, exc: sqlite3.Error) -> None:
        self._close()
        moved = move_aside(self.path)
        warnings.warn(
            f"{self.what} {self.path} is corrupt ({exc}); moved it to {moved.name} "
            "and started an empty one",
            stacklevel=4,
        )

    def _close(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
