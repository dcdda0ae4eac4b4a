"""The shared SQLite helper: connections, transactions and numbered migrations."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from llmops import _sqlite
from llmops.rag.manifest import MIGRATIONS as MANIFEST_MIGRATIONS
from llmops.rag.manifest import Manifest


def _migrations() -> _sqlite.Migrations:
    m = _sqlite.Migrations("test", adopt_user_version=True)

    @m.add
    def m001_a(db: sqlite3.Connection) -> None:
        db.execute("create table a (x)")

    @m.add
    def m002_b(db: sqlite3.Connection) -> None:
        db.execute("create table b (y)")

    return m


def test_migrations_apply_once_and_record_names(tmp_path: Path) -> None:
    db = _sqlite.connect(tmp_path / "f.db")
    m = _migrations()
    assert m.apply(db) == ["m001_a", "m002_b"]
    assert m.apply(db) == []
    assert {r[0] for r in db.execute("select name from _migrations")} == {"m001_a", "m002_b"}
    assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_a_file_numbered_by_user_version_is_adopted_not_migrated_again(tmp_path: Path) -> None:
    db = _sqlite.connect(tmp_path / "f.db")
    db.execute("create table a (x)")
    db.execute("pragma user_version = 1")
    m = _migrations()
    assert m.apply(db) == ["m002_b"]  # m001 was applied under the old numbering
    assert m.applied(db) == {"m001_a", "m002_b"}


def test_an_old_index_manifest_opens(tmp_path: Path) -> None:
    path = tmp_path / "manifest.db"
    db = sqlite3.connect(path, isolation_level=None)
    for step in MANIFEST_MIGRATIONS.steps:  # the file as the user_version scheme left it
        step(db)
    db.execute(f"pragma user_version = {len(MANIFEST_MIGRATIONS.steps)}")
    db.close()
    manifest = Manifest(path)
    assert MANIFEST_MIGRATIONS.applied(manifest.db) == {
        m.__name__ for m in MANIFEST_MIGRATIONS.steps}
    manifest.close()


def test_a_failed_rollback_does_not_hide_the_error(tmp_path: Path) -> None:
    db = _sqlite.connect(tmp_path / "f.db")
    with pytest.raises(ValueError, match="the cause"), _sqlite.transaction(db):
        db.execute("create table t (x)")
        db.execute("rollback")  # the transaction is gone: the helper's rollback fails
        raise ValueError("the cause")
    assert not db.in_transaction
