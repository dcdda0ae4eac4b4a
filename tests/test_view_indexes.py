"""The viewer's indexes page: the index manifest read-only, and sources moved since a sync.

A real index (embedded Chroma, the ``hash-64`` embedder) built with ``sync_index``; the
viewer served over HTTP.
"""

from __future__ import annotations

import hashlib
import json
import os
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_chroma import RagProject, make_doc
from tests.fixtures_view import start_viewer


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


@pytest.fixture
def served(rag_project: RagProject) -> Iterator[str]:
    url, server, thread = start_viewer(rag_project.root)
    try:
        yield url
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)


def digest_of(folder: Path) -> str:
    """The manifest's bytes; a reader of a WAL file may leave an empty -wal beside it."""
    wal = folder / "index.db-wal"
    assert not wal.exists() or wal.stat().st_size == 0
    return hashlib.sha256((folder / "index.db").read_bytes()).hexdigest()


def test_no_manifest_yet_says_how_to_build_one(rag_project: RagProject, served: str) -> None:
    status, html = fetch(served + "/indexes")
    assert status == 200 and "llmops index build" in html
    assert json.loads(fetch(served + "/api/indexes")[1])["exists"] is False
    assert not (rag_project.root / ".llmops" / "index.db").exists()  # nothing created


def test_fresh_after_a_sync_then_stale_when_sources_move(
    rag_project: RagProject, served: str
) -> None:
    from llmops.rag import sync_index

    sync_index(rag_project.project(), rag_project.version())
    state = rag_project.root / ".llmops"
    before = digest_of(state)
    data: Any = json.loads(fetch(served + "/api/indexes")[1])
    [index] = data["indexes"]
    assert index["name"] == "handbook" and index["active"] and index["built"]
    assert index["state"] == "fresh" and index["reasons"] == []
    assert index["configs"] == ["handbook@v1"] and index["n_sources"] == 12
    assert index["n_chunks"] > 12 and index["last_synced_at"]
    assert index["last_activity"]["status"] == "finished"

    edited = rag_project.corpus / "doc00.md"
    edited.write_text(make_doc(100), encoding="utf-8")
    (rag_project.corpus / "sub" / "doc01.md").unlink()
    rag_project.write_doc("doc99.md", make_doc(99))
    [index] = json.loads(fetch(served + "/api/indexes")[1])["indexes"]
    assert index["state"] == "stale"
    assert (index["changed"], index["deleted"], index["new"]) == (
        ["corpus/doc00.md"], ["corpus/sub/doc01.md"], ["corpus/doc99.md"])
    assert len(index["reasons"]) == 3
    status, html = fetch(served + "/indexes")
    assert status == 200 and "stale" in html and "corpus/doc99.md" in html
    assert digest_of(state) == before  # read-only: the manifest is not touched

    os.utime(edited)  # a sync brings it back to fresh
    sync_index(rag_project.project(), rag_project.version())
    [index] = json.loads(fetch(served + "/api/indexes")[1])["indexes"]
    assert index["state"] == "fresh" and index["n_sources"] == 12
