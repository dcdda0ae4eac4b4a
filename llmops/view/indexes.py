"""The indexes page: what the project's index manifest says, and whether the sources moved.

The results store keeps nothing about RAG indexes; the manifest ``.llmops/index.db``
(written by ``llmops index build|sync``) does. It is opened read-only. An active
collection is compared with its sources by ``stat`` alone (size and modification time, as
the fast path of ``llmops index check``); a file touched without a change counts as
changed here, and ``llmops index check NAME@REF`` (which reads the contents) has the last
word. Neither Chroma nor the embedding model is loaded.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import LlmopsError
from llmops.guard.redact import redact

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.rag.manifest import CollectionRecord, Manifest

SHOWN_PATHS = 20  # paths listed per kind of change; the counts are whole


def index_page(project: Project) -> dict[str, Any]:
    """Every collection the manifest knows; the active ones with their freshness."""
    from llmops.rag.manifest import Manifest

    path = project.state_dir / "index.db"
    where = _relative(path, project.root)
    if not path.exists():
        return {"manifest": where, "exists": False, "indexes": []}
    users = _configs_by_name(project)
    with contextlib.closing(Manifest.read_only(path)) as manifest:
        active = manifest.active_ids()
        indexes = [_collection_view(project, manifest, c, c.id in active, users.get(c.name, []))
                   for c in manifest.collections()]
    indexes.sort(key=lambda i: (not i["active"], i["name"], i["location"]))
    return {"manifest": where, "exists": True, "indexes": indexes}


def _collection_view(project: Project, manifest: Manifest, c: CollectionRecord, active: bool,
                     users: list[tuple[str, Any]]) -> dict[str, Any]:
    from llmops.rag.store import now_iso

    recorded = manifest.sources(c.id)
    last = manifest.activity(c.id, limit=1)
    view: dict[str, Any] = {
        "name": c.name, "location": redact(c.location), "collection": c.chroma_name,
        "digest": c.digest, "embedder": c.embedder, "active": active, "built": c.complete,
        "sources_glob": list(c.config.get("sources") or []),
        "chunking": c.config.get("chunking") or {},
        "configs": [ref for ref, spec in users if _same_sources(spec, c)],
        "last_synced_at": now_iso(c.last_synced_at_ns) if c.last_synced_at_ns else None,
        "oldest_indexed_at": (now_iso(min(r.indexed_at_ns for r in recorded.values()))
                              if recorded else None),
        "n_sources": len(recorded), "n_chunks": manifest.chunk_count(c.id),
        "last_activity": _activity(last[0]) if last else None,
        "state": "inactive", "reasons": [], "new": [], "changed": [], "deleted": [],
        "n_new": 0, "n_changed": 0, "n_deleted": 0,
    }
    if active:
        _freshness(project, c, recorded, view, users)
    return view


def _freshness(project: Project, c: CollectionRecord, recorded: dict[str, Any],
               view: dict[str, Any], users: list[tuple[str, Any]]) -> None:
    """Fill ``state`` (fresh | stale | unknown) and the sources that moved since the sync."""
    from llmops.rag.sources import find_sources

    reasons: list[str] = []
    if not c.complete:
        reasons.append("the index has not been built completely")
    last = view["last_activity"]
    if last and last["status"] != "finished":
        reasons.append(f"the last {last['kind']} did not finish ({last['status']})")
    roots = next((tuple(spec.allowed_roots) for _, spec in users if _same_sources(spec, c)), ())
    try:
        listing = find_sources(project.root, view["sources_glob"], None, roots)
    except LlmopsError as exc:
        view["state"] = "unknown"
        view["reasons"] = [*reasons, f"the sources cannot be listed: {exc.message}"]
        return
    current = {f.path: f for f in listing.files}
    new = sorted(p for p in current if p not in recorded)
    deleted = sorted(p for p in recorded if p not in current)
    changed = sorted(p for p, f in current.items() if p in recorded and (
        recorded[p].size != f.size or recorded[p].mtime_ns != f.mtime_ns))
    for label, items in (("new", new), ("changed", changed), ("deleted", deleted)):
        view[label] = items[:SHOWN_PATHS]
        view[f"n_{label}"] = len(items)
        if items:
            reasons.append(f"{len(items)} {label} source(s) since the last sync")
    view["reasons"] = reasons
    view["state"] = "stale" if reasons else "fresh"


def _configs_by_name(project: Project) -> dict[str, list[tuple[str, Any]]]:
    """``kind: rag`` versions by index name: (NAME@VERSION, spec). Empty when unreadable."""
    from llmops.prompts import load_registry
    from llmops.rag.spec import spec_of

    out: dict[str, list[tuple[str, Any]]] = {}
    try:
        versions = load_registry(project).all()
    except LlmopsError:
        return out
    for version in versions:
        if version.kind != "rag":
            continue
        try:
            spec = spec_of(project, version)
        except LlmopsError:
            continue
        out.setdefault(spec.name, []).append((version.ref, spec))
    return out


def _same_sources(spec: Any, c: CollectionRecord) -> bool:
    return sorted(spec.sources) == list(c.config.get("sources") or [])


def _activity(row: dict[str, Any]) -> dict[str, Any]:
    from llmops.rag.store import now_iso

    return {"kind": row["kind"], "status": row["status"],
            "started_at": now_iso(row["started_at_ns"]),
            "finished_at": now_iso(row["finished_at_ns"]) if row["finished_at_ns"] else None,
            "chunks_embedded": row["chunks_embedded"], "chunks_deleted": row["chunks_deleted"],
            "message": redact(row["message"])}


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)
