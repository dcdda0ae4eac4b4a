"""Disks and files that fail under the reports.

Real failing file systems, not mocks: the command runs in a private mount namespace
(``unshare --user --map-root-user --mount``) where a read-only or a nearly full tmpfs is
mounted over the reports folder; the mounts vanish with the process. Attack → answer:

- a read-only reports folder → found before the first model call: exit 2 naming the
  folder, no call paid for;
- a disk that fills up while the reports are written → exit 3 naming the file that could
  not be written; no empty run folder; the results are in the store;
- ``eval --json /dev/full``, ``guard scan --json /dev/full`` → exit 3 naming
  ``/dev/full``, not "internal error" (the device written in place, never replaced);
- a process killed while writing ``prompts/llmops.lock`` leaves ``.llmops.lock.<pid>.tmp``
  → the next write of the lock removes it; a clean run leaves no temporary file.
"""

from __future__ import annotations

import os
import shlex
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.fixtures_eval import build_project
from tests.hostile._measure import LLMOPS
from tests.openai_server import FakeOpenAI


def _in_private_mounts(mounts: list[str], cmd: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with shell ``mounts`` commands applied in a private mount namespace."""
    if subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode != 0:
        pytest.skip("needs user and mount namespaces (unshare -rm)")
    script = " && ".join([*mounts, 'exec "$@"'])
    return subprocess.run(["unshare", "-rm", "sh", "-c", script, "sh", *cmd],
                          capture_output=True, text=True, timeout=120)


def _chat_calls(server: FakeOpenAI) -> int:
    return server.requests.count("/v1/chat/completions")


def test_a_read_only_reports_folder_is_found_before_any_call(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=5)
    reports = tmp_path / "ro"
    reports.mkdir()
    res = _in_private_mounts(
        [f"mount -t tmpfs -o ro,size=64k tmpfs {shlex.quote(str(reports))}"],
        [LLMOPS, "--project", str(root), "eval", "qa", "--report-dir", str(reports / "out")],
    )
    assert res.returncode == 2, res.stderr
    assert str(reports / "out") in res.stderr and "Read-only file system" in res.stderr
    assert _chat_calls(openai_server) == 0


def test_a_disk_that_fills_up_names_the_file_and_keeps_the_results(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    cases = [{"id": f"case-{i:03d}", "vars": {"question": f"question {i} " + "words " * 40},
              "expected": "x"} for i in range(60)]
    root = build_project(tmp_path / "p", openai_server.provider_config(), cases=cases)
    reports = tmp_path / "small"
    reports.mkdir()
    fill = shlex.quote(str(reports / "filler"))
    res = _in_private_mounts(
        [f"mount -t tmpfs -o size=64k tmpfs {shlex.quote(str(reports))}",
         f"head -c 45056 /dev/zero > {fill}"],  # 16 KB left: room for the write check only
        [LLMOPS, "--project", str(root), "eval", "qa", "--prompt", "qa@v1",
         "--report-dir", str(reports), "--format", "html"],
    )
    assert res.returncode == 3, res.stderr
    assert "report.html: cannot write: No space left on device" in res.stderr
    assert "internal error" not in res.stderr
    assert list(reports.iterdir()) == []  # the mount is gone; nothing was left beneath it
    with sqlite3.connect(root / ".llmops" / "results.db") as db:
        assert db.execute("select count(*) from results").fetchone()[0] == 60


def test_json_to_a_full_device_names_it(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=3)
    res = subprocess.run([LLMOPS, "--project", str(root), "eval", "qa", "--format", "none",
                          "--json", "/dev/full"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 3, res.stderr
    assert "/dev/full: cannot write: No space left on device" in res.stderr
    assert "internal error" not in res.stderr
    logs = tmp_path / "logs.jsonl"
    logs.write_text('{"id": "r1", "input": "hello", "output": "hi"}\n')
    scan = subprocess.run([LLMOPS, "guard", "scan", str(logs), "--json", "/dev/full"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert scan.returncode == 3, scan.stderr
    assert "/dev/full: cannot write: No space left on device" in scan.stderr


WRITER = """
import sys, time
from llmops._files import atomic_open
with atomic_open(sys.argv[1]) as f:
    f.write("half a lock file")
    f.flush()
    print("writing", flush=True)
    time.sleep(60)
"""


def test_temp_files_of_a_killed_write_are_removed_by_the_next(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), n_cases=3)
    lock = root / "prompts" / "llmops.lock"
    writer = subprocess.Popen([sys.executable, "-c", WRITER, str(lock)], stdout=subprocess.PIPE,
                              text=True, env={**os.environ})
    assert writer.stdout is not None and writer.stdout.readline() == "writing\n"
    os.kill(writer.pid, signal.SIGKILL)
    writer.wait()
    left = root / "prompts" / f".llmops.lock.{writer.pid}.tmp"
    assert left.exists() and not lock.exists()
    res = subprocess.run([LLMOPS, "--project", str(root), "prompts", "lock"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert lock.exists() and not left.exists()
    ok = subprocess.run([LLMOPS, "--project", str(root), "eval", "qa",
                         "--format", "md,json,junit,html"], capture_output=True, text=True,
                        timeout=120)
    assert ok.returncode in (0, 1), ok.stderr
    time.sleep(0.1)
    assert [p for p in root.rglob("*") if p.name.endswith(".tmp")] == []
