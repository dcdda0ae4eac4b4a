"""Inputs read from start to end: gzip and zstd files, stdin, web servers.

The bytes are decompressed in bounded pieces and cut into blocks of whole lines (about
``GZ_BLOCK`` each). A file whose end is missing or damaged gives the blocks read before
the damage, then a :class:`SourceError` saying what is wrong, so that the readable part
is still scanned.
"""

from __future__ import annotations

import sys
import zlib
from collections.abc import Iterator
from contextlib import AbstractContextManager, nullcontext
from typing import Any, BinaryIO

from llmops.guard import sources
from llmops.guard.sources import BOM, Source, SourceError, Task

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
READ = 1 << 20

Readable = Any  # a binary file object: only read(size) is used
Pieces = Iterator[tuple[bytes, int]]  # decompressed bytes, compressed bytes consumed


def _gzip_pieces(raw: Readable) -> Pieces:
    d = zlib.decompressobj(wbits=31)
    fed_since_member = False
    while True:
        comp = raw.read(READ)
        if not comp:
            break
        consumed = len(comp)
        while comp:
            fed_since_member = True
            try:
                out = d.decompress(comp, sources.GZ_BLOCK)
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


def _zstd_pieces(raw: Readable) -> Pieces:
    import zstandard

    d = zstandard.ZstdDecompressor().decompressobj()
    pending = False  # inside a frame that has not ended yet
    while True:
        comp = raw.read(64 << 10)  # small reads: zstd output per call is not bounded
        if not comp:
            break
        consumed = len(comp)
        while comp:
            pending = True
            try:
                out = d.decompress(comp)
            except zstandard.ZstdError as exc:
                raise SourceError(f"corrupt zstd data ({exc})") from None
            comp = b""
            if d.eof:
                comp = d.unused_data
                d = zstandard.ZstdDecompressor().decompressobj()
                pending = False
            if out:
                yield out, consumed
                consumed = 0
        if consumed:
            yield b"", consumed
    if pending:
        raise SourceError("truncated zstd file (ends inside a frame)")


def _raw_pieces(raw: Readable) -> Pieces:
    while piece := raw.read(READ):
        yield piece, len(piece)


def _opened(source: Source) -> AbstractContextManager[BinaryIO]:
    if source.path == "-" and not source.remote:
        return nullcontext(sys.stdin.buffer)
    from llmops.guard.inputs.locations import open_binary

    return open_binary(source.path, source.remote, in_order=True)


def _pieces(raw: Readable, kind: str) -> Pieces:
    if kind == "gzip":
        return _gzip_pieces(raw)
    if kind == "zstd":
        return _zstd_pieces(raw)
    return _raw_pieces(raw)


def stream_tasks(index: int, source: Source) -> Iterator[Task]:
    """Blocks of whole decompressed lines; raises SourceError after the last good block.

    stdin is sniffed here (gzip and zstd are recognised by their first bytes). A byte
    order mark at the start of the decompressed data is dropped.
    """
    with _opened(source) as opened:
        kind = source.kind
        raw: Readable = opened
        if kind == "stream":
            head = _read_exactly(raw, 4)
            if head == b"PAR1":
                raise SourceError("Parquet cannot be read from stdin: give the file's path")
            kind = "gzip" if head[:2] == b"\x1f\x8b" else "zstd" if head == ZSTD_MAGIC else kind
            raw = _Prefixed(head, opened)
        first = True
        for task in _line_blocks(index, source.path, _pieces(raw, kind)):
            if first and task.data is not None and task.data.startswith(BOM):
                task.data = task.data[len(BOM) :]
            first = False
            yield task


def _read_exactly(raw: BinaryIO, n: int) -> bytes:
    out = b""
    while len(out) < n and (more := raw.read(n - len(out))):
        out += more
    return out


class _Prefixed:
    """A stream whose first bytes were already read (to tell its kind)."""

    def __init__(self, head: bytes, rest: BinaryIO) -> None:
        self.head, self.rest = head, rest

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.rest.read(size)
        out, self.head = self.head, b""
        return out


def whole_file_tasks(task: Task) -> Iterator[Task]:
    """The blocks of one compressed file, read where the task runs (a cluster worker)."""
    source = Source(task.path, kind=task.kind, size=task.end, remote=task.remote)
    return stream_tasks(task.file_index, source)


def _line_blocks(index: int, path: str, chunks: Pieces) -> Iterator[Task]:
    rest = b""
    skipping = False  # inside a line longer than MAX_LINE
    weight = 0
    failure: SourceError | None = None
    max_line, block_size = sources.MAX_LINE, sources.GZ_BLOCK
    while True:
        try:
            piece, consumed = next(chunks)
        except StopIteration:
            break
        except SourceError as exc:
            failure = exc  # scan what was decompressed before the damage, then report it
            break
        except Exception as exc:  # the connection lost part-way: the same
            failure = SourceError(sources.read_failure(exc))
            break
        weight += consumed
        data = rest + piece
        cut = data.rfind(b"\n")
        if cut == -1:
            rest = b"" if skipping else data
            if len(rest) > max_line:
                skipping, rest = True, b""
            continue
        block, rest = data[: cut + 1], data[cut + 1 :]
        too_long: tuple[int, ...] = ()
        if skipping:
            block = b"\n" + block[block.index(b"\n") + 1 :]
            too_long, skipping = (1,), False
        if len(block) >= block_size or too_long:
            if len(block) > max_line:
                block, too_long = _blank_long_lines(block, too_long)
            yield Task(index, path, data=block, too_long=too_long, weight=weight)
            weight = 0
        else:
            rest = block + rest  # keep filling the block
    if skipping:
        yield Task(index, path, data=b"\n", too_long=(1,), weight=weight)
    elif rest:
        data, too_long = _blank_long_lines(rest, ()) if len(rest) > max_line else (rest, ())
        yield Task(index, path, data=data, too_long=too_long, weight=weight)
    if failure is not None:
        raise failure


def _blank_long_lines(block: bytes, too_long: tuple[int, ...]) -> tuple[bytes, tuple[int, ...]]:
    """Empty the lines over MAX_LINE in a block and list them as too long."""
    lines = block.split(b"\n")
    marked = set(too_long)
    for i, line in enumerate(lines):
        if len(line) > sources.MAX_LINE:
            lines[i] = b""
            marked.add(i + 1)
    return b"\n".join(lines), tuple(sorted(marked))
