"""The documents an index is built from: globs expanded against the project root.

Listing and ``stat`` are cheap and done for every check; reading and hashing are done
only for files whose size or modification time changed since they were indexed.
"""

from __future__ import annotations

import glob
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from llmops.errors import IndexConfigError


@dataclass(frozen=True)
class SourceFile:
    """One file matched by the ``sources`` globs, as ``stat`` sees it."""

    path: str  # relative to the project root, with forward slashes
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class SourceText:
    """A source file read: its hash, and its text unless it could not be decoded."""

    path: str
    size: int
    mtime_ns: int
    sha256: str
    text: str | None
    problem: str | None = None  # why ``text`` is None: unreadable, not UTF-8


def list_sources(
    root: Path, patterns: list[str], origin: str | Path | None = None
) -> list[SourceFile]:
    """Expand ``patterns`` (``**`` recurses) relative to ``root``, files only, sorted.

    Raises:
        IndexConfigError: a pattern matches no file (``origin`` names the config).
    """
    found: dict[str, SourceFile] = {}
    for pattern in patterns:
        matched = 0
        for rel in glob.iglob(pattern, root_dir=root, recursive=True):
            full = os.path.join(root, rel)
            try:
                st = os.stat(full)
            except OSError:
                continue  # vanished between listing and stat, or a dangling link
            if not _is_file(st.st_mode):
                continue
            key = Path(os.path.normpath(rel)).as_posix()
            found[key] = SourceFile(key, st.st_size, st.st_mtime_ns)
            matched += 1
        if matched == 0:
            raise IndexConfigError(
                f"sources: {pattern!r} matches no file under {root}",
                file=origin,
                hint="fix the glob; `**` matches any number of folders",
            )
    return [found[k] for k in sorted(found)]


def _is_file(mode: int) -> bool:
    import stat

    return stat.S_ISREG(mode)


def read_source(root: Path, path: str) -> SourceText:
    """Read and hash one source; a read or decoding failure is returned, not raised."""
    full = root / path
    try:
        st = os.stat(full)
        data = full.read_bytes()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        return SourceText(path, 0, 0, "", None, f"cannot read: {reason}")
    digest = hashlib.sha256(data).hexdigest()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return SourceText(
            path, st.st_size, st.st_mtime_ns, digest, None, f"not valid UTF-8 (byte {exc.start})"
        )
    return SourceText(path, st.st_size, st.st_mtime_ns, digest, text)


def hash_file(root: Path, path: str) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read."""
    try:
        return hashlib.sha256((root / path).read_bytes()).hexdigest()
    except OSError:
        return None
