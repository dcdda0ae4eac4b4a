"""The index manifest: a small SQLite file under ``.llmops/`` saying what was indexed.

Per collection (one per config digest and store location) it keeps every source's
size, mtime, sha256 and chunk ids, so that ``check`` can answer from ``stat`` alone. It
is written only after Chroma has accepted the chunks it describes, so it never claims
more than the store holds; a sync that dies leaves it behind the store, and the next
sync reconciles the difference from Chroma's own contents.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

from llmops import _sqlite

MIGRATIONS = _sqlite.Migrations("index manifest", adopt_user_version=True)
migration = MIGRATIONS.add


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    _script(
        db,
        """
        create table collections (
            id integer primary key,
            location text not null,
            digest text not null,
            name text not null,
            chroma_name text not null,
            config_json text not null,
            embedder text not null,
            embedder_identity text not null,
            dim integer not null,
            created_at_ns integer not null,
            last_synced_at_ns integer,
            complete integer not null default 0,
            unique (location, digest)
        );
        create table active (
            location text not null,
            name text not null,
            collection_id integer not null references collections(id),
            switched_at_ns integer not null,
            primary key (location, name)
        );
        create table sources (
            collection_id integer not null references collections(id),
            path text not null,
            status text not null,           -- indexed | empty | unreadable
            problem text,
            size integer not null,
            mtime_ns integer not null,
            sha256 text not null,
            n_chunks integer not null,
            indexed_at_ns integer not null,
            primary key (collection_id, path)
        );
        create table chunks (
            collection_id integer not null,
            chunk_id text not null,
            path text not null,
            chunk_sha text not null,
            chunk_index integer not null,
            primary key (collection_id, chunk_id)
        );
        create index chunks_by_sha on chunks (collection_id, chunk_sha);
        create index chunks_by_path on chunks (collection_id, path);
        create table activity (
            id integer primary key,
            collection_id integer not null,
            kind text not null,             -- build | sync | switch
            started_at_ns integer not null,
            finished_at_ns integer,
            status text not null,           -- running | finished | failed
            sources_done integer not null default 0,
            chunks_embedded integer not null default 0,
            chunks_reused integer not null default 0,
            chunks_deleted integer not null default 0,
            message text
        );
        """,
    )


@migration
def m002_relative_embedded_location(db: sqlite3.Connection) -> None:
    # The embedded store always lives beside this manifest, so its key is not the absolute
    # path: a moved or copied project (a CI cache restored elsewhere) keeps its index.
    db.execute(
        "update or ignore collections set location = 'embedded' where location like 'embedded:%'"
    )
    db.execute("update or ignore active set location = 'embedded' where location like 'embedded:%'")


def _key(location: str) -> str:
    """The manifest's key for a store location (see m002)."""
    return "embedded" if location.startswith("embedded:") else location


def _script(db: sqlite3.Connection, sql: str) -> None:
    # executescript() would commit on its own; a migration runs in one transaction.
    for statement in sql.split(";"):
        lines = [line.split("--")[0] for line in statement.splitlines()]
        text = "\n".join(lines).strip()
        if text:
            db.execute(text)


@dataclass(frozen=True)
class CollectionRecord:
    """A collection as the manifest knows it."""

    id: int
    location: str
    digest: str
    name: str
    chroma_name: str
    config: dict[str, Any]
    embedder: str
    embedder_identity: str
    dim: int
    created_at_ns: int
    last_synced_at_ns: int | None
    complete: bool


class SourceRecord(NamedTuple):
    """What was indexed for one source file."""

    path: str
    status: str
    problem: str | None
    size: int
    mtime_ns: int
    sha256: str
    n_chunks: int
    indexed_at_ns: int


class ChunkRecord(NamedTuple):
    chunk_id: str
    path: str
    chunk_sha: str
    chunk_index: int


