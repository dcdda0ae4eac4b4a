"""The documents an index is built from: globs expanded against the project root.

Listing and ``stat`` are cheap and done for every check; reading and hashing are done
only for files whose size or modification time changed since they were indexed.

The project is the boundary. A glob, a ``..`` or a symbolic link may not reach a file
outside the project root or the config's ``allowed_roots:``: a pull request that adds
``corpus/x.md -> /etc/shadow`` gets the link skipped and reported, not the file indexed
and sent to the model. A link back into a folder being walked (a loop) is skipped too.
Every skipped path is reported with its reason.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class Boundary:
    """Where sources may come from: the project root and the config's ``allowed_roots``."""

    roots: tuple[str, ...]  # real paths, links resolved

    @classmethod
    def of(cls, root: Path, allowed_roots: Sequence[str] = ()) -> Boundary:
        """The project root plus ``allowed_roots`` (absolute, or relative to the root)."""
        real = os.path.realpath(root)
        extra = (os.path.realpath(os.path.join(real, os.path.expanduser(a))) for a in allowed_roots)
        return cls((real, *extra))

    def contains(self, real_path: str) -> bool:
        return any(real_path == r or real_path.startswith(r.rstrip("/") + "/") for r in self.roots)


@dataclass
class SourceListing:
    """The files the globs matched, and what was skipped on the way, with why."""

    files: list[SourceFile]
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"path", "reason"}


def list_sources(
    root: Path,
    patterns: list[str],
    origin: str | Path | None = None,
    allowed_roots: Sequence[str] = (),
) -> list[SourceFile]:
    """The files of :func:`find_sources`, without what was skipped."""
    return find_sources(root, patterns, origin, allowed_roots).files


def find_sources(
    root: Path,
    patterns: list[str],
    origin: str | Path | None = None,
    allowed_roots: Sequence[str] = (),
) -> SourceListing:
    """Expand ``patterns`` relative to ``root``, files only, sorted by path.

    Globs follow Python's ``glob`` with ``recursive=True``: ``*`` and ``?`` stay within
    one folder, ``**`` matches any number of folders, names starting with a dot are
    matched only by a pattern part that starts with a dot. One ``scandir`` walk per
    pattern; only matching files are stat'ed. Links that lead outside the project root
    and ``allowed_roots``, and links back into a folder being walked, are skipped.

    Raises:
        IndexConfigError: a pattern matches no file, or its fixed part (``../x``,
            ``/etc``) lies outside the boundary (``origin`` names the config).
    """
    boundary = Boundary.of(root, allowed_roots)
    found: dict[str, SourceFile] = {}
    skipped: dict[str, str] = {}
    for pattern in patterns:
        walk = _Walk(str(root), pattern, boundary, origin)
        matched = 0
        for f in walk.files():
            found[f.path] = f
            matched += 1
        skipped.update(walk.skipped)
        if matched == 0:
            raise IndexConfigError(
                f"sources: {pattern!r} matches no file under {root}"
                + (f" ({len(walk.skipped)} skipped: {next(iter(walk.skipped.values()))})"
                   if walk.skipped else ""),
                file=origin,
                hint="fix the glob; `**` matches any number of folders",
            )
    return SourceListing(
        [found[k] for k in sorted(found)],
        [{"path": p, "reason": skipped[p]} for p in sorted(skipped) if p not in found],
    )


class _Walk:
    """One pattern's walk: matching files, and links skipped at the boundary."""

    def __init__(self, base: str, pattern: str, boundary: Boundary, origin: object) -> None:
        parts = [p for p in pattern.replace("\\", "/").split("/") if p not in ("", ".")]
        fixed: list[str] = []
        while parts and not _MAGIC.search(parts[0]):
            fixed.append(parts.pop(0))
        self.prefix = "/".join(fixed)
        if pattern.startswith("/"):
            base = "/"  # an absolute glob
        self.start = os.path.join(base, self.prefix) if self.prefix else base
        self.parts = parts
        self.boundary = boundary
        self.skipped: dict[str, str] = {}
        real = os.path.realpath(self.start if parts else os.path.dirname(self.start) or base)
        if not boundary.contains(real):
            raise IndexConfigError(
                f"sources: {pattern!r} reaches outside the project ({real})",
                file=origin if isinstance(origin, str | Path) else None,
                hint="keep sources under the project root, or list the folder under "
                "`allowed_roots:`",
            )

    def _rel(self, name: str) -> str:
        return _posix(f"{self.prefix}/{name}" if self.prefix else name)

    def _outside(self, path: str, name: str, is_dir: bool) -> bool:
        """A link whose target is outside the boundary is skipped (and reported)."""
        real = os.path.realpath(path)
        if self.boundary.contains(real):
            return False
        what = "a folder" if is_dir else "a file"
        self.skipped[self._rel(name)] = f"link to {what} outside the project ({real})"
        return True

    def files(self) -> Iterator[SourceFile]:
        if not self.parts:  # no wildcard: one file
            yield from self._single()
            return
        regex = re.compile(_translate(self.parts))
        depth = None if "**" in self.parts else len(self.parts)
        start_real = os.path.realpath(self.start)
        stack = [(self.start, "", 1, frozenset({start_real}), start_real)]
        while stack:
            folder, rel, level, walked, folder_real = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for entry in entries:
                name = rel + entry.name
                try:
                    link = entry.is_symlink()
                    if entry.is_dir():
                        if depth is not None and level >= depth:
                            continue
                        if link and self._outside(entry.path, name, True):
                            continue
                        real = os.path.realpath(entry.path) if link else (
                            os.path.join(folder_real, entry.name))
                        if real in walked:
                            self.skipped[self._rel(name)] = _LOOP
                            continue
                        stack.append((entry.path, name + "/", level + 1, walked | {real}, real))
                        continue
                    if not regex.fullmatch(name):
                        continue
                    if link and self._outside(entry.path, name, False):
                        continue
                    st = entry.stat()
                except OSError:
                    if entry.is_symlink() and regex.fullmatch(name):
                        # A link to nowhere: listed, so that reading it reports the problem.
                        yield SourceFile(self._rel(name), -1, 0)
                    continue
                if S_ISREG(st.st_mode):
                    yield SourceFile(self._rel(name), st.st_size, st.st_mtime_ns)

    def _single(self) -> Iterator[SourceFile]:
        try:
            st = os.stat(self.start)
        except OSError:
            return
        if os.path.islink(self.start) and self._outside(self.start, "", False):
            return
        if S_ISREG(st.st_mode):
            yield SourceFile(_posix(self.prefix), st.st_size, st.st_mtime_ns)


_MAGIC = re.compile(r"[*?[]")
_LOOP = "link back to a folder it is in (a loop)"


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


def read_source(root: Path, path: str, allowed_roots: Sequence[str] = ()) -> SourceText:
    """Read and hash one source; a read or decoding failure is returned, not raised.

    The file is checked against the boundary again when it is read: a link swapped in
    after the listing is not followed out of the project.
    """
    real = os.path.realpath(root / path)
    if not Boundary.of(root, allowed_roots).contains(real):
        return SourceText(path, 0, 0, "", None, f"outside the project ({real})")
    try:
        fd = os.open(real, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
        with os.fdopen(fd, "rb") as f:
            st = os.fstat(f.fileno())
            data = f.read()
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


def hash_file(root: Path, path: str, allowed_roots: Sequence[str] = ()) -> str | None:
    """sha256 of a file's bytes, or None when it cannot be read or lies outside the project."""
    read = read_source(root, path, allowed_roots)
    return read.sha256 or None
