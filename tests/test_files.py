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
