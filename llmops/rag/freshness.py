"""``index check``: does the index of a RAG config still match its sources?

The fast path lists the sources and compares each one's size and mtime with the
manifest; only files that differ are read and hashed (and chunked, to count the chunks
that a sync would embed or delete). Neither Chroma nor the embedding model is loaded.
``verify=True`` also reads every id in the collection and reconciles it with the
manifest: chunks missing from the store, chunks the manifest does not know (orphans),
and chunks not written by this index (foreign).
"""

from __future__ import annotations

import contextlib
import time
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from llmops.rag.embedders import embedder_identity
from llmops.rag.manifest import CollectionRecord, Manifest, SourceRecord
from llmops.rag.sources import SourceFile, list_sources, read_source
from llmops.rag.spec import IndexSpec, spec_of
from llmops.rag.store import ChunkStore, connect, now_iso
from llmops.rag.sync import plan_chunks, stat_changed

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.prompts import PromptVersion


class VerifyReport(BaseModel):
    """What reconciling the manifest with Chroma's contents found."""

    collection_exists: bool
    chunks_in_store: int
    missing_chunks: int  # recorded in the manifest, absent from Chroma
    orphan_chunks: int  # in Chroma under this config, unknown to the manifest
    foreign_chunks: int  # in the collection, not written by this index
    embedder_mismatch: bool = False  # the collection's metadata names another embedder
    examples: dict[str, list[str]] = Field(default_factory=dict)

    @property
    def clean(self) -> bool:
        return (
            self.collection_exists
            and not (self.missing_chunks or self.orphan_chunks or self.foreign_chunks)
            and not self.embedder_mismatch
        )


class FreshnessReport(BaseModel):
    """The answer of ``index check``; :meth:`to_json` gives the documented fields."""

    schema_version: int = 1
    ref: str
    collection: str
    digest: str
    fresh: bool
    config_changed: bool
    config_changes: list[str] = Field(default_factory=list)
    new: list[str] = Field(default_factory=list)
    changed: list[str] = Field(default_factory=list)
    deleted: list[str] = Field(default_factory=list)
    up_to_date: int = 0
    unreadable: list[dict[str, str]] = Field(default_factory=list)
    empty: list[str] = Field(default_factory=list)
    staleness_ratio: float = 0.0  # stale sources / all sources (current or indexed)
    staleness_ratio_chunks: float = 0.0  # chunks to embed or delete / all chunks
    chunks: dict[str, int] = Field(default_factory=dict)
    oldest_indexed_at: str | None = None
    last_synced_at: str | None = None
    lag_s: dict[str, float | None] = Field(default_factory=dict)
    built: bool = False  # a sync of this exact config has completed at least once
    active: bool = False  # this config's collection is the one last switched to for the name
    last_sync_interrupted: bool = False
    verify: VerifyReport | None = None
    seconds: float = 0.0

    @property
    def reasons(self) -> list[str]:
        """Why the index is not fresh, in words."""
        out = [f"config changed: {c}" for c in self.config_changes]
        if not self.built and not self.config_changed:
            out.append("the index has not been built")
        if self.last_sync_interrupted:
            out.append("the last sync did not finish: run `llmops index sync` to complete it")
        for label, items in (
            ("new", self.new),
            ("changed", self.changed),
            ("deleted", self.deleted),
        ):
            if items:
                out.append(f"{len(items)} {label} source(s)")
        if self.verify is not None and not self.verify.clean:
            v = self.verify
            if not v.collection_exists:
                out.append("the collection is missing from Chroma")
            for n, what in (
                (v.missing_chunks, "missing"),
                (v.orphan_chunks, "orphan"),
                (v.foreign_chunks, "foreign"),
            ):
                if n:
                    out.append(f"{n} {what} chunk(s) in Chroma (`llmops index build` repairs)")
            if v.embedder_mismatch:
                out.append("the collection's metadata names another embedder")
        return out

    def to_json(self) -> dict[str, Any]:
        data = self.model_dump()
        data["reasons"] = self.reasons
        return data


