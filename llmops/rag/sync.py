"""Build and sync: bring a collection in line with its sources, embedding only new chunks.

Chroma is the truth for what is embedded. For each changed source, the chunks the
source should have are compared with the chunks Chroma holds for it (a ``where=``
get): missing ones are added, with vectors copied from any stored chunk of the same
hash or else embedded; then the manifest is updated (one transaction per group of
sources); then stale chunks are deleted. The manifest therefore never names a chunk
the store lacks: a sync killed at any point leaves at most chunks the manifest does
not know yet. ``check`` reports the unfinished sources as changed and the index as
not fresh until a sync finishes; the next sync sweeps the whole collection for such
chunks (adopting those that belong, deleting the rest) and completes without
embedding anything twice. ``build`` always sweeps.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from llmops.errors import RuntimeFailure
from llmops.rag.chunking import chunk_text
from llmops.rag.embedders import Embedder, get_index_embedder
from llmops.rag.manifest import ChunkRecord, CollectionRecord, Manifest, SourceRecord
from llmops.rag.sources import SourceFile, SourceText, find_sources, read_source
from llmops.rag.spec import IndexSpec, spec_of
from llmops.rag.store import ChunkStore, connect, now_iso

if TYPE_CHECKING:
    import numpy as np

    from llmops.project import Project
    from llmops.prompts import PromptVersion

GROUP_FILES = 200
# A file modified less than this long before it was read may change again within the
# same mtime tick without its stat changing: such files are always re-read.
RACY_NS = 1_000_000_000


@dataclass(frozen=True)
class ChunkPlan:
    """A chunk a source should have in the index."""

    id: str
    sha: str
    index: int
    count: int
    text: str


def plan_chunks(path: str, text: str, size: int, overlap: int) -> list[ChunkPlan]:
    """The chunks of one source, with ids derived from the path and the chunk's content.

    An id changes only when the chunk's text does, so an edit elsewhere in the file
    (which may shift chunk positions) does not force re-embedding.
    """
    texts = chunk_text(text, size, overlap)
    seen: dict[str, int] = {}
    out = []
    for index, chunk in enumerate(texts):
        sha = hashlib.sha256(chunk.encode()).hexdigest()
        occurrence = seen.get(sha, 0)
        seen[sha] = occurrence + 1
        chunk_id = hashlib.sha256(f"{path}\0{sha}\0{occurrence}".encode()).hexdigest()[:32]
        out.append(ChunkPlan(chunk_id, sha, index, len(texts), chunk))
    return out


@dataclass
class SyncResult:
    """What a build or sync did."""

    ref: str
    collection: str
    digest: str
    location: str
    mode: str  # build | sync
    switched: bool = False  # this sync made the collection the active one
    sources_total: int = 0
    sources_read: int = 0
    sources_removed: int = 0
    chunks_total: int = 0
    chunks_embedded: int = 0
    chunks_reused: int = 0
    chunks_deleted: int = 0
    chunks_updated: int = 0
    swept: bool = False
    problems: list[dict[str, str]] = field(default_factory=list)
    empty: list[str] = field(default_factory=list)
    skipped: list[dict[str, str]] = field(default_factory=list)  # links out of the project
    seconds: float = 0.0
    embed_seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        return {"schema_version": 1, **asdict(self)}


def sync_index(
    project: Project,
    version: PromptVersion,
    *,
    full: bool = False,
    progress: Callable[[str], None] | None = None,
) -> SyncResult:
    """Bring the index of a RAG config up to date with its sources.

    Args:
        project: the project.
        version: a ``kind: rag`` version (or a prompt whose ``rag:`` names one).
        full: re-read every source and sweep the whole collection (``index build``)
            instead of trusting size and mtime.
        progress: called with one line per group of sources done.

    Raises:
        IndexConfigError: a glob matches nothing, or the config is invalid.
        RuntimeFailure: Chroma cannot be reached.
    """
    started = time.perf_counter()
    spec = spec_of(project, version)
    listing = find_sources(project.root, list(spec.sources), spec.origin, spec.allowed_roots)
    files = listing.files
    embedder = get_index_embedder(project, spec.embedder)
    identity = embedder.identity
    digest = spec.digest(identity)
    location = spec.location(project)
    with _locked(project), contextlib.closing(Manifest(project.state_dir / "index.db")) as manifest:
        record, store = _open_collection(project, spec, manifest, embedder, digest)
        result = SyncResult(
            spec.ref, record.chroma_name, digest, location, "build" if full else "sync",
            skipped=listing.skipped,
        )
        interrupted = manifest.close_unfinished(record.id)
        if store.count() == 0 and manifest.chunk_count(record.id) > 0:
            manifest.forget_collection_contents(record.id)  # the collection was dropped
            interrupted = True
        activity = manifest.start_activity(record.id, result.mode)
        run = _Sync(project, spec, record, manifest, store, embedder, result, activity, progress)
        try:
            run.run(files, sweep=full or interrupted, full=full)
        except BaseException as exc:
            manifest.finish_activity(activity, "failed", f"{type(exc).__name__}: {exc}")
            raise
        previous = manifest.active(location, spec.name)
        manifest.finish_sync(record)
        manifest.finish_activity(activity, "finished")
        store.set_metadata(last_synced_at=now_iso())
        result.switched = previous is None or previous.id != record.id
        result.chunks_total = manifest.chunk_count(record.id)
    result.seconds = round(time.perf_counter() - started, 3)
    result.embed_seconds = round(result.embed_seconds, 3)
    return result


def _open_collection(
    project: Project, spec: IndexSpec, manifest: Manifest, embedder: Embedder, digest: str
) -> tuple[CollectionRecord, ChunkStore]:
    """The manifest record and the Chroma collection of a digest, created when new."""
    location = spec.location(project)
    client = connect(project, spec)
    record = manifest.collection(location, digest)
    if record is None:
        record = manifest.add_collection(
            location=location,
            digest=digest,
            name=spec.name,
            chroma_name=spec.chroma_name(digest),
            config=spec.config(embedder.identity),
            embedder=spec.embedder,
            embedder_identity=embedder.identity,
            dim=embedder.dim,
        )
    metadata = {
        "config_digest": digest,
        "config_ref": spec.ref,
        "embedder": spec.embedder,
        "embedder_identity": embedder.identity,
        "dim": record.dim,
        "created_at": now_iso(),
        "last_synced_at": "never",
    }
    store = ChunkStore.open(client, location, record.chroma_name, create=metadata)
    assert store is not None
    return record, store


@contextlib.contextmanager
def _locked(project: Project) -> Iterator[None]:
    """One sync at a time per project; the kernel drops the lock if the process dies."""
    project.state_dir.mkdir(parents=True, exist_ok=True)
    with open(project.state_dir / "index.lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise RuntimeFailure(
                "another index build or sync is running in this project",
                hint="wait for it to finish",
            ) from None
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def stat_changed(record: SourceRecord | None, f: SourceFile) -> bool:
    """Whether a source must be re-read: new, resized, touched, or racily indexed."""
    if record is None:
        return True
    if record.size != f.size or record.mtime_ns != f.mtime_ns:
        return True
    return record.indexed_at_ns - f.mtime_ns < RACY_NS


class _Sync:
    def __init__(
        self,
        project: Project,
        spec: IndexSpec,
        record: CollectionRecord,
        manifest: Manifest,
        store: ChunkStore,
        embedder: Embedder,
        result: SyncResult,
        activity: int,
        progress: Callable[[str], None] | None,
    ) -> None:
        self.project = project
        self.spec = spec
        self.record = record
        self.manifest = manifest
        self.store = store
        self.embedder = embedder
        self.result = result
        self.activity = activity
        self.progress = progress or (lambda line: None)

    def run(self, files: list[SourceFile], *, sweep: bool, full: bool) -> None:
        indexed = self.manifest.sources(self.record.id)
        current = {f.path: f for f in files}
        removed = sorted(set(indexed) - set(current))
        suspect = self._sweep(current) if sweep else set()
        todo = [
            f for f in files if full or f.path in suspect or stat_changed(indexed.get(f.path), f)
        ]
        self.result.sources_total = len(files)
        # Each group is one upsert and one delete in Chroma, then one manifest transaction;
        # removed sources ride along with the groups of changed ones.
        n_groups = max(1, -(-len(todo) // GROUP_FILES), -(-len(removed) // (GROUP_FILES * 4)))
        for g in range(n_groups):
            group = todo[g * GROUP_FILES : (g + 1) * GROUP_FILES]
            gone = removed[g * GROUP_FILES * 4 : (g + 1) * GROUP_FILES * 4]
            if not group and not gone:
                continue
            self._sync_group(group, gone, indexed)
            self.result.sources_read += len(group)
            self.result.sources_removed += len(gone)
            self.manifest.update_activity(
                self.activity,
                sources_done=self.result.sources_read,
                chunks_embedded=self.result.chunks_embedded,
                chunks_reused=self.result.chunks_reused,
                chunks_deleted=self.result.chunks_deleted,
            )
            self.progress(
                f"{self.result.sources_read}/{len(todo)} sources read, "
                f"{self.result.chunks_embedded} chunks embedded"
            )

    def _sweep(self, current: dict[str, SourceFile]) -> set[str]:
        """Compare the whole collection with the manifest; returns sources to re-check."""
        self.result.swept = True
        known = self.manifest.chunk_paths(self.record.id)
        ours, foreign = self.store.census(self.record.digest)
        seen = ours | foreign
        stray = sorted(foreign)  # not written by this index
        suspect: set[str] = set()
        unknown = sorted(ours - set(known))
        for chunk_id, meta in self.store.metadata_of(unknown).items():
            source = meta.get("source")
            if isinstance(source, str) and source in current:
                suspect.add(source)  # its source decides: kept if it still belongs
            else:
                stray.append(chunk_id)
        suspect.update(path for chunk_id, path in known.items() if chunk_id not in seen)
        self.store.delete(stray)
        self.result.chunks_deleted += len(stray)
        return suspect

    def _sync_group(
        self, group: list[SourceFile], gone: list[str], indexed: dict[str, SourceRecord]
    ) -> None:
        root, allowed = self.project.root, self.spec.allowed_roots
        reads = [read_source(root, f.path, allowed) for f in group]
        plans: dict[str, list[ChunkPlan]] = {}
        for read in reads:
            if read.text is None:
                plans[read.path] = []
                self.result.problems.append({"path": read.path, "problem": read.problem or ""})
            else:
                plans[read.path] = plan_chunks(
                    read.path, read.text, self.spec.size, self.spec.overlap
                )
                if not plans[read.path]:
                    self.result.empty.append(read.path)
        present = self.store.chunks_of_sources([r.path for r in reads] + gone)
        desired = {c.id: (path, c) for path, chunks in plans.items() for c in chunks}
        sha_of = {r.path: r.sha256 for r in reads}
        stamp = now_iso()
        to_add = [(p, c) for cid, (p, c) in desired.items() if cid not in present]
        to_update = [
            (p, c, present[cid])
            for cid, (p, c) in desired.items()
            if cid in present
            and (
                present[cid].get("chunk_index") != c.index
                or present[cid].get("chunk_count") != c.count
                or present[cid].get("source_sha256") != sha_of[p]
            )
        ]
        recorded = self.manifest.chunks_of(self.record.id, gone) if gone else {}
        stale = set(present) | {c.chunk_id for chunks in recorded.values() for c in chunks}
        to_delete = sorted(stale - set(desired))
        if to_add:
            self.store.add(
                [c.id for _, c in to_add],
                self._vectors([c for _, c in to_add], present),
                [c.text for _, c in to_add],
                [self._meta(p, sha_of[p], c, stamp) for p, c in to_add],
            )
        if to_update:  # moved chunks keep their vector; only their position changed
            self.store.update_metadata(
                [c.id for _, c, _ in to_update],
                [
                    self._meta(p, sha_of[p], c, str(m.get("indexed_at", stamp)))
                    for p, c, m in to_update
                ],
            )
        self.result.chunks_deleted += len(to_delete)
        self.result.chunks_updated += len(to_update)
        records = [
            self._record(r, group[i], indexed.get(r.path), plans[r.path])
            for i, r in enumerate(reads)
        ]
        chunks = {
            path: [ChunkRecord(c.id, path, c.sha, c.index) for c in plan]
            for path, plan in plans.items()
        }
        self.manifest.replace_sources(self.record.id, records, chunks, removed=gone)
        # Deleted last: a death before this leaves orphans (found by the next sync's sweep),
        # never a manifest that names chunks the store no longer has.
        self.store.delete(to_delete)

    def _record(
        self, read: SourceText, listed: SourceFile, old: SourceRecord | None, plan: list[ChunkPlan]
    ) -> SourceRecord:
        status = "unreadable" if read.text is None else ("indexed" if plan else "empty")
        size, mtime = (
            (read.size, read.mtime_ns) if read.mtime_ns else (listed.size, listed.mtime_ns)
        )
        now = time.time_ns()
        same = old is not None and old.sha256 == read.sha256 and old.status == status
        # Keep when this content was first indexed, unless it was indexed racily.
        keep = same and old is not None and old.indexed_at_ns - old.mtime_ns >= RACY_NS
        return SourceRecord(
            path=read.path,
            status=status,
            problem=read.problem,
            size=size,
            mtime_ns=mtime,
            sha256=read.sha256,
            n_chunks=len(plan),
            indexed_at_ns=old.indexed_at_ns if keep and old is not None else now,
        )

    def _meta(self, path: str, source_sha: str, c: ChunkPlan, stamp: str) -> dict[str, Any]:
        return {
            "source": path,
            "source_sha256": source_sha,
            "chunk_sha256": c.sha,
            "chunk_index": c.index,
            "chunk_count": c.count,
            "config_digest": self.record.digest,
            "indexed_at": stamp,
        }

    def _vectors(self, chunks: list[ChunkPlan], present: dict[str, dict[str, Any]]) -> np.ndarray:
        """Vectors for new chunks: copied from a stored chunk of the same hash, else embedded."""
        import numpy as np

        shas = {c.sha for c in chunks}
        donors: dict[str, str] = {
            str(m["chunk_sha256"]): cid
            for cid, m in present.items()
            if m.get("chunk_sha256") in shas
        }
        for sha, cid in self.manifest.ids_with_sha(self.record.id, shas - set(donors)).items():
            donors[sha] = cid
        stored = self.store.embeddings_of(sorted(set(donors.values()))) if donors else {}
        by_sha: dict[str, Any] = {}
        for sha, cid in donors.items():
            if cid in stored and stored[cid] is not None:
                by_sha[sha] = np.asarray(stored[cid], dtype=np.float32)
        todo: dict[str, str] = {}
        for c in chunks:
            if c.sha not in by_sha:
                todo.setdefault(c.sha, c.text)
        if todo:
            t0 = time.perf_counter()
            vectors = self.embedder.embed(list(todo.values()))
            self.result.embed_seconds += time.perf_counter() - t0
            by_sha.update(zip(todo, vectors, strict=True))
        # A text embedded once serves every new chunk with the same hash.
        self.result.chunks_embedded += len(todo)
        self.result.chunks_reused += len(chunks) - len(todo)
        return np.stack([by_sha[c.sha] for c in chunks]).astype(np.float32)
