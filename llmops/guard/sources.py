"""Reading log files as line blocks: byte ranges of plain files, streamed blocks of gzip.

A plain JSONL file is cut into byte ranges; a worker seeks to its range and takes every
line that *starts* inside it, so each line belongs to exactly one range. A gzip file
cannot be cut (its blocks depend on what came before), so it is decompressed
sequentially, in bounded pieces, by the process that plans the work; the decompressed
lines are handed to the workers in blocks. Either way memory is bounded by the block
size, not the file size, and a line longer than ``MAX_LINE`` is skipped and reported.
"""

from __future__ import annotations

import os
import zlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAX_LINE = 64 << 20
GZ_BLOCK = 4 << 20
MIN_RANGE = 1 << 20
MAX_RANGE = 16 << 20
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark; dropped at the start of a file


class SourceError(Exception):
    """A file that cannot be scanned (or whose end cannot be read)."""


@dataclass
class Source:
    """One input file."""

    path: Path
    gzip: bool = False
    size: int = 0
    error: str | None = None


@dataclass
class Task:
    """A block of lines for one worker: a byte range of a plain file, or raw lines."""

    file_index: int
    path: str
    start: int = 0
    end: int = 0
    data: bytes | None = None
    too_long: tuple[int, ...] = ()  # 1-based lines of ``data`` that were over MAX_LINE
    weight: int = 0  # bytes of the input file this block stands for (progress)
    extra: dict[str, int] = field(default_factory=dict)


def open_source(path: str | Path) -> Source:
    """Check that ``path`` is a readable file and whether it is gzip-compressed."""
    p = Path(path)
    try:
        if p.is_dir():
            return Source(p, error="is a directory, expected a .jsonl or .jsonl.gz file")
        with p.open("rb") as f:
            magic = f.read(2)
        return Source(p, gzip=magic == GZIP_MAGIC, size=p.stat().st_size)
    except FileNotFoundError:
        return Source(p, error="file not found")
    except PermissionError:
        return Source(p, error="permission denied")
    except OSError as exc:
        return Source(p, error=f"cannot read: {exc.strerror or exc}")


def read_line(f: BinaryIO) -> tuple[bytes | None, int]:
    """The next line and the bytes it took; ``None`` for a line over ``MAX_LINE``."""
    line = f.readline(MAX_LINE + 1)
    if len(line) <= MAX_LINE or line.endswith(b"\n"):
        return line, len(line)
    used = len(line)
    while True:  # skip the rest of the over-long line without holding it
        more = f.readline(1 << 20)
        used += len(more)
        if not more or more.endswith(b"\n"):
            return None, used


def range_lines(path: str, start: int, end: int) -> Iterator[bytes | None]:
    """The lines that start in ``[start, end)`` of a plain file."""
    with open(path, "rb", buffering=1 << 20) as f:
        pos = start
        if start > 0:
            f.seek(start - 1)
            _, used = read_line(f)  # the tail of the line that started before us
            pos = start - 1 + used
        elif f.read(3) == BOM:
            pos = 3  # skipped, so that line 1 parses; it still starts in this range
        else:
            f.seek(0)
        readline = f.readline
        while pos < end:
            raw = readline(MAX_LINE + 1)  # read_line(f), inlined for speed
            used = len(raw)
            line: bytes | None = raw
            if used > MAX_LINE and not raw.endswith(b"\n"):
                line = None
                while True:  # skip the rest of the over-long line without holding it
                    more = readline(1 << 20)
                    used += len(more)
                    if not more or more.endswith(b"\n"):
                        break
            if used == 0:
                return
            pos += used
            yield line


def block_lines(task: Task) -> Iterator[bytes | None]:
    """The lines of a task, whichever kind it is."""
    if task.data is None:
        return range_lines(task.path, task.start, task.end)
    lines = task.data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not task.too_long:
        return iter(lines)
    too_long = set(task.too_long)
    return (None if i in too_long else line for i, line in enumerate(lines, 1))


