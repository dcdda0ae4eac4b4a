"""Output files: written whole or not at all, and never replacing a device."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llmops._files import atomic_open, write_atomic


def test_write_atomic_replaces_a_regular_file_whole(tmp_path: Path) -> None:
    target = tmp_path / "out" / "report.json"
    write_atomic(target, "first")
    write_atomic(target, "second")
    assert target.read_text() == "second"
    assert [p.name for p in target.parent.iterdir()] == ["report.json"]


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    target.write_text("old")
    with pytest.raises(RuntimeError), atomic_open(target) as f:
        f.write("half")
        raise RuntimeError("killed half-way")
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir()] == ["report.json"]


def test_a_fifo_is_written_in_place_not_replaced(tmp_path: Path) -> None:
    # A FIFO stands in for /dev/null or a terminal: renaming over it would turn it
    # into a regular file.
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        write_atomic(fifo, "through the pipe")
        assert os.read(reader, 100) == b"through the pipe"
    finally:
        os.close(reader)
    assert stat.S_ISFIFO(fifo.stat().st_mode)


def test_json_to_dev_null_keeps_the_device() -> None:
    write_atomic("/dev/null", "{}")
    assert stat.S_ISCHR(Path("/dev/null").stat().st_mode)


def _dead_pid() -> int:
    import subprocess
    import sys

    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait()
    return child.pid


def test_stale_temporary_files_of_dead_writers_go_with_the_next_write(tmp_path: Path) -> None:
    from llmops._files import remove_stale_temp_files

    target = tmp_path / "llmops.lock"
    dead = tmp_path / f".llmops.lock.{_dead_pid()}.tmp"
    alive = tmp_path / f".llmops.lock.{os.getppid()}.tmp"  # a running process: kept
    other = tmp_path / f".labels.yaml.{_dead_pid()}.tmp"  # another file's: kept
    for p in (dead, alive, other):
        p.write_text("half")
    write_atomic(target, "whole")
    assert not dead.exists() and alive.exists() and other.exists()
    assert remove_stale_temp_files(tmp_path / "labels.yaml") == [other]


def test_write_errors_name_the_path_and_what_to_do(tmp_path: Path) -> None:
    from llmops._files import check_writable
    from llmops.errors import RuntimeFailure, UserError

    with pytest.raises(RuntimeFailure) as full:
        write_atomic("/dev/full", "x" * 100_000)
    assert str(full.value).startswith("/dev/full: cannot write: No space left on device")
    blocker = tmp_path / "reports"
    blocker.write_text("a file where a folder should be")
    with pytest.raises(UserError) as in_the_way:
        check_writable(blocker / "run-1")
    assert "a file is in the way" in str(in_the_way.value)
    with pytest.raises(UserError):
        write_atomic(blocker / "run-1" / "summary.md", "x")
    check_writable(tmp_path / "new" / "folder")  # created later: its parent is tested
    assert sorted(p.name for p in tmp_path.iterdir()) == ["reports"]
