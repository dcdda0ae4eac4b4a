"""Index build, check and sync on embedded Chroma with the ``hash-64`` embedder."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import chromadb  # noqa: F401
import pytest
from typer.testing import CliRunner

from llmops.errors import IndexConfigError
from llmops.rag import build_index, check_index, retrieve, sync_index
from llmops.rag.sync import plan_chunks
from tests.fixtures_chroma import RagProject, make_doc


def cli(rp: RagProject, *args: str) -> tuple[int, str, str]:
    from llmops.cli import app

    result = CliRunner().invoke(app, ["--project", str(rp.root), "index", *args])
    return result.exit_code, result.stdout, result.stderr


def cli_at(root: Path, *args: str) -> tuple[int, str, str]:
    from llmops.cli import app

    result = CliRunner().invoke(app, ["--project", str(root), "index", *args])
    return result.exit_code, result.stdout, result.stderr


def expected_chunk_ids(rp: RagProject, size: int = 300, overlap: int = 50) -> set[str]:
    ids = set()
    for path in sorted(rp.corpus.rglob("*.md")):
        rel = path.relative_to(rp.root).as_posix()
        try:
            text = path.read_bytes().decode("utf-8")
        except UnicodeDecodeError:
            continue
        ids |= {c.id for c in plan_chunks(rel, text, size, overlap)}
    return ids


def test_build_then_check_is_fresh(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    before = check_index(project, version)
    assert not before.fresh and len(before.new) == 12 and before.staleness_ratio == 1.0
    result = sync_index(project, version)
    assert result.switched and result.sources_read == 12
    assert result.chunks_embedded == result.chunks_total == len(expected_chunk_ids(rag_project))
    report = check_index(project, version, verify=True)
    assert report.fresh, report.reasons
    assert report.up_to_date == 12 and report.staleness_ratio == 0.0
    assert report.verify is not None and report.verify.chunks_in_store == result.chunks_total
    assert report.oldest_indexed_at is not None and report.last_synced_at is not None
    assert report.lag_s["max_indexing"] is not None


def test_sync_is_idempotent(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    sync_index(project, version)
    again = sync_index(project, version)
    assert (again.chunks_embedded, again.chunks_deleted, again.chunks_reused) == (0, 0, 0)
    assert not again.switched


def test_edit_delete_add_are_seen_and_synced(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    sync_index(project, version)
    old_ids = expected_chunk_ids(rag_project)
    doc = rag_project.corpus / "doc00.md"
    doc.write_text(doc.read_text() + "\n## Late section\n\nA brand new paragraph about refunds.\n")
    (rag_project.corpus / "sub" / "doc01.md").unlink()
    rag_project.write_doc("sub/new.md", make_doc(99))
    report = check_index(project, version)
    assert not report.fresh
    assert report.changed == ["corpus/doc00.md"]
    assert report.deleted == ["corpus/sub/doc01.md"]
    assert report.new == ["corpus/sub/new.md"]
    assert report.up_to_date == 10
    assert report.staleness_ratio == pytest.approx(3 / 13, abs=1e-6)
    new_ids = expected_chunk_ids(rag_project)
    assert report.chunks["to_embed"] == len(new_ids - old_ids)
    assert report.chunks["to_delete"] == len(old_ids - new_ids)
    code, out, _ = cli(rag_project, "check", "handbook@v1")
    assert code == 1 and "STALE" in out
    result = sync_index(project, version)
    assert result.chunks_embedded == len(new_ids - old_ids)
    assert result.chunks_deleted == len(old_ids - new_ids)
    assert result.sources_read == 2 and result.sources_removed == 1
    after = check_index(project, version, verify=True)
    assert after.fresh, after.reasons
    assert after.verify is not None and after.verify.chunks_in_store == len(new_ids)


def test_rename_is_deleted_plus_new_and_reuses_vectors(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    sync_index(project, version)
    (rag_project.corpus / "doc02.md").rename(rag_project.corpus / "renamed.md")
    report = check_index(project, version)
    assert report.deleted == ["corpus/doc02.md"] and report.new == ["corpus/renamed.md"]
    result = sync_index(project, version)
    assert result.chunks_embedded == 0  # same texts: vectors copied from the old chunks
    assert result.chunks_reused > 0 and result.chunks_deleted == result.chunks_reused
    assert check_index(project, version, verify=True).fresh
    hits = retrieve(project, version, make_doc(2).split("\n")[4], top_k=1)
    assert hits[0]["source"] == "corpus/renamed.md"


def test_touched_file_with_same_content_is_up_to_date(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    sync_index(project, version)
    path = rag_project.corpus / "doc04.md"
    st = path.stat()
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))
    report = check_index(project, version)
    assert report.fresh and report.up_to_date == 12
    assert sync_index(project, version).chunks_embedded == 0


def test_edit_in_one_section_keeps_other_sections_chunks(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    sync_index(project, version)
    path = rag_project.corpus / "doc06.md"
    text = path.read_text()
    path.write_text(text.replace("## Section 0\n", "## Section 0\n\nOne more sentence.\n"))
    result = sync_index(project, version)
    n_chunks = len(plan_chunks("x", text, 300, 50))
    assert 0 < result.chunks_embedded < n_chunks


def test_glob_matching_nothing_is_a_config_error(rag_project: RagProject) -> None:
    rag_project.write_config("v2", sources=["corpus/**/*.md", "missing/*.txt"])
    with pytest.raises(IndexConfigError, match=r"missing/\*\.txt"):
        check_index(rag_project.project(), rag_project.version("handbook@v2"))
    code, _, err = cli(rag_project, "sync", "handbook@v2")
    assert code == 2
    assert "v2.yaml" in err and "matches no file" in err
    assert not (rag_project.root / ".llmops" / "chroma").exists()  # nothing half-written


def test_non_utf8_file_is_reported_and_the_rest_indexed(rag_project: RagProject) -> None:
    bad = rag_project.corpus / "latin1.md"
    bad.write_bytes("# Caf\xe9\n\nna\xefve text\n".encode("latin-1"))
    project, version = rag_project.project(), rag_project.version()
    result = sync_index(project, version)
    assert result.problems == [{"path": "corpus/latin1.md", "problem": "not valid UTF-8 (byte 5)"}]
    assert result.sources_total == 13
    assert result.chunks_total == len(expected_chunk_ids(rag_project))
    report = check_index(project, version, verify=True)
    assert report.fresh
    problem = {"path": "corpus/latin1.md", "problem": "not valid UTF-8 (byte 5)"}
    assert report.unreadable == [problem]
    code, _, err = cli(rag_project, "sync", "handbook@v1")
    assert code == 0
    code, _, err = cli(rag_project, "build", "handbook@v1")
    assert code == 0 and "latin1.md: not valid UTF-8" in err


def test_unreadable_file_is_reported(rag_project: RagProject) -> None:
    path = rag_project.corpus / "locked.md"
    if os.geteuid() == 0:
        # root reads files whatever their mode; a link to nowhere cannot be read by anyone
        path.symlink_to(rag_project.corpus / "nowhere.md")
    else:
        rag_project.write_doc("locked.md", "# Locked\n\nNobody may read this.\n")
        path.chmod(0)
    try:
        result = sync_index(rag_project.project(), rag_project.version())
    finally:
        if not path.is_symlink():
            path.chmod(0o644)
    assert [p["path"] for p in result.problems] == ["corpus/locked.md"]
    assert result.chunks_embedded > 0, "the readable files are still indexed"


def test_empty_file_has_no_chunks_and_is_recorded(rag_project: RagProject) -> None:
    rag_project.write_doc("empty.md", "")
    rag_project.write_doc("blank.md", "\n\n   \n")
    project, version = rag_project.project(), rag_project.version()
    result = sync_index(project, version)
    assert sorted(result.empty) == ["corpus/blank.md", "corpus/empty.md"]
    report = check_index(project, version)
    assert report.fresh and report.up_to_date == 14
    assert report.empty == ["corpus/blank.md", "corpus/empty.md"]
    rag_project.write_doc("empty.md", "# Now it has text\n\nAbout refunds.\n")
    assert check_index(project, version).changed == ["corpus/empty.md"]
    assert sync_index(project, version).chunks_embedded == 1


def test_chunk_size_not_above_overlap_is_a_config_error(rag_project: RagProject) -> None:
    rag_project.write_config("v2", chunking={"size": 100, "overlap": 100})
    code, _, err = cli(rag_project, "check", "handbook@v2")
    assert code == 2 and "v2.yaml" in err and "overlap" in err


def test_chunk_size_change_is_a_config_change_with_a_new_collection(
    rag_project: RagProject,
) -> None:
    project = rag_project.project()
    v1 = rag_project.version()
    first = sync_index(project, v1)
    rag_project.write_config("v2", chunking={"size": 200, "overlap": 20})
    v2 = rag_project.version("handbook@v2")
    report = check_index(project, v2)
    assert report.config_changed and not report.fresh
    assert report.config_changes == ["chunking size/overlap 300/50 -> 200/20"]
    assert report.staleness_ratio == 1.0
    code, _, _ = cli(rag_project, "check", "handbook@v2")
    assert code == 1
    second = sync_index(project, v2)
    assert second.switched and second.collection != first.collection
    assert second.chunks_total == len(expected_chunk_ids(rag_project, 200, 20))
    # Both configs keep their own, fresh collection: vectors of two configs never mix.
    assert check_index(project, v2, verify=True).fresh
    v1_report = check_index(project, v1, verify=True)
    assert v1_report.fresh and not v1_report.active
    assert retrieve(project, v1, "refund policy")[0]["source"].startswith("corpus/")


def test_embedder_change_is_a_config_change(rag_project: RagProject) -> None:
    project = rag_project.project()
    sync_index(project, rag_project.version())
    rag_project.write_config("v2", embedder="hash-32")
    report = check_index(project, rag_project.version("handbook@v2"))
    assert report.config_changed
    assert report.config_changes == ["embedder hash-64 -> hash-32"]


def test_verify_finds_tampering_and_build_repairs_it(rag_project: RagProject) -> None:
    import numpy as np

    project, version = rag_project.project(), rag_project.version()
    result = sync_index(project, version)
    from llmops.rag.spec import spec_of
    from llmops.rag.store import ChunkStore, connect

    spec = spec_of(project, version)
    store = ChunkStore.open(connect(project, spec), spec.location(project), result.collection)
    assert store is not None
    victim = store.ids()[0]
    store.delete([victim])
    vector = np.ones((1, 64), dtype=np.float32) / 8
    store.add(["intruder"], vector, ["x"], [{"source": "elsewhere"}])
    report = check_index(project, version, verify=True)
    assert not report.fresh
    assert report.verify is not None
    assert (report.verify.missing_chunks, report.verify.foreign_chunks) == (1, 1)
    assert check_index(project, version).fresh  # the manifest alone cannot see it
    repaired = build_index(project, version)
    assert repaired.chunks_embedded == 1 and repaired.swept
    assert check_index(project, version, verify=True).fresh


def test_dropped_collection_is_rebuilt(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    result = sync_index(project, version)
    from llmops.rag.spec import spec_of
    from llmops.rag.store import connect

    connect(project, spec_of(project, version)).delete_collection(result.collection)
    report = check_index(project, version, verify=True)
    assert not report.fresh and report.verify is not None
    assert not report.verify.collection_exists
    again = sync_index(project, version)
    assert again.chunks_total == result.chunks_total
    assert check_index(project, version, verify=True).fresh


def test_retrieve_builds_on_first_use_and_ranks(rag_project: RagProject) -> None:
    project, version = rag_project.project(), rag_project.version()
    target = make_doc(5).split("\n")[4]  # the first paragraph of doc05
    hits = retrieve(project, version, target)
    assert len(hits) == 3
    assert hits[0]["source"] == "corpus/sub/doc05.md"
    assert hits[0]["score"] > 0.9
    assert [h["score"] for h in hits] == sorted((h["score"] for h in hits), reverse=True)
    assert set(hits[0]) >= {"text", "source", "score"}
    assert check_index(project, version).fresh
    assert len(retrieve(project, version, target, top_k=5)) == 5


def test_check_json_has_the_documented_fields(rag_project: RagProject, tmp_path: Path) -> None:
    import json

    out = tmp_path / "check.json"
    code, _, _ = cli(rag_project, "check", "handbook@v1", "--json", str(out))
    assert code == 1
    data = json.loads(out.read_text())
    for key in (
        "schema_version",
        "fresh",
        "config_changed",
        "new",
        "changed",
        "deleted",
        "up_to_date",
        "staleness_ratio",
        "oldest_indexed_at",
    ):
        assert key in data
    code, stdout, _ = cli(rag_project, "sync", "handbook@v1", "--json", "-")
    assert code == 0 and json.loads(stdout)["chunks_embedded"] > 0
    code, stdout, _ = cli(rag_project, "check", "handbook@v1", "--json", "-", "--verify")
    assert code == 0 and json.loads(stdout)["fresh"] is True


def test_check_does_not_import_chroma_or_torch(rag_project: RagProject) -> None:
    import subprocess
    import sys

    sync_index(rag_project.project(), rag_project.version())
    code = (
        "import sys\n"
        "from llmops.cli import main\n"
        f"sys.argv = ['llmops', '--project', {str(rag_project.root)!r},"
        " 'index', 'check', 'handbook@v1']\n"
        "try:\n    main()\nexcept SystemExit as e:\n    rc = e.code\n"
        "heavy = [m for m in ('chromadb', 'torch', 'sentence_transformers') if m in sys.modules]\n"
        "print('HEAVY', heavy, rc)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "HEAVY [] 0" in out.stdout


def test_death_between_chroma_write_and_manifest_commit_converges(
    rag_project: RagProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.rag.manifest import Manifest

    project, version = rag_project.project(), rag_project.version()
    sync_index(project, version)
    old_ids = expected_chunk_ids(rag_project)
    for name in ("doc00.md", "doc02.md", "sub/doc03.md", "sub/doc05.md"):
        path = rag_project.corpus / name
        path.write_text(path.read_text().replace("## Section 1", "## Section 1\n\nInserted."))
    (rag_project.corpus / "doc04.md").unlink()
    monkeypatch.setattr("llmops.rag.sync.GROUP_FILES", 2)
    original = Manifest.replace_sources
    calls = []

    def dies_on_second_group(self: Manifest, *args: object, **kwargs: object) -> None:
        calls.append(1)
        if len(calls) == 2:  # the second group's chunks are in Chroma, not in the manifest
            raise KeyboardInterrupt
        original(self, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Manifest, "replace_sources", dies_on_second_group)
    with pytest.raises(KeyboardInterrupt):
        sync_index(project, version)
    monkeypatch.undo()
    report = check_index(project, version, verify=True)
    assert not report.fresh and report.last_sync_interrupted
    # The first group (two edits and the removal of doc04) was committed before the crash.
    assert len(report.changed) == 2 and report.deleted == []
    assert report.verify is not None
    assert report.verify.missing_chunks == 0 and report.verify.orphan_chunks > 0
    new_ids = expected_chunk_ids(rag_project)
    result = sync_index(project, version)
    assert result.swept
    # The dead group's chunks reached Chroma before the crash: adopted, not embedded again.
    assert result.chunks_embedded == 0 and result.chunks_reused == 0
    assert len(new_ids - old_ids) > report.verify.orphan_chunks
    final = check_index(project, version, verify=True)
    assert final.fresh, final.reasons
    assert final.verify is not None and final.verify.chunks_in_store == len(new_ids)


def test_check_reads_only_files_whose_stat_changed(
    rag_project: RagProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    import llmops.rag.freshness as freshness

    project, version = rag_project.project(), rag_project.version()
    sync_index(project, version)
    reads: list[str] = []
    real = freshness.read_source

    def counting(root: Path, path: str, *rest):  # type: ignore[no-untyped-def]
        reads.append(path)
        return real(root, path, *rest)

    monkeypatch.setattr(freshness, "read_source", counting)
    assert check_index(project, version).fresh
    assert reads == []
    path = rag_project.corpus / "doc08.md"
    path.write_text(path.read_text() + "\nMore.\n")
    assert check_index(project, version).changed == ["corpus/doc08.md"]
    assert reads == ["corpus/doc08.md"]


def test_a_copied_project_keeps_its_index(rag_project: RagProject, tmp_path: Path) -> None:
    sync_index(rag_project.project(), rag_project.version())
    copy = tmp_path / "elsewhere"
    shutil.copytree(rag_project.root, copy)
    code, out, err = cli_at(copy, "check", "handbook@v1", "--json", "-")
    assert code == 0, err
    report = json.loads(out)
    assert report["fresh"] and not report["new"] and report["up_to_date"] > 0