def plain_tasks(index: int, source: Source, workers: int) -> Iterator[Task]:
    """Byte ranges covering a plain file: a few per worker, each 1–16 MiB."""
    size = source.size
    step = max(MIN_RANGE, min(MAX_RANGE, size // max(1, workers * 8) + 1))
    for start in range(0, size, step):
        end = min(size, start + step)
        yield Task(index, str(source.path), start, end, weight=end - start)


def _gz_chunks(path: Path) -> Iterator[tuple[bytes, int]]:
    """Decompressed pieces (at most GZ_BLOCK each) and the compressed bytes consumed."""
    with path.open("rb") as raw:
        d = zlib.decompressobj(wbits=31)
        fed_since_member = False
        while True:
            comp = raw.read(1 << 20)
            if not comp:
                break
            consumed = len(comp)
            while comp:
                fed_since_member = True
                try:
                    out = d.decompress(comp, GZ_BLOCK)
                except zlib.error as exc:
                    raise SourceError(f"corrupt gzip data ({exc})") from None
                comp = d.unconsumed_tail
                if d.eof:
                    comp = d.unused_data + comp
                    d = zlib.decompressobj(wbits=31)
                    fed_since_member = False
                if out:
                    yield out, consumed
                    consumed = 0
            if consumed:
                yield b"", consumed
        if fed_since_member:
            raise SourceError("truncated gzip file (ends before the end-of-stream marker)")


def gzip_tasks(index: int, source: Source) -> Iterator[Task]:
    """Blocks of whole decompressed lines; raises SourceError after the last good block.

    A byte order mark at the start of the decompressed data is dropped.
    """
    tasks = _gzip_tasks(index, source)
    for task in tasks:
        if task.data is not None and task.data.startswith(BOM):
            task.data = task.data[len(BOM) :]
        yield task
        break
    yield from tasks


def _gzip_tasks(index: int, source: Source) -> Iterator[Task]:
    rest = b""
    skipping = False  # inside a line longer than MAX_LINE
    weight = 0
    path = str(source.path)
    failure: SourceError | None = None
    chunks = _gz_chunks(source.path)
    while True:
        try:
            piece, consumed = next(chunks)
        except StopIteration:
            break
        except SourceError as exc:
            failure = exc  # scan what was decompressed before the damage, then report it
            break
        weight += consumed
        data = rest + piece
        cut = data.rfind(b"\n")
        if cut == -1:
            rest = b"" if skipping else data
            if len(rest) > MAX_LINE:
                skipping, rest = True, b""
            continue
        block, rest = data[: cut + 1], data[cut + 1 :]
        too_long: tuple[int, ...] = ()
        if skipping:
            block = b"\n" + block[block.index(b"\n") + 1 :]
            too_long, skipping = (1,), False
        if len(block) >= GZ_BLOCK or too_long:
            if len(block) > MAX_LINE:
                block, too_long = _blank_long_lines(block, too_long)
            yield Task(index, path, data=block, too_long=too_long, weight=weight)
            weight = 0
        else:
            rest = block + rest  # keep filling the block
    if skipping:
        yield Task(index, path, data=b"\n", too_long=(1,), weight=weight)
    elif rest:
        data, too_long = _blank_long_lines(rest, ()) if len(rest) > MAX_LINE else (rest, ())
        yield Task(index, path, data=data, too_long=too_long, weight=weight)
    if failure is not None:
        raise failure


def _blank_long_lines(block: bytes, too_long: tuple[int, ...]) -> tuple[bytes, tuple[int, ...]]:
    """Empty the lines over MAX_LINE in a block and list them as too long."""
    lines = block.split(b"\n")
    marked = set(too_long)
    for i, line in enumerate(lines):
        if len(line) > MAX_LINE:
            lines[i] = b""
            marked.add(i + 1)
    return b"\n".join(lines), tuple(sorted(marked))


def file_size(path: str | Path) -> int:
    """Size in bytes, 0 when it cannot be read."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
