"""A results store and caches on disks that fail, and what killed runs leave behind.

Real failures, as root and as any user (see ``_disks.py``). Attack → answer:

- a read-only store (read-only disk or folder) → ``runs list``, ``runs show``,
  ``runs history``, ``diff``, ``runs report``, ``runs export`` and ``llmops view``
  (``/api/runs``) work from it; ``eval``
  is exit 2 naming the store, before the first model call;
- the store's disk fills up during a run (a file-size limit: SQLite's vague "disk I/O
  error") → exit 3 naming the store and the real cause, not "cannot rollback" nor
  "internal error"; every result written before is kept and ``--resume`` finishes the
  run;
- caches that cannot be written → one warning line before the first call, the run goes
  on without them;
- ``runs export --out`` a pipe or device → written in place (it was renamed over);
  into a read-only folder → exit 2 naming the file, not "internal error";
- a run killed while writing its reports leaves ``.summary.md.<pid>.tmp`` in its run
  folder → the next run removes it, and the folder it alone was in.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import stat
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from tests.fixtures_eval import build_project
from tests.hostile._disks import file_size_limited, read_only, read_only_prefix
from tests.hostile._measure import LLMOPS
from tests.openai_server import FakeOpenAI


def _chat_calls(server: FakeOpenAI) -> int:
    return server.requests.count("/v1/chat/completions")


def _llmops(root: Path, *args: str) -> list[str]:
    return [LLMOPS, "--project", str(root), *args]


def _run(root: Path, *args: str, **kwargs: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(_llmops(root, *args), capture_output=True, text=True, timeout=180,
                          **kwargs)  # type: ignore[call-overload]


def test_a_read_only_store_serves_every_read(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=4)
    first = _run(root, "eval", "qa", "--format", "none", "--json", str(tmp_path / "r.json"))
    assert first.returncode == 0, first.stderr
    run_id = json.loads((tmp_path / "r.json").read_text())["run_id"]
    state = root / ".llmops"
    reads = {
        ("runs", "list", "--json", "-"): run_id,
        ("runs", "show", run_id): "qa@v2",
        ("runs", "history", "qa"): "candidate",
        ("diff", "qa@v1", "qa@v2"): "QUESTION NUMBER 3",
        ("runs", "export", run_id, "--format", "csv", "--out", str(tmp_path / "x.csv")):
            "rows written",
        ("runs", "report", run_id, "--format", "md"): "",
    }
    for args, shown in reads.items():
        res = read_only(state, _llmops(root, *args))
        assert res.returncode == 0, (args, res.stderr)
        assert shown in res.stdout + res.stderr, (args, res.stdout)
    assert "case-00003" in (tmp_path / "x.csv").read_text()
    assert run_id in _view_api_runs(root, state)
    assert (root / "reports" / run_id / "summary.md").exists()
    calls = _chat_calls(openai_server)
    res = read_only(state, _llmops(root, "eval", "qa", "--no-cache"))
    assert res.returncode == 2, res.stderr
    assert "results.db: cannot write the results store" in res.stderr, res.stderr
    assert "LLMOPS_STORE" in res.stderr
    assert _chat_calls(openai_server) == calls  # found before the first call


def _view_api_runs(root: Path, state: Path) -> str:
    """``/api/runs`` of ``llmops view``, served while ``state`` is read-only."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with read_only_prefix(state) as prefix:
        server = subprocess.Popen([*prefix, *_llmops(root, "view", "--port", str(port))],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        try:
            deadline = time.monotonic() + 60
            while True:
                try:
                    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/runs",
                                                timeout=5) as page:
                        return str(page.read().decode())
                except OSError:
                    assert server.poll() is None, server.communicate()[1]
                    assert time.monotonic() < deadline, "llmops view did not answer"
                    time.sleep(0.2)
        finally:
            server.terminate()
            server.wait(timeout=30)


