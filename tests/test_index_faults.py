"""Faults: a real Chroma server (up and down) and a sync killed with SIGKILL half-way."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import chromadb  # noqa: F401
import pytest

from llmops.errors import RuntimeFailure
from llmops.rag import check_index, retrieve, sync_index
from llmops.rag.store import forget_clients
from tests.fixtures_chroma import ChromaServer, RagProject, _free_port, make_doc, start_chroma


def run_cli(rp: RagProject, *args: str) -> subprocess.CompletedProcess[str]:
    code = "from llmops.cli import main; main()"
    return subprocess.run(
        [sys.executable, "-c", code, "--project", str(rp.root), "index", *args],
        capture_output=True,
        text=True,
        timeout=300,
    )


def test_chroma_server_sync_check_retrieve(
    rag_project: RagProject, chroma_server: ChromaServer
) -> None:
    rag_project.write_config("srv", chroma={"host": chroma_server.host, "port": chroma_server.port})
    project, version = rag_project.project(), rag_project.version("handbook@srv")
    result = sync_index(project, version)
    assert result.location == chroma_server.url
    report = check_index(project, version, verify=True)
    assert report.fresh, report.reasons
    assert report.verify is not None and report.verify.chunks_in_store == result.chunks_total
    (rag_project.corpus / "doc00.md").unlink()
    assert check_index(project, version).deleted == ["corpus/doc00.md"]
    assert sync_index(project, version).chunks_deleted > 0
    assert check_index(project, version, verify=True).fresh
    hits = retrieve(project, version, make_doc(4).split("\n")[4])
    assert hits[0]["source"] == "corpus/doc04.md"
    # The embedded store of the same project is another location: nothing indexed there.
    assert not check_index(project, rag_project.version("handbook@v1")).fresh


def test_chroma_server_down_is_exit_3_with_a_clear_message(rag_project: RagProject) -> None:
    port = _free_port()  # nothing listens here
    rag_project.write_config("down", chroma={"host": "127.0.0.1", "port": port})
    done = run_cli(rag_project, "sync", "handbook@down")
    assert done.returncode == 3, done.stderr
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith(f"error: Chroma at http://127.0.0.1:{port} failed")
    assert "chroma run" in line
    assert run_cli(rag_project, "check", "handbook@down", "--verify").returncode == 3
    # A plain check reads the manifest only and still answers.
    assert run_cli(rag_project, "check", "handbook@down").returncode == 1


def test_server_stopped_after_build(rag_project: RagProject, tmp_path: Path) -> None:
    server = start_chroma(tmp_path / "own-server")
    try:
        rag_project.write_config("own", chroma={"host": server.host, "port": server.port})
        project, version = rag_project.project(), rag_project.version("handbook@own")
        sync_index(project, version)
    finally:
        server.stop()
    forget_clients()
    with pytest.raises(RuntimeFailure, match="Chroma at http"):
        check_index(project, version, verify=True)
    done = run_cli(rag_project, "sync", "handbook@own")
    assert done.returncode == 3 and "Chroma at" in done.stderr


def _kill_after_progress(rp: RagProject, lines: int = 1) -> None:
    """Start `index sync`, SIGKILL it once it has reported ``lines`` groups of progress."""
    code = "from llmops.cli import main; main()"
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "--project", str(rp.root), "index", "sync", "handbook@v1"],
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    seen = 0
    assert proc.stderr is not None
    for line in proc.stderr:
        if "sources read" in line:
            seen += 1
            if seen >= lines:
                os.kill(proc.pid, signal.SIGKILL)
                break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL, "the sync finished before it could be killed"


def _check(rp: RagProject, *extra: str) -> dict:  # type: ignore[type-arg]
    done = run_cli(rp, "check", "handbook@v1", "--json", "-", *extra)
    assert done.returncode in (0, 1), done.stderr
    data: dict = json.loads(done.stdout)  # type: ignore[type-arg]
    return data


@pytest.mark.slow
def test_sync_killed_half_way_then_rerun_ends_fresh(rag_project: RagProject) -> None:
    for i in range(800):
        rag_project.write_doc(f"bulk/{i:04d}.md", make_doc(1000 + i, sections=2, paragraphs=2))
    total_sources = 812
    _kill_after_progress(rag_project, lines=1)
    after_kill = _check(rag_project, "--verify")
    # Truthful: not fresh; every source is either up to date or new; the manifest never
    # claims a chunk that Chroma lacks.
    assert not after_kill["fresh"]
    assert after_kill["last_sync_interrupted"]
    assert 0 < after_kill["up_to_date"] < total_sources
    assert after_kill["up_to_date"] + len(after_kill["new"]) == total_sources
    assert after_kill["verify"]["missing_chunks"] == 0
    in_store = after_kill["verify"]["chunks_in_store"]
    rerun = run_cli(rag_project, "sync", "handbook@v1", "--json", "-")
    assert rerun.returncode == 0, rerun.stderr
    result = json.loads(rerun.stdout)
    # Nothing that reached Chroma is embedded again.
    assert result["chunks_embedded"] == result["chunks_total"] - in_store
    final = _check(rag_project, "--verify")
    assert final["fresh"], final["reasons"]
    assert final["verify"]["chunks_in_store"] == result["chunks_total"]


@pytest.mark.slow
def test_incremental_sync_killed_then_source_deleted_then_rerun(rag_project: RagProject) -> None:
    for i in range(600):
        rag_project.write_doc(f"bulk/{i:04d}.md", make_doc(5000 + i, sections=2, paragraphs=2))
    assert run_cli(rag_project, "sync", "handbook@v1").returncode == 0
    bulk = rag_project.corpus / "bulk"
    for i in range(0, 600, 2):  # edit half of them
        path = bulk / f"{i:04d}.md"
        path.write_text(path.read_text() + "\n## Added\n\nA new closing paragraph.\n")
    for i in range(1, 100, 2):
        (bulk / f"{i:04d}.md").unlink()
    for i in range(200):
        rag_project.write_doc(f"extra/{i:03d}.md", make_doc(9000 + i))
    _kill_after_progress(rag_project, lines=1)
    # Sources whose chunks reached Chroma in the killed sync disappear before the rerun.
    for i in range(0, 600, 2):
        (bulk / f"{i:04d}.md").unlink()
    assert not _check(rag_project)["fresh"]
    assert run_cli(rag_project, "sync", "handbook@v1").returncode == 0
    final = _check(rag_project, "--verify")
    assert final["fresh"], final["reasons"]
    assert final["verify"]["orphan_chunks"] == 0 and final["verify"]["missing_chunks"] == 0
