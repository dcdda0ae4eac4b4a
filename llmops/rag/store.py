"""Chroma, as the index sees it: one collection per config digest, batched and paged.

Collections are always opened with ``embedding_function=None``: vectors are computed
by llmops and passed in, so Chroma never loads (or downloads) a model of its own.
Writes are cut to ``get_max_batch_size()``; reads page by at most 5,000 records or go
per source with ``where=``, because Chroma pages with OFFSET and large gets fail.
Any failure to talk to Chroma becomes a :class:`RuntimeFailure` (exit 3) naming it.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from llmops.errors import LlmopsError, RuntimeFailure

if TYPE_CHECKING:
    import numpy as np

    from llmops.project import Project
    from llmops.rag.spec import IndexSpec

PAGE = 5000
T = TypeVar("T")

_clients: dict[str, Any] = {}


def now_iso(ns: int | None = None) -> str:
    """An ISO 8601 UTC timestamp (now, or of ``ns`` nanoseconds since the epoch)."""
    seconds = dt.datetime.now(dt.UTC).timestamp() if ns is None else ns / 1e9
    return (
        dt.datetime.fromtimestamp(seconds, dt.UTC)
        .isoformat(timespec="seconds")
        .replace("+00:00", "Z")
    )


def connect(project: Project, spec: IndexSpec) -> Any:
    """A Chroma client for the spec: embedded under ``.llmops/chroma`` or the named server."""
    location = spec.location(project)
    if location in _clients:
        return _clients[location]
    import chromadb
    from chromadb.config import Settings

    settings = Settings(anonymized_telemetry=False)
    if spec.chroma is None:
        path = project.state_dir / "chroma"
        path.mkdir(parents=True, exist_ok=True)
        client = _guard(
            location, lambda: chromadb.PersistentClient(path=str(path), settings=settings)
        )
    else:
        host, port = spec.chroma

        def make() -> Any:
            c = chromadb.HttpClient(host=host, port=port, settings=settings)
            c.heartbeat()
            return c

        client = _guard(location, make)
    _clients[location] = client
    return client


def forget_clients() -> None:
    """Drop cached clients (tests that stop a server use it)."""
    _clients.clear()


def _guard(location: str, call: Callable[[], T]) -> T:
    try:
        return call()
    except LlmopsError:
        raise
    except Exception as exc:
        raise _failure(location, exc) from exc


def _failure(location: str, exc: Exception) -> RuntimeFailure:
    message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    hint = None
    if location.startswith("http"):
        hint = "is the server running? start one with `chroma run --path DIR --port N`"
    return RuntimeFailure(
        f"Chroma at {location} failed: {type(exc).__name__}: {message}", hint=hint
    )


class ChunkStore:
    """One Chroma collection and the batched operations the index needs."""

    def __init__(self, client: Any, collection: Any, location: str) -> None:
        self.client = client
        self.collection = collection
        self.location = location
        self.max_batch = int(self._do(client.get_max_batch_size))

    def _do(self, call: Callable[[], T]) -> T:
        return _guard(self.location, call)

    @classmethod
    def open(
        cls, client: Any, location: str, name: str, create: dict[str, Any] | None = None
    ) -> ChunkStore | None:
        """The collection ``name``; created with ``create`` as metadata when given, else None."""
        if create is not None:
            collection = _guard(
                location,
                lambda: client.get_or_create_collection(
                    name, metadata=create, embedding_function=None
                ),
            )
            return cls(client, collection, location)
        try:
            collection = client.get_collection(name, embedding_function=None)
        except Exception as exc:
            if _is_missing(exc):
                return None
            raise _failure(location, exc) from exc
        return cls(client, collection, location)

    @property
    def metadata(self) -> dict[str, Any]:
        return dict(self.collection.metadata or {})

    def set_metadata(self, **values: Any) -> None:
        meta = {k: v for k, v in self.metadata.items() if not k.startswith("hnsw:")}
        meta.update(values)
        self._do(lambda: self.collection.modify(metadata=meta))

    def count(self) -> int:
        return int(self._do(self.collection.count))

    def add(
        self,
        ids: list[str],
        embeddings: np.ndarray,
        documents: list[str],
        metadatas: list[dict[str, Any]],
    ) -> None:
        self._write(self.collection.add, ids, embeddings, documents, metadatas)

    def upsert(
        self,
        ids: list[str],
        embeddings: np.ndarray,
        documents: list[str],
        metadatas: list[dict[str, Any]],
    ) -> None:
        self._write(self.collection.upsert, ids, embeddings, documents, metadatas)

    def _write(
        self,
        method: Any,
        ids: list[str],
        embeddings: np.ndarray,
        documents: list[str],
        metadatas: list[dict[str, Any]],
    ) -> None:
        # Chroma refuses batches above get_max_batch_size().
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self._do(
                lambda s=start, e=end: method(  # type: ignore[misc]
                    ids=ids[s:e],
                    embeddings=embeddings[s:e],
                    documents=documents[s:e],
                    metadatas=metadatas[s:e],
                )
            )

    def update_metadata(self, ids: list[str], metadatas: list[dict[str, Any]]) -> None:
        for start in range(0, len(ids), self.max_batch):
            end = start + self.max_batch
            self._do(
                lambda s=start, e=end: self.collection.update(  # type: ignore[misc]
                    ids=ids[s:e], metadatas=metadatas[s:e]
                )
            )

    def delete(self, ids: list[str]) -> None:
        if not ids:
            return
        for start in range(0, len(ids), self.max_batch):
            part = ids[start : start + self.max_batch]
            self._do(lambda p=part: self.collection.delete(ids=p))  # type: ignore[misc]

    def embeddings_of(self, ids: list[str]) -> dict[str, Any]:
        """The stored vectors of these ids (those that exist)."""
        out: dict[str, Any] = {}
        for start in range(0, len(ids), PAGE):
            part = ids[start : start + PAGE]
            got = self._do(
                lambda p=part: self.collection.get(ids=p, include=["embeddings"])  # type: ignore[misc]
            )
            for chunk_id, vector in zip(got["ids"], got["embeddings"], strict=True):
                out[chunk_id] = vector
        return out

    def chunks_of_sources(self, paths: list[str]) -> dict[str, dict[str, Any]]:
        """id → metadata of every chunk whose ``source`` is one of ``paths``."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(paths), 100):
            part = paths[start : start + 100]
            where = {"source": part[0]} if len(part) == 1 else {"source": {"$in": part}}
            offset = 0
            while True:
                got = self._do(
                    lambda w=where, o=offset: self.collection.get(  # type: ignore[misc]
                        where=w, include=["metadatas"], limit=PAGE, offset=o
                    )
                )
                for chunk_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                    out[chunk_id] = dict(meta or {})
                if len(got["ids"]) < PAGE:
                    break
                offset += PAGE
        return out

    def ids(self, where: dict[str, Any] | None = None) -> list[str]:
        """Every id in the collection (matching ``where``), paged by 5,000, no metadata."""
        out: list[str] = []
        while True:
            got = self._do(
                lambda o=len(out): self.collection.get(  # type: ignore[misc]
                    where=where, include=[], limit=PAGE, offset=o
                )
            )
            out.extend(got["ids"])
            if len(got["ids"]) < PAGE:
                return out

    def metadata_of(self, ids: list[str]) -> dict[str, dict[str, Any]]:
        """id → metadata of these ids (those that exist)."""
        out: dict[str, dict[str, Any]] = {}
        for start in range(0, len(ids), PAGE):
            part = ids[start : start + PAGE]
            got = self._do(
                lambda p=part: self.collection.get(ids=p, include=["metadatas"])  # type: ignore[misc]
            )
            for chunk_id, meta in zip(got["ids"], got["metadatas"], strict=True):
                out[chunk_id] = dict(meta or {})
        return out

    def census(self, digest: str) -> tuple[set[str], set[str]]:
        """(ids written under ``digest``, ids that were not): ids only, no metadata scan."""
        ours = set(self.ids({"config_digest": digest}))
        if self.count() == len(ours):
            return ours, set()
        return ours, set(self.ids()) - ours

    def query(self, vector: Any, k: int) -> list[dict[str, Any]]:
        """The ``k`` nearest chunks: text, source, score (cosine similarity) and metadata."""
        got = self._do(
            lambda: self.collection.query(
                query_embeddings=[vector],
                n_results=k,
                include=["documents", "metadatas", "distances"],
            )
        )
        out = []
        for text, meta, distance in zip(
            got["documents"][0], got["metadatas"][0], got["distances"][0], strict=True
        ):
            meta = dict(meta or {})
            # Squared L2 between unit vectors is 2 - 2·cos.
            out.append(
                {
                    "text": text,
                    "source": meta.get("source"),
                    "score": round(1.0 - float(distance) / 2.0, 6),
                    "chunk_index": meta.get("chunk_index"),
                }
            )
        return out


def _is_missing(exc: Exception) -> bool:
    name = type(exc).__name__
    return name in ("NotFoundError", "InvalidCollectionException") or "does not exist" in str(exc)