def test_a_full_disk_under_the_store_shows_the_cause_and_keeps_the_results(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=200)
    res = file_size_limited(400_000, _llmops(root, "eval", "qa", "--format", "none"))
    assert res.returncode == 3, res.stderr
    assert "results.db: cannot write the results store" in res.stderr, res.stderr
    assert "file size limit reached" in res.stderr  # the cause, not only "disk I/O error"
    assert "--resume" in res.stderr
    for hidden in ("cannot rollback", "internal error", "Traceback", "UserWarning"):
        assert hidden not in res.stderr
    with sqlite3.connect(root / ".llmops" / "results.db") as db:
        kept = db.execute("select count(*) from results").fetchone()[0]
    assert 0 < kept < 400
    listed = json.loads(_run(root, "runs", "list", "--json", "-").stdout)
    assert listed[0]["status"] == "interrupted" and listed[0]["n_cases_done"] == kept
    again = _run(root, "eval", "--resume", listed[0]["run_id"], "--format", "none")
    assert again.returncode in (0, 1), again.stderr
    with sqlite3.connect(root / ".llmops" / "results.db") as db:
        assert db.execute("select count(*) from results").fetchone()[0] == 400


def test_caches_that_cannot_be_written_are_a_warning_before_the_first_call(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=3)
    env = {**os.environ, "LLMOPS_STORE": str(tmp_path / "store" / "results.db")}
    assert _run(root, "eval", "qa", "--format", "none", env=env).returncode == 0
    assert (root / ".llmops" / "cache.db").exists()
    res = read_only(root / ".llmops", _llmops(root, "eval", "qa", "--no-cache",
                                              "--format", "none"), env=env)
    assert res.returncode == 0, res.stderr
    lines = res.stderr.splitlines()
    warning = next(i for i, line in enumerate(lines) if "the caches cannot be written" in line)
    assert lines[warning].startswith("warning: ") and "cache.db" in lines[warning]
    assert "goes on without them" in lines[warning]
    assert warning < next(i for i, line in enumerate(lines) if " done, " in line)
    assert "UserWarning" not in res.stderr and "unusable" not in res.stderr


WRITER = """
import sys, time
from llmops._files import atomic_open
with atomic_open(sys.argv[1]) as f:
    f.write("half a summary")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_reports_of_a_killed_run_are_swept_by_the_next(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=3)
    killed = root / "reports" / "20261201-000000-dead00"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(killed / "summary.md")],
                              stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    left = killed / f".summary.md.{writer.pid}.tmp"
    assert left.exists()
    (root / ".llmops").mkdir()
    probe = root / ".llmops" / f".llmops-write-check.{writer.pid}.tmp"
    probe.write_bytes(b"\0" * 4096)  # a write check whose process was killed
    kept = root / "reports" / "20261201-000000-kept00"
    kept.mkdir()
    (kept / "summary.md").write_text("a finished report")
    res = _run(root, "eval", "qa", "--format", "md")
    assert res.returncode in (0, 1), res.stderr
    assert not left.exists() and not killed.exists() and not probe.exists()
    assert (kept / "summary.md").exists()
    assert [p for p in root.rglob("*") if p.name.endswith(".tmp")] == []


def test_exports_write_into_a_pipe_and_name_a_read_only_folder(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=3)
    first = _run(root, "eval", "qa", "--format", "none", "--json", str(tmp_path / "r.json"))
    assert first.returncode == 0, first.stderr
    run_id = json.loads((tmp_path / "r.json").read_text())["run_id"]
    pipe = tmp_path / "rows.csv"
    os.mkfifo(pipe)  # a device, like /dev/stdout: written in place, never renamed over
    reader = subprocess.Popen(["cat", str(pipe)], stdout=subprocess.PIPE, text=True)
    try:
        res = _run(root, "runs", "export", run_id, "--format", "csv", "--out", str(pipe))
        rows, _ = reader.communicate(timeout=60)
    finally:
        reader.kill()
    assert res.returncode == 0, res.stderr
    assert "case-00002" in rows and stat.S_ISFIFO(pipe.stat().st_mode)
    out = tmp_path / "out"
    out.mkdir()
    for fmt in ("csv", "jsonl", "parquet"):
        res = read_only(out, _llmops(root, "runs", "export", run_id, "--format", fmt,
                                     "--out", str(out / f"x.{fmt}")))
        assert res.returncode == 2, res.stderr
        assert f"x.{fmt}: cannot write" in res.stderr and "internal error" not in res.stderr
    assert list(out.iterdir()) == []