def check_freshness(
    project: Project, version: PromptVersion, *, verify: bool = False
) -> FreshnessReport:
    """Compare the index of a RAG config with its sources (and, with ``verify``, with Chroma).

    Args:
        project: the project.
        version: a ``kind: rag`` version, or a prompt whose ``rag:`` names one.
        verify: also reconcile the manifest with the collection's real contents.

    Raises:
        IndexConfigError: a source glob matches nothing, or the config is invalid.
        RuntimeFailure: ``verify`` and Chroma cannot be reached.
    """
    started = time.perf_counter()
    spec = spec_of(project, version)
    files = list_sources(project.root, list(spec.sources), spec.origin, spec.allowed_roots)
    identity = embedder_identity(project, spec.embedder)
    digest = spec.digest(identity)
    location = spec.location(project)
    path = project.state_dir / "index.db"
    report = FreshnessReport(
        ref=spec.ref,
        collection=spec.chroma_name(digest),
        digest=digest,
        fresh=False,
        config_changed=False,
    )
    manifest = Manifest(path) if path.exists() else None
    with contextlib.closing(manifest) if manifest else contextlib.nullcontext():
        target = manifest.collection(location, digest) if manifest else None
        active = manifest.active(location, spec.name) if manifest else None
        report.active = active is not None and active.digest == digest
        built = target is not None and target.complete
        # Another config's collection serves this index name and this exact config has
        # no complete collection of its own (a config that was built keeps its own).
        if active is not None and active.digest != digest and not built:
            report.config_changed = True
            report.config_changes = _config_changes(active, spec.config(identity))
        baseline = target or (active if report.config_changed else None)
        indexed = manifest.sources(baseline.id) if manifest and baseline else {}
        _compare(project, spec, files, indexed, manifest, baseline, report)
        if target is not None:
            report.built = target.complete
            report.last_sync_interrupted = manifest is not None and (
                manifest.last_unfinished(target.id) is not None
            )
            if target.last_synced_at_ns:
                report.last_synced_at = now_iso(target.last_synced_at_ns)
        if report.config_changed and target is None:
            report.staleness_ratio = report.staleness_ratio_chunks = 1.0
        if verify:
            report.verify = _verify(project, spec, target, manifest, digest, identity)
    report.fresh = (
        report.built
        and not report.last_sync_interrupted
        and not report.config_changed
        and not (report.new or report.changed or report.deleted)
        and (report.verify is None or report.verify.clean)
    )
    report.seconds = round(time.perf_counter() - started, 4)
    return report


def _config_changes(active: CollectionRecord, wanted: dict[str, Any]) -> list[str]:
    old = active.config
    out = []
    if old.get("sources") != wanted["sources"]:
        out.append(f"sources {old.get('sources')} -> {wanted['sources']}")
    if old.get("chunking") != wanted["chunking"]:
        o, n = old.get("chunking") or {}, wanted["chunking"]
        before = f"{o.get('size')}/{o.get('overlap')}"
        out.append(f"chunking size/overlap {before} -> {n['size']}/{n['overlap']}")
    if old.get("chunker") != wanted["chunker"]:
        out.append(f"chunker version {old.get('chunker')} -> {wanted['chunker']}")
    if old.get("embedder") != wanted["embedder"]:
        out.append(f"embedder {old.get('embedder')} -> {wanted['embedder']}")
    elif old.get("embedder_identity") != wanted["embedder_identity"]:
        out.append(
            f"embedder {wanted['embedder']} has other weights "
            f"({str(old.get('embedder_identity'))[:19]} -> {wanted['embedder_identity'][:19]})"
        )
    return out


