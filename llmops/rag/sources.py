"""The documents an index is built from: globs expanded against the project root.

Listing and ``stat`` are cheap and done for every check; reading and hashing are done
only for files whose size or modification time changed since they were indexed.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from stat import S_ISREG
from typing import NamedTuple

from llmops.errors import IndexConfigError


class SourceFile(NamedTuple):
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
    """Expand ``patterns`` relative to ``root``, files only, sorted by path.

    Globs follow Python's ``glob`` with ``recursive=True``: ``*`` and ``?`` stay within
    one folder, ``**`` matches any number of folders, names starting with a dot are
    matched only by a pattern part that starts with a dot. One ``scandir`` walk per
    pattern; only matching files are stat'ed.

    Raises:
        IndexConfigError: a pattern matches no file (``origin`` names the config).
    """
    found: dict[str, SourceFile] = {}
    for pattern in patterns:
        matched = 0
        for f in _walk(str(root), pattern):
            found[f.path] = f
            matched += 1
        if matched == 0:
            raise IndexConfigError(
                f"sources: {pattern!r} matches no file under {root}",
                file=origin,
                hint="fix the glob; `**` matches any number of folders",
            )
    return [found[k] for k in sorted(found)]


def _walk(base: str, pattern: str) -> Iterator[SourceFile]:
    parts = [p for p in pattern.replace("\\", "/").split("/") if p not in ("", ".")]
    fixed: list[str] = []
    while parts and not _MAGIC.search(parts[0]):
        fixed.append(parts.pop(0))
    prefix = "/".join(fixed)
    if pattern.startswith("/"):
        base, prefix = "/", prefix  # an absolute glob
    start = os.path.join(base, prefix) if prefix else base
    if not parts:  # no wildcard: one file
        try:
            st = os.stat(start)
        except OSError:
            return
        if S_ISREG(st.st_mode):
            yield SourceFile(_posix(prefix), st.st_size, st.st_mtime_ns)
        return
    regex = re.compile(_translate(parts))
    depth = None if "**" in parts else len(parts)
    stack = [(start, "", 1)]
    while stack:
        folder, rel, level = stack.pop()
        try:
            entries = list(os.scandir(folder))
        except OSError:
            continue
        for entry in entries:
            name = rel + entry.name
            try:
                if entry.is_dir():
                    if depth is None or level < depth:
                        stack.append((entry.path, name + "/", level + 1))
                    continue
                if not regex.fullmatch(name):
                    continue
                st = entry.stat()
            except OSError:
                if entry.is_symlink() and regex.fullmatch(name):
                    # A link to nowhere: listed, so that reading it reports the problem.
                    yield SourceFile(_posix(f"{prefix}/{name}" if prefix else name), -1, 0)
                continue
            if S_ISREG(st.st_mode):
                yield SourceFile(
                    _posix(f"{prefix}/{name}" if prefix else name), st.st_size, st.st_mtime_ns
                )


_MAGIC = re.compile(r"[*?[]")


def _translate(parts: list[str]) -> str:
    """A regex for the pattern parts below the fixed prefix, matched against a relative path."""
    out = []
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if part == "**":
            out.append(r"(?:(?!\.)[^/]+/)*(?!\.)[^/]+" if last else r"(?:(?!\.)[^/]+/)*")
            continue
        piece = "" if part.startswith(".") else r"(?!\.)"
        j = 0
        while j < len(part):
            c = part[j]
            if c == "*":
                piece += "[^/]*"
            elif c == "?":
                piece += "[^/]"
            elif c == "[":
                k = part.find("]", j + 2)
                if k == -1:
                    piece += re.escape(c)
                else:
                    body = part[j + 1 : k]
                    if body.startswith("!"):
                        body = "^" + body[1:]
                    piece += "[" + body.replace("\\", "\\\\") + "]"
                    j = k
            else:
                piece += re.escape(c)
            j += 1
        out.append(piece if last else piece + "/")
    return "".join(out)


def _posix(rel: str) -> str:
    if os.sep != "/":
        rel = rel.replace(os.sep, "/")
    if rel.startswith("./") or "/./" in rel or "//" in rel or "/../" in rel:
        rel = os.path.normpath(rel).replace(os.sep, "/")
    return rel


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
