"""Writing output files so that a reader never sees half a file."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(target: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open ``target`` for writing through a temporary file renamed over it on success.

    A target that exists and is not a regular file (``/dev/null``, a FIFO, a terminal)
    is written in place: renaming over it would replace the device with a file.
    """
    path = Path(target)
    encoding = None if "b" in mode else "utf-8"
    try:
        special = not stat.S_ISREG(path.stat().st_mode)
    except FileNotFoundError:
        special = False
    if special:
        with path.open(mode, encoding=encoding) as f:
            yield f
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with tmp.open(mode, encoding=encoding) as f:
            yield f
        tmp.replace(path)
    finally:
        tmp.unlink(missing_ok=True)


def write_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` with :func:`atomic_open`."""
    with atomic_open(target) as f:
        f.write(text)
