"""Log inputs as blocks of lines: byte ranges of plain files, streamed blocks of compressed
files and of stdin, Parquet row groups.

A plain JSONL file (local or behind an fsspec URL) is cut into byte ranges; a worker
seeks to its range and takes every line that *starts* inside it, so each line belongs to
exactly one range. A gzip or zstd file (or stdin) cannot be cut, so it is decompressed
sequentially, in bounded pieces, and its lines are handed to the workers in blocks. A
Parquet file is split by row group; each row becomes one JSON line. Either way memory is
bounded by the block size, not the file size, and a line longer than ``MAX_LINE`` is
skipped and reported. Where the inputs are found is :mod:`llmops.guard.inputs`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

MAX_LINE = 64 << 20
GZ_BLOCK = 4 << 20  # decompressed bytes per block of a streamed input
MIN_RANGE = 1 << 20
MAX_RANGE = 16 << 20
WIDE_MIN_RANGE = 4 << 20  # ranges of a URL or on a cluster: each costs a request or a task
GZIP_MAGIC = b"\x1f\x8b"
BOM = b"\xef\xbb\xbf"  # UTF-8 byte order mark; dropped at the start of a file

# How a source is read: ``plain`` in byte ranges, ``gzip``/``zstd``/``stream`` (stdin, or a
# web server that need not answer range requests) sequentially, ``parquet`` by row group.
STREAMED = ("gzip", "zstd", "stream")


class SourceError(Exception):
    """A file that cannot be scanned (or whose end cannot be read)."""


@dataclass
class Source:
    """One input file: a local path, ``-`` (stdin) or a URL."""

    path: str
    kind: str = "plain"
    size: int = 0
    error: str | None = None
    remote: bool = False
    columns: tuple[str, ...] = ()  # Parquet: the file's top-level columns
    row_groups: tuple[int, ...] = ()  # Parquet: rows in each row group

    @property
    def gzip(self) -> bool:
        return self.kind == "gzip"


@dataclass
class Task:
    """A block of lines for one worker: a byte range of a plain file, raw lines, a Parquet
    row group, or (on a cluster) a whole compressed file."""

    file_index: int
    path: str
    start: int = 0
    end: int = 0
    data: bytes | None = None
    too_long: tuple[int, ...] = ()  # 1-based lines of ``data`` that were over MAX_LINE
    weight: int = 0  # bytes of the input file this block stands for (progress)
    extra: dict[str, int] = field(default_factory=dict)
    remote: bool = False
    kind: str = "plain"  # plain: a byte range; parquet: row group ``start``; gzip/zstd: a file


def open_source(path: str | Path) -> Source:
    """One local file or URL as a :class:`Source`; a problem is in ``source.error``."""
    from llmops.guard.inputs import open_sources

    found = open_sources([path])
    return found[0] if found else Source(str(path), error="no input")


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


def range_lines(
    path: str, start: int, end: int, remote: bool = False, size: int | None = None
) -> Iterator[bytes | None]:
    """The lines that start in ``[start, end)`` of a plain file (of ``size`` bytes, if known)."""
    from llmops.guard.inputs.locations import BLOCK_SIZE, open_binary

    # a range of a URL is fetched in about one request, plus one for its last line's end
    with open_binary(path, remote, min(BLOCK_SIZE, end - start + (64 << 10)), size) as f:
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
    if task.kind == "parquet":
        from llmops.guard.inputs.parquet import row_group_lines

        return row_group_lines(task.path, task.start, task.remote)
    if task.data is None:
        return range_lines(task.path, task.start, task.end, task.remote, task.extra.get("size"))
    lines = task.data.split(b"\n")
    if lines and lines[-1] == b"":
        lines.pop()
    if not task.too_long:
        return iter(lines)
    too_long = set(task.too_long)
    return (None if i in too_long else line for i, line in enumerate(lines, 1))


def readable_lines(task: Task, failures: list[str]) -> Iterator[bytes | None]:
    """:func:`block_lines`, ending where reading fails; why is appended to ``failures``.

    Any failure while reading (a connection reset part-way through a URL, a store that
    stops answering, a damaged Parquet row group) is the input's problem, not the scan's.
    """
    try:
        yield from block_lines(task)
    except SourceError as exc:
        failures.append(str(exc))
    except Exception as exc:
        failures.append(read_failure(exc))


def read_failure(exc: BaseException) -> str:
    """The error of an input whose reading failed after it was opened."""
    from llmops.guard.inputs.locations import describe_failure

    return f"read failed part-way: {describe_failure(exc)}"


def plain_tasks(index: int, source: Source, workers: int, wide: bool = False) -> Iterator[Task]:
    """Byte ranges covering a plain file: a few per worker, each 1–16 MiB (4–16 MiB for a
    URL, or when ``wide``: on a cluster)."""
    size = source.size
    low = max(MIN_RANGE, WIDE_MIN_RANGE) if source.remote or wide else MIN_RANGE
    step = max(low, min(MAX_RANGE, size // max(1, workers * 8) + 1))
    extra = {"size": size} if source.remote else {}
    for start in range(0, size, step):
        end = min(size, start + step)
        yield Task(
            index, source.path, start, end, weight=end - start, extra=extra, remote=source.remote
        )


def parquet_tasks(index: int, source: Source) -> Iterator[Task]:
    """One task per row group; ``weight`` shares the file's size among them by rows."""
    total = sum(source.row_groups) or 1
    done = 0
    for group, rows in enumerate(source.row_groups):
        share = source.size * (done + rows) // total - source.size * done // total
        done += rows
        yield Task(
            index, source.path, group, group + 1, weight=share,
            remote=source.remote, kind="parquet",
        )  # fmt: skip


OnError = Callable[[int, str], None]


def plan_tasks(
    sources: list[Source], workers: int, on_error: OnError, whole_files: bool = False
) -> Iterator[Task]:
    """The tasks of every readable source, in input order.

    ``whole_files`` (a cluster) makes each compressed file one task, decompressed where
    it runs; otherwise compressed files and stdin are decompressed here, in blocks. A
    file whose end cannot be read is reported through ``on_error`` after its good blocks.
    """
    from llmops.guard.inputs.compressed import stream_tasks

    for index, source in enumerate(sources):
        if source.error:
            continue
        if source.kind == "plain":
            yield from plain_tasks(index, source, workers, wide=whole_files)
        elif source.kind == "parquet":
            yield from parquet_tasks(index, source)
        elif whole_files and source.kind in ("gzip", "zstd"):
            yield Task(
                index, source.path, 0, source.size, weight=source.size,
                remote=source.remote, kind=source.kind,
            )  # fmt: skip
        else:
            try:
                yield from stream_tasks(index, source)
            except SourceError as exc:
                on_error(index, str(exc))
            except Exception as exc:  # see readable_lines
                on_error(index, read_failure(exc))


def file_size(path: str | Path) -> int:
    """Size in bytes, 0 when it cannot be read."""
    try:
        return os.path.getsize(path)
    except OSError:
        return 0
