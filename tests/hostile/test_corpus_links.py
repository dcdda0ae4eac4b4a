"""Corpus files that reach outside the project.

A pull request can add a symbolic link to the corpus. Attack → answer:

- ``corpus/x.md -> /some/secret`` (a file outside the project) → skipped: never read,
  indexed, retrieved or sent to a model; ``index sync`` lists it with the reason;
- ``corpus/sub/loop -> ..`` (a link back into a folder being walked) → skipped as a loop;
  each real file is indexed once, not 400 times;
- a link to a folder outside the project → skipped with the reason;
- ``sources: ../elsewhere/*.md`` or an absolute glob outside the project → exit 2 naming
  the config;
- a link replaced after the listing, just before the file is read → not followed out;
- a folder listed under ``allowed_roots:`` in the RAG config → links and globs into it
  are followed: the boundary is explicit, not absolute.
"""

from __future__ import annotations

import json
from pathlib import Path

import chromadb  # noqa: F401  (the index tests need chromadb; a missing install fails here)
from typer.testing import CliRunner

from llmops.cli import app
from llmops.rag import retrieve
from llmops.rag.sources import read_source
from tests.fixtures_chroma import RagProject

SECRET = "root-password-hunter2 zebra quokka marmalade"


def _sync(rp: RagProject, *extra: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    res = CliRunner().invoke(
        app, ["--project", str(rp.root), "index", "sync", "handbook@v1", "--json", "-", *extra]
    )
    data = json.loads(res.stdout) if res.exit_code == 0 else {}
    return res.exit_code, data, res.stderr


def _outside(tmp_path: Path) -> Path:
    folder = tmp_path / "outside"
    folder.mkdir(exist_ok=True)
    (folder / "secret.md").write_text(f"# Secret\n\n{SECRET}\n")
    return folder


def _nothing_retrieved_from(rp: RagProject, marker: str) -> None:
    hits = retrieve(rp.project(), rp.version(), SECRET, top_k=50)
    assert hits and not [h for h in hits if marker in h["text"] or "secret" in h["source"]]


def test_a_link_to_a_file_outside_is_skipped_and_reported(
    rag_project: RagProject, tmp_path: Path
) -> None:
    outside = _outside(tmp_path)
    (rag_project.corpus / "leak.md").symlink_to(outside / "secret.md")
    code, result, err = _sync(rag_project)
    assert code == 0, err
    assert result["sources_total"] == 12
    assert result["skipped"] == [{
        "path": "corpus/leak.md",
        "reason": f"link to a file outside the project ({outside / 'secret.md'})",
    }]
    assert "corpus/leak.md: link to a file outside the project" in err
    _nothing_retrieved_from(rag_project, "hunter2")


def test_a_link_loop_is_walked_once(rag_project: RagProject) -> None:
    (rag_project.corpus / "sub" / "loop").symlink_to("..")
    (rag_project.corpus / "sub" / "self").symlink_to(".")
    code, result, err = _sync(rag_project)
    assert code == 0, err
    assert result["sources_total"] == 12
    assert {s["path"] for s in result["skipped"]} == {"corpus/sub/loop", "corpus/sub/self"}
    assert all("loop" in s["reason"] for s in result["skipped"])


def test_a_link_to_a_folder_outside_is_skipped(rag_project: RagProject, tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (rag_project.corpus / "shared").symlink_to(outside)
    code, result, err = _sync(rag_project)
    assert code == 0, err
    assert result["sources_total"] == 12
    assert result["skipped"][0]["path"] == "corpus/shared"
    _nothing_retrieved_from(rag_project, "hunter2")


def test_globs_that_climb_out_of_the_project_are_config_errors(
    rag_project: RagProject, tmp_path: Path
) -> None:
    _outside(tmp_path)
    for sources in (["corpus/**/*.md", "../outside/*.md"], [str(tmp_path / "outside" / "*.md")]):
        rag_project.write_config(sources=sources)
        code, _, err = _sync(rag_project)
        assert code == 2, err
        assert "prompts/handbook/v1.yaml" in err and "reaches outside the project" in err


def test_a_link_swapped_in_after_listing_is_not_followed(
    rag_project: RagProject, tmp_path: Path
) -> None:
    outside = _outside(tmp_path)
    doc = rag_project.corpus / "doc00.md"
    doc.unlink()
    doc.symlink_to(outside / "secret.md")
    read = read_source(rag_project.root, "corpus/doc00.md")
    assert read.text is None and read.problem is not None
    assert "outside the project" in read.problem


def test_allowed_roots_make_the_boundary_explicit(rag_project: RagProject, tmp_path: Path) -> None:
    outside = _outside(tmp_path)
    (rag_project.corpus / "shared.md").symlink_to(outside / "secret.md")
    rag_project.write_config(allowed_roots=[str(outside)])
    code, result, err = _sync(rag_project)
    assert code == 0, err
    assert result["skipped"] == [] and result["sources_total"] == 13
    hits = retrieve(rag_project.project(), rag_project.version(), SECRET, top_k=1)
    assert "hunter2" in hits[0]["text"]
