"""RAG index speed and correctness on a generated markdown corpus, beside LangChain's indexing API.

    python bench/index_speed.py                                   # 10,000 files, hash-256
    python bench/index_speed.py --files 2000 --embedder all-MiniLM-L6-v2 --no-langchain

Steps: generate N markdown files (1-3 KB) under /tmp; build the index; time `check`
with nothing changed (goal < 1 s); edit 1% of the files, delete 5 and add 5; check the
answer of `check` against the known truth; sync and count the chunks it embeds against
the chunks that really changed; time that sync against embedding those chunks alone
(goal: at most 1.5x). Then the same corpus and changes through LangChain's `index()`
with a SQL record manager over langchain-chroma (cleanup `incremental` and `full`),
counting what it embeds and what it leaves behind, and what a changed chunk size or a
changed embedding model of the same dimension does to each. Both sides get the same
chunks (this package's chunker) and the same embedder. Figures are printed and
appended to bench/RESULTS.md under "index".
"""

from __future__ import annotations

import argparse
import contextlib
import os
import random
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from llmops.project import load_project  # noqa: E402
from llmops.prompts import load_registry  # noqa: E402
from llmops.rag import check_index, sync_index  # noqa: E402
from llmops.rag.embedders import get_index_embedder  # noqa: E402
from llmops.rag.sync import plan_chunks  # noqa: E402

_SYLLABLE_TEXT = "ka lo mi ne ra tu so ve di pa ri gon tel mar sen lin dor fa bel quo zan wex"
SYLLABLES = _SYLLABLE_TEXT.split()
SIZE, OVERLAP = 800, 100
lines: list[str] = []


def say(text: str = "") -> None:
    print(text, flush=True)
    lines.append(text)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


# corpus --------------------------------------------------------------------------------


def vocabulary(n: int = 3000) -> list[str]:
    rnd = random.Random(7)
    words = set()
    while len(words) < n:
        words.add("".join(rnd.choice(SYLLABLES) for _ in range(rnd.randint(1, 3))))
    return sorted(words)


def document(seed: int, vocab: list[str]) -> str:
    rnd = random.Random(seed)
    target = rnd.randint(1000, 3000)
    parts = [f"# Topic {seed}: {' '.join(rnd.choice(vocab) for _ in range(3))}\n"]
    size = len(parts[0])
    section = 0
    while size < target:
        if section == 0 or rnd.random() < 0.35:
            heading = f"## {' '.join(rnd.choice(vocab) for _ in range(2)).title()} {section}\n"
            parts.append(heading)
            size += len(heading)
            section += 1
        words = [rnd.choice(vocab) for _ in range(rnd.randint(25, 70))]
        para = " ".join(words).capitalize() + ".\n"
        parts.append(para)
        size += len(para) + 1
    return "\n".join(parts)[:target].rstrip() + "\n"


def rel(i: int) -> str:
    return f"corpus/d{i // 100:03d}/doc{i:05d}.md"


def generate(root: Path, n: int, vocab: list[str]) -> None:
    old = time.time_ns() - 3600 * 10**9  # a corpus that has existed for an hour
    for i in range(n):
        path = root / rel(i)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(document(i, vocab), encoding="utf-8")
        os.utime(path, ns=(old, old))


def make_project(root: Path, n: int, embedder: str, vocab: list[str]) -> None:
    if root.exists():
        shutil.rmtree(root)
    (root / "prompts" / "corpus").mkdir(parents=True)
    (root / "llmops.yaml").write_text("provider: {kind: local}\n")
    write_config(root, "v1", SIZE, OVERLAP, embedder)
    generate(root, n, vocab)


def write_config(root: Path, version: str, size: int, overlap: int, embedder: str) -> None:
    (root / "prompts" / "corpus" / f"{version}.yaml").write_text(
        "kind: rag\nsources: corpus/**/*.md\n"
        f"chunking: {{size: {size}, overlap: {overlap}}}\n"
        f"embedder: {embedder}\ntop_k: 4\ncollection: corpus\n"
    )