class Manifest:
    """The manifest database; ``Manifest(path)`` creates or migrates it."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.db = _sqlite.connect(path)
        MIGRATIONS.apply(self.db)

    @classmethod
    def read_only(cls, path: Path) -> Manifest:
        """The manifest opened for reading only: no folder, no migration, no WAL switch."""
        manifest = cls.__new__(cls)
        manifest.path = path
        manifest.db = _sqlite.connect(path, readonly=True)
        return manifest

    def close(self) -> None:
        self.db.close()

    def transaction(self) -> AbstractContextManager[sqlite3.Connection]:
        return _sqlite.transaction(self.db)

    # collections -------------------------------------------------------------------------

    def collection(self, location: str, digest: str) -> CollectionRecord | None:
        row = self.db.execute(
            "select * from collections where location = ? and digest = ?", (_key(location), digest)
        ).fetchone()
        return _collection(row) if row else None

    def collection_by_id(self, collection_id: int) -> CollectionRecord | None:
        row = self.db.execute("select * from collections where id = ?", (collection_id,)).fetchone()
        return _collection(row) if row else None

    def add_collection(
        self,
        *,
        location: str,
        digest: str,
        name: str,
        chroma_name: str,
        config: dict[str, Any],
        embedder: str,
        embedder_identity: str,
        dim: int,
    ) -> CollectionRecord:
        self.db.execute(
            "insert or ignore into collections (location, digest, name, chroma_name, config_json,"
            " embedder, embedder_identity, dim, created_at_ns) values (?,?,?,?,?,?,?,?,?)",
            (
                _key(location),
                digest,
                name,
                chroma_name,
                json.dumps(config, sort_keys=True),
                embedder,
                embedder_identity,
                dim,
                time.time_ns(),
            ),
        )
        record = self.collection(location, digest)
        assert record is not None
        return record

    def collections(self) -> list[CollectionRecord]:
        """Every collection the manifest knows, by index name and location."""
        rows = self.db.execute("select * from collections order by name, location, id")
        return [_collection(r) for r in rows]

    def active_ids(self) -> set[int]:
        """The collections that serve their index name now (the last switched to)."""
        return {int(r[0]) for r in self.db.execute("select collection_id from active")}

    def active(self, location: str, name: str) -> CollectionRecord | None:
        row = self.db.execute(
            "select c.* from active a join collections c on c.id = a.collection_id"
            " where a.location = ? and a.name = ?",
            (_key(location), name),
        ).fetchone()
        return _collection(row) if row else None

    def finish_sync(self, record: CollectionRecord) -> None:
        """Mark the collection complete and make it the active one, in one transaction."""
        now = time.time_ns()
        with self.transaction():
            self.db.execute(
                "update collections set complete = 1, last_synced_at_ns = ? where id = ?",
                (now, record.id),
            )
            self.db.execute(
                "insert into active (location, name, collection_id, switched_at_ns)"
                " values (?,?,?,?) on conflict (location, name) do update set"
                " collection_id = excluded.collection_id,"
                " switched_at_ns = case when active.collection_id = excluded.collection_id"
                " then active.switched_at_ns else excluded.switched_at_ns end",
                (record.location, record.name, record.id, now),
            )

    # sources and chunks ------------------------------------------------------------------

    def sources(self, collection_id: int) -> dict[str, SourceRecord]:
        rows = self.db.execute(
            "select path, status, problem, size, mtime_ns, sha256, n_chunks, indexed_at_ns"
            " from sources where collection_id = ?",
            (collection_id,),
        )
        return {r[0]: SourceRecord._make(r) for r in rows}

    def chunks_of(self, collection_id: int, paths: Iterable[str]) -> dict[str, list[ChunkRecord]]:
        out: dict[str, list[ChunkRecord]] = {}
        for group in _groups(list(paths), 500):
            marks = ",".join("?" * len(group))
            rows = self.db.execute(
                "select chunk_id, path, chunk_sha, chunk_index from chunks"
                f" where collection_id = ? and path in ({marks})",
                (collection_id, *group),
            )
            for r in rows:
                out.setdefault(r[1], []).append(ChunkRecord(*r))
        return out

    def all_chunk_ids(self, collection_id: int) -> set[str]:
        rows = self.db.execute(
            "select chunk_id from chunks where collection_id = ?", (collection_id,)
        )
        return {r[0] for r in rows}

    def chunk_paths(self, collection_id: int) -> dict[str, str]:
        """chunk id → source path of every chunk recorded for the collection."""
        rows = self.db.execute(
            "select chunk_id, path from chunks where collection_id = ?", (collection_id,)
        )
        return dict(rows.fetchall())

    def forget_collection_contents(self, collection_id: int) -> None:
        """Drop every source and chunk row of a collection (its store was emptied)."""
        with self.transaction():
            self.db.execute("delete from sources where collection_id = ?", (collection_id,))
            self.db.execute("delete from chunks where collection_id = ?", (collection_id,))

    def chunk_count(self, collection_id: int) -> int:
        row = self.db.execute(
            "select count(*) from chunks where collection_id = ?", (collection_id,)
        ).fetchone()
        return int(row[0])

    def ids_with_sha(self, collection_id: int, shas: Iterable[str]) -> dict[str, str]:
        """One indexed chunk id for each of these chunk hashes that the collection holds."""
        out: dict[str, str] = {}
        for group in _groups(list(set(shas)), 500):
            marks = ",".join("?" * len(group))
            rows = self.db.execute(
                "select chunk_sha, chunk_id from chunks"
                f" where collection_id = ? and chunk_sha in ({marks})",
                (collection_id, *group),
            )
            for sha, chunk_id in rows:
                out.setdefault(sha, chunk_id)
        return out

    def replace_sources(
        self,
        collection_id: int,
        records: list[SourceRecord],
        chunks: dict[str, list[ChunkRecord]],
        removed: list[str],
    ) -> None:
        """Record sources (with their chunks) and forget removed ones, in one transaction."""
        with self.transaction():
            for path in [*removed, *(r.path for r in records)]:
                self.db.execute(
                    "delete from sources where collection_id = ? and path = ?",
                    (collection_id, path),
                )
                self.db.execute(
                    "delete from chunks where collection_id = ? and path = ?", (collection_id, path)
                )
            self.db.executemany(
                "insert into sources values (?,?,?,?,?,?,?,?,?)",
                [
                    (
                        collection_id,
                        r.path,
                        r.status,
                        r.problem,
                        r.size,
                        r.mtime_ns,
                        r.sha256,
                        r.n_chunks,
                        r.indexed_at_ns,
                    )
                    for r in records
                ],
            )
            self.db.executemany(
                "insert or replace into chunks values (?,?,?,?,?)",
                [
                    (collection_id, c.chunk_id, c.path, c.chunk_sha, c.chunk_index)
                    for r in records
                    for c in chunks.get(r.path, [])
                ],
            )

    def touch_sources(self, collection_id: int, records: list[SourceRecord]) -> None:
        """Update the stat of sources whose content was found unchanged."""
        with self.transaction():
            self.db.executemany(
                "update sources set size = ?, mtime_ns = ? where collection_id = ? and path = ?",
                [(r.size, r.mtime_ns, collection_id, r.path) for r in records],
            )

    # activity ----------------------------------------------------------------------------

    def last_unfinished(self, collection_id: int) -> dict[str, Any] | None:
        """The latest build or sync of the collection that did not finish, if the last did not."""
        last = self.activity(collection_id, limit=1)
        if last and last[0]["status"] != "finished":
            return last[0]
        return None

    def close_unfinished(self, collection_id: int) -> bool:
        """Mark builds or syncs left running by a dead process; True if the last one was."""
        unfinished = self.last_unfinished(collection_id) is not None
        self.db.execute(
            "update activity set status = 'interrupted'"
            " where collection_id = ? and status = 'running'",
            (collection_id,),
        )
        return unfinished

    def start_activity(self, collection_id: int, kind: str) -> int:
        cur = self.db.execute(
            "insert into activity (collection_id, kind, started_at_ns, status) values (?,?,?,?)",
            (collection_id, kind, time.time_ns(), "running"),
        )
        return int(cur.lastrowid or 0)

    def update_activity(self, activity_id: int, **counts: Any) -> None:
        if not counts:
            return
        sets = ", ".join(f"{k} = ?" for k in counts)
        self.db.execute(f"update activity set {sets} where id = ?", (*counts.values(), activity_id))

    def finish_activity(self, activity_id: int, status: str, message: str | None = None) -> None:
        self.db.execute(
            "update activity set status = ?, finished_at_ns = ?, message = ? where id = ?",
            (status, time.time_ns(), message, activity_id),
        )

    def activity(self, collection_id: int, limit: int = 20) -> list[dict[str, Any]]:
        cur = self.db.execute(
            "select * from activity where collection_id = ? order by id desc limit ?",
            (collection_id, limit),
        )
        names = [d[0] for d in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur]


def _collection(row: tuple[Any, ...]) -> CollectionRecord:
    return CollectionRecord(
        id=row[0],
        location=row[1],
        digest=row[2],
        name=row[3],
        chroma_name=row[4],
        config=json.loads(row[5]),
        embedder=row[6],
        embedder_identity=row[7],
        dim=row[8],
        created_at_ns=row[9],
        last_synced_at_ns=row[10],
        complete=bool(row[11]),
    )


def _groups(items: list[str], n: int) -> Iterable[list[str]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]
