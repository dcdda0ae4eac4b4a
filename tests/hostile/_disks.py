"""Disks that fail for real, as root and as any user, without mocks.

- :func:`read_only` runs a command with a folder read-only: as a user, by taking the
  write permission away (restored afterwards); as root, who writes anyway, by a
  read-only bind mount in a private user and mount namespace (``unshare -rm``).
- :func:`file_size_limited` runs a command whose files may grow no larger than a limit
  (``RLIMIT_FSIZE``, with ``SIGXFSZ`` ignored): a write past it fails with ``EFBIG``,
  as a write to a full disk fails with ``ENOSPC``.
"""

from __future__ import annotations

import os
import resource
import signal
import stat
import subprocess
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest


def _can_unshare() -> bool:
    return subprocess.run(["unshare", "-rm", "true"], capture_output=True).returncode == 0


@contextmanager
def read_only_prefix(folder: Path) -> Iterator[list[str]]:
    """While open, a command run behind the yielded prefix cannot write ``folder``."""
    if os.geteuid() != 0:
        modes = {p: p.stat().st_mode for p in [folder, *folder.rglob("*")]}
        for p, mode in modes.items():
            p.chmod(mode & ~(stat.S_IWUSR | stat.S_IWGRP | stat.S_IWOTH))
        try:
            yield []
        finally:
            for p, mode in modes.items():
                p.chmod(mode)
        return
    if not _can_unshare():
        pytest.skip("root without user namespaces: no way to make a folder read-only")
    script = 'mount --bind "$0" "$0" && mount -o remount,bind,ro "$0" && exec "$@"'
    yield ["unshare", "-rm", "sh", "-c", script, str(folder)]


def read_only(folder: Path, cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` while ``folder`` (and every file in it) cannot be written."""
    with read_only_prefix(folder) as prefix:
        return subprocess.run([*prefix, *cmd], capture_output=True, text=True, timeout=120,
                              **kwargs)


def _limit(max_bytes: int) -> Callable[[], None]:
    def apply() -> None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (max_bytes, max_bytes))
    return apply


def file_size_limited(
    max_bytes: int, cmd: list[str], **kwargs: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with no file it writes allowed to grow beyond ``max_bytes``."""
    return subprocess.run(cmd, capture_output=True, text=True, timeout=180,
                          preexec_fn=_limit(max_bytes), **kwargs)
