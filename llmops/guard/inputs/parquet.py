"""Parquet logs: one record per row, read one row group at a time.

Each row becomes the JSON object of its columns, so every log shape the JSONL readers
know is read from Parquet too: nested columns (structs, lists) as they are, and a text
column holding JSON (``{...}`` or ``[...]``) as the value it encodes. Null columns are
left out. Columns named ``attributes.X`` or ``context.X`` (span tables exported by
Phoenix and other OpenInference tools) are gathered under ``attributes`` and ``context``
with ``X`` as the key, as they are in the spans' JSON.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import decimal
from collections.abc import Iterator
from typing import Any

import orjson

GROUPED = ("attributes.", "context.")
BATCH_ROWS = 2048


def describe(path: str, remote: bool) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """The top-level columns and the rows of each row group (reads only the footer)."""
    import pyarrow.parquet as pq

    from llmops.guard.inputs.locations import open_binary

    with open_binary(path, remote) as f:
        meta = pq.ParquetFile(f).metadata
        columns = tuple(meta.schema.to_arrow_schema().names)
        groups = tuple(meta.row_group(i).num_rows for i in range(meta.num_row_groups))
    return columns, groups


def row_group_lines(path: str, group: int, remote: bool) -> Iterator[bytes | None]:
    """The rows of one row group, each as one JSON line."""
    import pyarrow.parquet as pq

    from llmops.guard.inputs.locations import open_binary

    dumps = orjson.dumps
    with open_binary(path, remote) as f:
        pf = pq.ParquetFile(f)
        for batch in pf.iter_batches(batch_size=BATCH_ROWS, row_groups=[group]):
            grouped = any(name.startswith(GROUPED) for name in batch.schema.names)
            for row in batch.to_pylist():
                yield dumps(_record(row, grouped), default=_plain)


def _record(row: dict[str, Any], grouped: bool) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in row.items():
        if value is None:
            continue
        if type(value) is str and value[:1] in ("{", "[") and value[-1:] in ("}", "]"):
            with contextlib.suppress(orjson.JSONDecodeError):  # else it stays text
                value = orjson.loads(value)
        if grouped and key.startswith(GROUPED):
            head, _, rest = key.partition(".")
            inner = out.setdefault(head, {})
            if isinstance(inner, dict):
                inner[rest] = value
                continue
        out[key] = value
    return out


def _plain(value: Any) -> Any:
    """JSON for the column types orjson does not write itself."""
    if isinstance(value, bytes | bytearray | memoryview):
        return bytes(value).decode("utf-8", "replace")
    if isinstance(value, decimal.Decimal):
        return str(value)
    if isinstance(value, dt.timedelta):
        return value.total_seconds()
    if isinstance(value, tuple | set | frozenset):
        return list(value)
    return str(value)


def unusable(columns: tuple[str, ...]) -> str:
    """The error of a Parquet file none of whose rows is a log record."""
    listed = ", ".join(columns) or "none"
    return (
        "no usable column: no row is a log record of a known shape "
        f"(columns: {listed}; see docs/guard.md, 'Parquet')"
    )
