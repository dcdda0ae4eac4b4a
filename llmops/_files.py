"""Writing output files so that a reader never sees half a file, and failures name the path.

A file is written to ``.<name>.<pid>.tmp`` beside it and renamed over it when complete.
A process killed mid-write leaves its temporary file behind; the next write of the same
file removes the temporary files of processes that no longer run. A write that fails
(disk full, read-only folder, no permission) is one error naming the path and what to
do: exit 2 when the path is the user's to change, 3 when the disk is full.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import shutil
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from llmops.errors import LlmopsError, RuntimeFailure, UserError

_FULL = {errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC), errno.EFBIG}
_DENIED = {errno.EACCES, errno.EPERM, errno.EROFS}
_PROBE_BYTES = 4096


def write_error(
    path: str | Path, exc: OSError, what: str = "cannot write", *, hint: str | None = None
) -> LlmopsError:
    """The error for a failed write of ``path``: what happened and what to do.

    ``hint`` replaces the advice given when the path is read-only or not permitted.
    """
    reason = exc.strerror or type(exc).__name__
    if exc.errno in _FULL:
        return RuntimeFailure(
            f"{what}: {reason}", file=path, hint="free space on that disk, or write elsewhere"
        )
    if exc.errno in _DENIED:
        return UserError(
            f"{what}: {reason}", file=path,
            hint=hint or "choose a folder you can write to, or change its permissions",
        )
    if exc.errno in (errno.ENOTDIR, errno.EEXIST):
        return UserError(f"{what}: a file is in the way ({reason})", file=path)
    return RuntimeFailure(f"{what}: {reason}", file=path)


def full_disk_cause(path: str | Path) -> str | None:
    """Why writes to ``path`` fail with a vague I/O error, when a full disk explains it.

    SQLite reports a file that may grow no further as "disk I/O error". Two limits
    explain that: the process's file-size limit (``ulimit -f``) and a disk with almost
    no space left.
    """
    import resource

    target = Path(path)
    soft = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    if soft != resource.RLIM_INFINITY:
        sizes = [p.stat().st_size for p in (target, target.with_name(target.name + "-wal"))
                 if p.exists()]
        if any(size + (64 << 10) >= soft for size in sizes):
            return f"file size limit reached (ulimit -f {soft >> 10} KB)"
    try:
        free = shutil.disk_usage(target.parent).free
    except OSError:
        return None
    if free < (1 << 20):
        return f"no space left on device ({free >> 10} KB free)"
    return None


def check_writable(
    folder: str | Path, *, name: str | Path | None = None, what: str = "cannot write",
    hint: str | None = None,
) -> None:
    """Raise if files cannot be written in ``folder`` (created later if missing).

    The nearest folder that exists is tested by writing and removing a small file, so a
    read-only or full disk is found before any work is done, and nothing is left behind.
    The error names ``name`` (default: the folder), says ``what`` failed and, when the
    folder is read-only, gives ``hint``.

    Raises:
        UserError: the folder (or the first existing one above it) is not writable, or a
            file is in the way.
        RuntimeFailure: the disk is full.
    """
    target = Path(folder)
    existing = target
    while not existing.exists():
        if existing.parent == existing:
            break
        existing = existing.parent
    if not existing.is_dir():
        raise UserError("not a folder: a file is in the way", file=existing)
    probe = existing / f".llmops-write-check.{os.getpid()}.tmp"
    try:
        fd = os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, b"\0" * _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
    except OSError as exc:
        raise write_error(name or target, exc, what, hint=hint) from None
    finally:
        with contextlib.suppress(OSError):
            probe.unlink()


def check_file_writable(target: str | Path) -> None:
    """:func:`check_writable` for the folder of a file to be written (a device is not probed)."""
    path = Path(target)
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return  # /dev/stdout, a FIFO: written in place, nothing to probe
    except (FileNotFoundError, NotADirectoryError):
        pass
    check_writable(path.parent)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process
    return True


_TEMP = re.compile(r"\..+\.(\d+)\.tmp")


def sweep_stale_temp_files(folder: Path, *, depth: int = 0) -> list[Path]:
    """Remove the ``.<name>.<pid>.tmp`` files of processes gone, in ``folder`` and below.

    ``depth`` levels of subfolders are swept too (1: a reports folder's run folders); a
    subfolder left empty by the sweep (a killed run's reports) is removed.
    """
    removed: list[Path] = []
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return removed
    for entry in entries:
        if depth > 0 and entry.is_dir(follow_symlinks=False):
            below = sweep_stale_temp_files(Path(entry.path), depth=depth - 1)
            removed += below
            if below:
                with contextlib.suppress(OSError):
                    os.rmdir(entry.path)  # only when empty
            continue
        match = _TEMP.fullmatch(entry.name)
        if match and entry.is_file(follow_symlinks=False) and _gone(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


def _gone(pid: int) -> bool:
    return pid != os.getpid() and not _alive(pid)


def remove_stale_temp_files(target: Path) -> list[Path]:
    """Remove ``.<name>.<pid>.tmp`` files beside ``target`` whose process is gone."""
    pattern = re.compile(rf"\.{re.escape(target.name)}\.(\d+)\.tmp")
    removed: list[Path] = []
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return removed
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match and int(match.group(1)) != os.getpid() and not _alive(int(match.group(1))):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)
                removed.append(Path(entry.path))
    return removed


@contextmanager
def atomic_open(target: str | Path, mode: str = "w") -> Iterator[IO[Any]]:
    """Open ``target`` for writing through a temporary file renamed over it on success.

    A target that exists and is not a regular file (``/dev/null``, a FIFO, a terminal)
    is written in place: renaming over it would replace the device with a file.

    Raises:
        UserError: the folder is read-only or not writable, or a file is in the way.
        RuntimeFailure: the disk is full (the message names the path).
    """
    path = Path(target)
    encoding = None if "b" in mode else "utf-8"
    try:
        special = not stat.S_ISREG(path.stat().st_mode)
    except (FileNotFoundError, NotADirectoryError):
        special = False
    if special:
        with _writes_of(path), path.open(mode, encoding=encoding) as f:
            yield f
        return
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with _writes_of(path, everything=True):
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temp_files(path)
            f = tmp.open(mode, encoding=encoding)
        with _writes_of(path), f:
            yield f
        with _writes_of(path, everything=True):
            tmp.replace(path)
    finally:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)


@contextmanager
def _writes_of(path: Path, everything: bool = False) -> Iterator[None]:
    """Turn a failed write into an error naming ``path``.

    Inside the caller's block only a full disk is certainly the write's fault (a
    permission error there may come from something the caller reads).
    """
    try:
        yield
    except OSError as exc:
        if everything or exc.errno in _FULL:
            raise write_error(path, exc) from None
        raise


def write_atomic(target: str | Path, text: str) -> None:
    """Write ``text`` (UTF-8) to ``target`` with :func:`atomic_open`."""
    with atomic_open(target) as f:
        f.write(text)
