"""Retrieval for evaluation: the top-k chunks of a RAG config's index for a query."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import TYPE_CHECKING, Any

from llmops.rag.embedders import get_index_embedder
from llmops.rag.manifest import Manifest
from llmops.rag.spec import spec_of
from llmops.rag.store import ChunkStore, connect

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.prompts import PromptVersion

_stores: dict[tuple[str, str], ChunkStore] = {}
_lock = threading.Lock()


def retrieve(
    project: Project, rag_version: PromptVersion, query: str, top_k: int | None = None
) -> list[dict[str, Any]]:
    """The chunks nearest to ``query`` in the index of ``rag_version``.

    The index of exactly this config (sources, chunking, embedder weights) is used. If
    it was never built, it is built first (a message goes to stderr); a stale index is
    used as it is: ``check_freshness`` is how a caller finds out.

    Args:
        project: the project.
        rag_version: a ``kind: rag`` version, or a prompt whose ``rag:`` names one.
        query: the text to search for.
        top_k: how many chunks; default the config's ``top_k``.

    Returns:
        ``[{"text", "source", "score", "chunk_index"}]``, best first; ``score`` is the
        cosine similarity of the query and the chunk.
    """
    spec = spec_of(project, rag_version)
    embedder = get_index_embedder(project, spec.embedder)
    digest = spec.digest(embedder.identity)
    location = spec.location(project)
    key = (location, digest)
    with _lock:
        store = _stores.get(key)
        if store is None:
            store = _open(project, rag_version, location, digest)
            _stores[key] = store
    k = top_k or spec.top_k
    if not query.strip():
        return []
    vector = embedder.embed([query])[0]
    return store.query(vector, k)


def _open(project: Project, rag_version: PromptVersion, location: str, digest: str) -> ChunkStore:
    spec = spec_of(project, rag_version)
    path = project.state_dir / "index.db"
    record = None
    if path.exists():
        with contextlib.closing(Manifest(path)) as manifest:
            record = manifest.collection(location, digest)
    if record is None or not record.complete:
        from llmops.rag.sync import sync_index

        print(f"building the index of {spec.ref} (first use)", file=sys.stderr)
        result = sync_index(project, rag_version)
        print(
            f"indexed {result.sources_total} sources, {result.chunks_total} chunks "
            f"in {result.seconds:.1f}s",
            file=sys.stderr,
        )
        chroma_name = result.collection
    else:
        chroma_name = record.chroma_name
    store = ChunkStore.open(connect(project, spec), location, chroma_name)
    if store is None:
        from llmops.errors import RuntimeFailure

        raise RuntimeFailure(
            f"the collection {chroma_name} of {spec.ref} is missing from Chroma at {location}",
            hint=f"run `llmops index build {spec.ref}`",
        )
    return store


def forget_stores() -> None:
    """Drop cached collections (after a sync in the same process, or in tests)."""
    with _lock:
        _stores.clear()