def _compare(
    project: Project,
    spec: IndexSpec,
    files: list[SourceFile],
    indexed: dict[str, SourceRecord],
    manifest: Manifest | None,
    baseline: CollectionRecord | None,
    report: FreshnessReport,
) -> None:
    now = time.time_ns()
    current = {f.path for f in files}
    report.deleted = sorted(p for p in indexed if p not in current)
    pending_since: list[int] = []
    indexing_lags: list[float] = []
    to_read: list[SourceFile] = []
    for f in files:
        rec = indexed.get(f.path)
        if rec is not None and not stat_changed(rec, f):
            _settled(rec, report, indexing_lags)
        else:
            to_read.append(f)
    to_embed = removed = 0
    for f in to_read:
        rec = indexed.get(f.path)
        read = read_source(project.root, f.path, spec.allowed_roots)
        if rec is not None and rec.sha256 == read.sha256 and read.sha256:
            _settled(rec, report, indexing_lags)  # touched, same content
            continue
        if read.text is None:
            report.unreadable.append({"path": f.path, "problem": read.problem or ""})
            if rec is not None and rec.status != "unreadable":
                report.changed.append(f.path)  # its old chunks are still indexed
                removed += rec.n_chunks
            continue
        (report.changed if rec is not None else report.new).append(f.path)
        pending_since.append(f.mtime_ns)
        plans = plan_chunks(f.path, read.text, spec.size, spec.overlap)
        old: set[str] = set()
        if manifest and baseline and rec:
            old = {c.chunk_id for c in manifest.chunks_of(baseline.id, [f.path]).get(f.path, [])}
        to_embed += sum(1 for c in plans if c.id not in old)
        removed += len(old - {c.id for c in plans})
    n_indexed = manifest.chunk_count(baseline.id) if manifest and baseline else 0
    if manifest and baseline and report.deleted:
        removed += sum(len(v) for v in manifest.chunks_of(baseline.id, report.deleted).values())
    report.chunks = {"indexed": n_indexed, "to_embed": to_embed, "to_delete": removed}
    union_sources = len(current | set(indexed))
    stale_sources = len(report.new) + len(report.changed) + len(report.deleted)
    report.staleness_ratio = round(stale_sources / union_sources, 6) if union_sources else 0.0
    union_chunks = n_indexed + to_embed
    report.staleness_ratio_chunks = (
        round((to_embed + removed) / union_chunks, 6) if union_chunks else 0.0
    )
    report.new.sort()
    report.changed.sort()
    if indexed:
        report.oldest_indexed_at = now_iso(min(r.indexed_at_ns for r in indexed.values()))
    report.lag_s = {
        "max_pending": round((now - min(pending_since)) / 1e9, 3) if pending_since else None,
        "max_indexing": round(max(indexing_lags), 3) if indexing_lags else None,
        "mean_indexing": round(sum(indexing_lags) / len(indexing_lags), 3)
        if indexing_lags
        else None,
    }


def _settled(rec: SourceRecord, report: FreshnessReport, lags: list[float]) -> None:
    if rec.status == "unreadable":
        report.unreadable.append({"path": rec.path, "problem": rec.problem or ""})
        return
    report.up_to_date += 1
    if rec.status == "empty":
        report.empty.append(rec.path)
    lags.append(max(0.0, (rec.indexed_at_ns - rec.mtime_ns) / 1e9))


def _verify(
    project: Project,
    spec: IndexSpec,
    target: CollectionRecord | None,
    manifest: Manifest | None,
    digest: str,
    identity: str,
) -> VerifyReport:
    client = connect(project, spec)
    name = target.chroma_name if target is not None else spec.chroma_name(digest)
    store = ChunkStore.open(client, spec.location(project), name)
    known = manifest.all_chunk_ids(target.id) if manifest and target else set()
    if store is None:
        return VerifyReport(
            collection_exists=False,
            chunks_in_store=0,
            missing_chunks=len(known),
            orphan_chunks=0,
            foreign_chunks=0,
        )
    ours, others = store.census(digest)
    seen = ours | others
    orphans = sorted(ours - known)
    foreign = sorted(others)
    missing = sorted(known - seen)
    meta_identity = store.metadata.get("embedder_identity")
    examples = {"missing": missing, "orphan": orphans, "foreign": foreign}
    return VerifyReport(
        collection_exists=True,
        chunks_in_store=len(seen),
        missing_chunks=len(missing),
        orphan_chunks=len(orphans),
        foreign_chunks=len(foreign),
        embedder_mismatch=meta_identity is not None and meta_identity != identity,
        examples={k: v[:5] for k, v in examples.items() if v},
    )
