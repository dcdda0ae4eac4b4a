"""The embedding cache: vectors by (model identity, sha256 of the text) in one SQLite file.

Vectors are float32 blobs. The file also remembers the sha256 of model files by path,
size and mtime, so a model's identity is not re-hashed on every run. A corrupt file is
moved aside with a warning and the cache starts empty.
"""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from llmops._sqlite import Migrations, transaction
from llmops.errors import RuntimeFailure
from llmops.providers._cachefile import CacheFile

MIGRATIONS = Migrations("embedding cache")


@MIGRATIONS.add
def m001_embeddings(db: sqlite3.Connection) -> None:
    # `if not exists`: a cache written before migrations were recorded keeps its rows.
    db.execute(
        "create table if not exists embeddings (identity text not null, text_sha256 text"
        " not null, dim integer not null, vector blob not null,"
        " primary key (identity, text_sha256)) without rowid"
    )
    db.execute(
        "create table if not exists file_digests (path text primary key, size integer not"
        " null, mtime_ns integer not null, sha256 text not null)"
    )


class EmbeddingCache:
    """SQLite store of vectors keyed on (model identity, sha256 of the text)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = CacheFile(path, MIGRATIONS, what="embedding cache")
        try:
            self._file.run(lambda db: None)
        except sqlite3.Error as exc:
            raise RuntimeFailure(f"cannot open the embedding cache: {exc}", file=path) from None

    def get_many(self, identity: str, keys: list[str]) -> dict[str, np.ndarray]:
        def read(db: sqlite3.Connection) -> dict[str, np.ndarray]:
            out: dict[str, np.ndarray] = {}
            for part in _chunks(keys, 500):
                marks = ",".join("?" * len(part))
                rows = db.execute(
                    "select text_sha256, dim, vector from embeddings "
                    f"where identity = ? and text_sha256 in ({marks})",
                    [identity, *part],
                )
                for key, dim, blob in rows:
                    vector = np.frombuffer(blob, dtype=np.float32)
                    if vector.shape[0] == dim:
                        out[key] = vector
            return out

        return self._file.run(read)

    def put_many(self, identity: str, keys: list[str], vectors: np.ndarray) -> None:
        dim = int(vectors.shape[1])
        rows = [
            (identity, k, dim, np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for k, v in zip(keys, vectors, strict=True)
        ]

        def write(db: sqlite3.Connection) -> None:
            with transaction(db):
                db.executemany("insert or replace into embeddings values (?, ?, ?, ?)", rows)

        self._file.run(write)

    def file_digest(self, path: Path) -> str:
        """sha256 of a file, remembered by (path, size, mtime) to skip re-hashing."""
        st = path.stat()
        row = self._file.run(lambda db: db.execute(
            "select sha256 from file_digests where path = ? and size = ? and mtime_ns = ?",
            (str(path), st.st_size, st.st_mtime_ns),
        ).fetchone())
        if row:
            return str(row[0])
        digest = sha256_file(path)
        self._file.run(lambda db: db.execute(
            "insert or replace into file_digests values (?, ?, ?, ?)",
            (str(path), st.st_size, st.st_mtime_ns, digest),
        ))
        return digest

    def count(self, identity: str | None = None) -> int:
        def read(db: sqlite3.Connection) -> int:
            if identity is None:
                row = db.execute("select count(*) from embeddings").fetchone()
            else:
                row = db.execute(
                    "select count(*) from embeddings where identity = ?", (identity,)
                ).fetchone()
            return int(row[0])

        return self._file.run(read)


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()