def chunk_ids(
    root: Path, paths: list[str], size: int = SIZE, overlap: int = OVERLAP
) -> dict[str, Any]:
    out = {}
    for p in paths:
        full = root / p
        if full.exists():
            for c in plan_chunks(p, full.read_text(encoding="utf-8"), size, overlap):
                out[c.id] = c
    return out


def apply_changes(root: Path, n: int, vocab: list[str]) -> dict[str, list[str]]:
    rnd = random.Random(11)
    edited = [rel(i) for i in range(0, n, 100)]  # 1%
    for p in edited:
        path = root / p
        text = path.read_text(encoding="utf-8")
        paras = text.split("\n\n")
        k = rnd.randrange(1, len(paras))
        paras[k] = paras[k].rstrip() + " " + " ".join(rnd.choice(vocab) for _ in range(12)) + "."
        path.write_text("\n\n".join(paras), encoding="utf-8")
    deleted = [rel(i) for i in range(50, n, max(1, n // 5))][:5]
    for p in deleted:
        (root / p).unlink()
    added = [f"corpus/new/doc{n + j:05d}.md" for j in range(5)]
    for j, p in enumerate(added):
        (root / p).parent.mkdir(parents=True, exist_ok=True)
        (root / p).write_text(document(10**6 + j, vocab), encoding="utf-8")
    return {"changed": sorted(edited), "deleted": sorted(deleted), "new": sorted(added)}


# our side ------------------------------------------------------------------------------


def cli_check_wall(root: Path, ref: str, runs: int = 3) -> float:
    exe = Path(sys.executable).with_name("llmops")
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(
            [str(exe), "--project", str(root), "index", "check", ref],
            capture_output=True,
            check=False,
        )
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def ours(root: Path, n: int, embedder_name: str, vocab: list[str]) -> dict[str, Any]:
    project = load_project(root)
    version = load_registry(project).resolve("corpus@v1")
    build = sync_index(project, version)
    say(
        f"build: {build.sources_total} files, {build.chunks_total} chunks in {build.seconds:.1f} s "
        f"(embedding {build.embed_seconds:.1f} s)"
    )
    noop = [check_index(project, version) for _ in range(3)]
    assert all(r.fresh for r in noop), noop[0].reasons
    api_s = statistics.median(r.seconds for r in noop)
    wall_s = cli_check_wall(root, "corpus@v1")
    say(
        f"check, nothing changed: {api_s:.3f} s in-process; `llmops index check` {wall_s:.2f} s "
        "wall incl. interpreter start (goal < 1 s)"
    )
    noop_sync = sync_index(project, version)
    say(f"sync, nothing changed: {noop_sync.seconds:.2f} s, {noop_sync.chunks_embedded} embedded")
    before = set(chunk_ids(root, [rel(i) for i in range(n)]))
    truth = apply_changes(root, n, vocab)
    after_ids = chunk_ids(root, [rel(i) for i in range(n)] + truth["new"])
    to_embed = {cid: c for cid, c in after_ids.items() if cid not in before}
    to_delete = before - set(after_ids)
    report = check_index(project, version)
    correct = (report.new, report.changed, report.deleted) == (
        truth["new"],
        truth["changed"],
        truth["deleted"],
    )
    say(
        f"after editing {len(truth['changed'])}, deleting {len(truth['deleted'])}, adding "
        f"{len(truth['new'])}: check {report.seconds:.3f} s, new/changed/deleted = "
        f"{len(report.new)}/{len(report.changed)}/{len(report.deleted)}, "
        f"correct vs truth: {correct}; staleness {report.staleness_ratio:.4f} (sources), "
        f"{report.staleness_ratio_chunks:.4f} (chunks); to embed {report.chunks['to_embed']} "
        f"(truth {len(to_embed)}), to delete {report.chunks['to_delete']} (truth {len(to_delete)})"
    )
    assert correct and report.chunks["to_embed"] == len(to_embed)
    result = sync_index(project, version)
    texts = list({c.sha: c.text for c in to_embed.values()}.values())
    embedder = get_index_embedder(project, embedder_name)
    alone = min(timed(lambda: embedder.embed(texts))[0] for _ in range(2))
    ratio = result.seconds / alone if alone else float("inf")
    say(
        f"sync: {result.seconds:.2f} s; embedded {result.chunks_embedded} chunks (truth "
        f"{len(to_embed)}: {result.chunks_embedded == len(to_embed)}), reused "
        f"{result.chunks_reused}, deleted {result.chunks_deleted} (truth {len(to_delete)})"
    )
    say(
        f"embedding those {len(texts)} texts alone: {alone:.2f} s -> sync/embed = {ratio:.2f}x "
        f"(goal <= 1.5x); sync's own work beyond embedding: {result.seconds - alone:.2f} s"
        + (
            " (hash-* embeds in microseconds: the ratio is only meaningful with a real model)"
            if embedder_name.startswith("hash-")
            else ""
        )
    )
    verify = check_index(project, version, verify=True)
    say(
        f"check --verify after sync: fresh={verify.fresh} in {verify.seconds:.2f} s "
        f"({verify.verify.chunks_in_store if verify.verify else '?'} chunks in Chroma)"
    )
    write_config(root, "v2", 600, OVERLAP, embedder_name)
    v2 = check_index(project, load_registry(project).resolve("corpus@v2"))
    say(
        f"chunk size 800 -> 600: config_changed={v2.config_changed} {v2.config_changes}, "
        "nothing embedded until `sync` builds the new collection beside the old one"
    )
    other = "hash-128" if embedder_name.startswith("hash-") else "hash-384"
    write_config(root, "v3", SIZE, OVERLAP, other)
    v3 = check_index(project, load_registry(project).resolve("corpus@v3"))
    say(
        f"embedder {embedder_name} -> {other}: config_changed={v3.config_changed} "
        f"{v3.config_changes} (same name, other weights: tests/test_rag_e2e.py)"
    )
    return {"truth": truth, "build": build, "sync": result}


# LangChain -----------------------------------------------------------------------------


def langchain_side(root: Path, n: int, embedder_name: str, vocab: list[str]) -> None:
    import numpy as np
    from langchain_chroma import Chroma
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_core.indexing import index

    try:
        from langchain_classic.indexes import SQLRecordManager
    except ImportError:
        from langchain_community.indexes._sql_record_manager import SQLRecordManager

    project = load_project(ROOT)
    base = get_index_embedder(project, embedder_name)

    class Counting(Embeddings):
        """The same embedder; ``rotate`` gives another model of the same dimension."""

        def __init__(self, rotate: bool = False) -> None:
            self.count = 0
            self.matrix = None
            if rotate:
                q, _ = np.linalg.qr(np.random.default_rng(3).normal(size=(base.dim, base.dim)))
                self.matrix = q.astype(np.float32)

        def _embed(self, texts: list[str]) -> list[list[float]]:
            v = base.embed(texts)
            if self.matrix is not None:
                v = v @ self.matrix
            return v.tolist()

        def embed_documents(self, texts: list[str]) -> list[list[float]]:
            self.count += len(texts)
            return self._embed(texts)

        def embed_query(self, text: str) -> list[float]:
            return self._embed([text])[0]

    lc_root = root.parent / "langchain"
    if lc_root.exists():
        shutil.rmtree(lc_root)
    make_project(lc_root, n, embedder_name, vocab)
    emb = Counting()
    store = Chroma(
        collection_name="bench", embedding_function=emb, persist_directory=str(lc_root / "chroma")
    )
    manager = SQLRecordManager("chroma/bench", db_url=f"sqlite:///{lc_root / 'records.db'}")
    manager.create_schema()

    def docs(size: int = SIZE, overlap: int = OVERLAP) -> list[Any]:
        out = []
        for path in sorted(lc_root.glob("corpus/**/*.md")):
            p = path.relative_to(lc_root).as_posix()
            for c in plan_chunks(p, path.read_text(encoding="utf-8"), size, overlap):
                out.append(Document(page_content=c.text, metadata={"source": p}))
        return out

    def run(label: str, cleanup: str, documents: list[Any], embeddings: Counting) -> dict[str, Any]:
        store._embedding_function = embeddings
        embeddings.count = 0
        t, r = timed(
            lambda: index(documents, manager, store, cleanup=cleanup, source_id_key="source")
        )
        say(
            f"  {label}: {t:.1f} s, embedded {embeddings.count}, added {r['num_added']}, "
            f"skipped {r['num_skipped']}, deleted {r['num_deleted']}"
        )
        return r

    say("LangChain index() + SQLRecordManager + langchain-chroma, same chunks and embedder:")
    run("initial build (incremental)", "incremental", docs(), emb)
    run("nothing changed, incremental", "incremental", docs(), emb)
    run("nothing changed, full", "full", docs(), emb)
    truth = apply_changes(lc_root, n, vocab)
    changed_docs = docs()
    run("after the changes, incremental", "incremental", changed_docs, emb)
    left = store.get(where={"source": {"$in": truth["deleted"]}}, include=[])
    say(
        f"  -> chunks of the {len(truth['deleted'])} deleted files still in the index after "
        f"incremental: {len(left['ids'])} (no dry-run or freshness report exists)"
    )
    run("after the changes, full", "full", changed_docs, emb)
    left = store.get(where={"source": {"$in": truth["deleted"]}}, include=[])
    say(f"  -> after full: {len(left['ids'])} left")
    total = store._collection.count()
    r = run("chunk size 800 -> 600, incremental", "incremental", docs(600, OVERLAP), emb)
    say(
        f"  -> no config check or dry run: {r['num_added']} chunks re-embedded and "
        f"{r['num_deleted']} deleted in place, in the live collection of {total} chunks"
    )
    run("chunk size back to 800, full", "full", docs(), emb)
    other = Counting(rotate=True)
    r = run("embedding model swapped (same dimension), incremental", "incremental", docs(), other)
    kept = store._collection.count() - r["num_added"]
    say(
        f"  -> not noticed: {kept} chunks keep the old model's vectors (the {r['num_added']} "
        "re-embedded are the batch-split ones), queries use the new model"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--files", type=int, default=10_000)
    parser.add_argument("--embedder", default="hash-256")
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/llmops-bench-index"))
    parser.add_argument("--no-langchain", action="store_true")
    parser.add_argument("--no-results", action="store_true", help="do not append to RESULTS.md")
    args = parser.parse_args()
    vocab = vocabulary()
    root = args.workdir / "ours"
    say(
        f"corpus: {args.files} markdown files of 1-3 KB, chunking {SIZE}/{OVERLAP}, "
        f"embedder {args.embedder}, {os.cpu_count()} CPUs"
    )
    t, _ = timed(lambda: make_project(root, args.files, args.embedder, vocab))
    say(f"generated in {t:.1f} s under {args.workdir}")
    ours(root, args.files, args.embedder, vocab)
    if not args.no_langchain:
        langchain_side(args.workdir, args.files, args.embedder, vocab)
    if not args.no_results:
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as out:
            stamp = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
            cmd = " ".join(["python bench/index_speed.py", *sys.argv[1:]])
            out.write(f"\n## index ({stamp})\n\n`{cmd}`\n\n```\n" + "\n".join(lines) + "\n```\n")
    with contextlib.suppress(Exception):
        shutil.rmtree(args.workdir)


if __name__ == "__main__":
    main()
