"""Where ``guard scan`` reads logs from, and how each kind of input is read.

    open_sources(paths) -> [Source]      paths, directories, globs, '-', fsspec URLs
    check_sources(sources, result)       file-level verdicts once the scan has run

- :mod:`.locations`: expanding inputs, sniffing their kind, opening URLs with fsspec.
- :mod:`.compressed`: gzip, zstd, stdin and web servers, read from start to end in blocks.
- :mod:`.parquet`: one record per row, one task per row group.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.guard.inputs.locations import describe_failure, open_sources
from llmops.guard.sources import Source

if TYPE_CHECKING:
    from llmops.guard.scanner import ScanResult

__all__ = ["check_sources", "describe_failure", "open_sources"]


def check_sources(sources: list[Source], result: ScanResult) -> None:
    """Warn about empty files; fail a Parquet file none of whose rows is a log record.

    Such a file's rows are still counted in ``bad_records``, but they are not listed one
    by one: the file's error says why, with its columns.
    """
    from llmops.guard.inputs.parquet import unusable

    dropped = set()
    for source, summary in zip(sources, result.files, strict=True):
        if summary.error is not None:
            continue
        if summary.lines == 0:
            summary.warning = "empty file (no records)"
        elif source.kind == "parquet" and summary.records == 0 and summary.bad_records:
            summary.error = unusable(source.columns)
            dropped.add(summary.path)
    if dropped:
        result.bad_lines = [b for b in result.bad_lines if b["file"] not in dropped]
