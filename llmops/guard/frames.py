"""Scanning DataFrames: one partition of a Dask or Spark DataFrame at a time.

Each text cell is a record of its own, handed to a :class:`~llmops.guard.batch.Batch`
like the records of a log file: the texts of many rows are prefiltered together, and
findings are stamped in the one place every scan path uses. A cell's "line" is its
position in the scan, mapped back to the DataFrame index here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llmops.guard.batch import BATCH_CHARS, Batch, BlockResult
from llmops.guard.engine import cached_guard
from llmops.guard.readers import Record
from llmops.project import GuardConfig

FINDING_COLUMNS = (
    "row", "column", "role", "detector", "category", "severity", "start", "end", "evidence",
    "confidence", "fingerprint",
)  # fmt: skip


def _roles(
    columns: str | Iterable[str] | Mapping[str, str | None], role: str | None
) -> dict[str, str | None]:
    if isinstance(columns, str):
        return {columns: role}
    if isinstance(columns, Mapping):
        return dict(columns)
    return dict.fromkeys(columns, role)


def scan_dataframe(
    df: Any,
    columns: str | Iterable[str] | Mapping[str, str | None],
    *,
    checks: Iterable[str] | None = None,
    role: str | None = None,
    config: GuardConfig | None = None,
    batch_chars: int = BATCH_CHARS,
) -> Any:
    """Scan text columns of a pandas DataFrame; one row per finding (``FINDING_COLUMNS``).

    Args:
        df: one pandas DataFrame (a partition of a Dask or Spark DataFrame).
        columns: a column, a list of columns (each scanned with ``role``), or a mapping of
            column to the role that wrote it: ``{"prompt": "user", "answer": "assistant"}``
            runs on each column the detectors configured for its role (``guard.roles``).
        checks: categories or detector names, as for :func:`llmops.guard.detect`.
        role: the role of the columns given without one; ``None`` runs every detector.
        config: the project's ``guard:`` section.
        batch_chars: about how many characters of text are prefiltered together.

    ``row`` is the DataFrame index of the finding's row; rows come out in column order,
    then row order. Missing values and non-text cells are skipped.
    """
    import pandas as pd

    guard = cached_guard(list(checks) if checks is not None else None, config)
    out = BlockResult()
    batch = Batch(guard, frozenset(), out, batch_chars=batch_chars)
    cells: list[Any] = []  # the DataFrame index of each cell scanned, by its "line"
    for name, column_role in _roles(columns, role).items():
        if column_role is not None and not guard.wants(column_role):
            continue
        for at, value in df[name].items():
            if isinstance(value, str) and value:
                batch.add(Record("dataframe", texts=[(value, column_role, name)]), len(cells))
                cells.append(at)
    batch.flush()
    rows = [
        (cells[f.line or 0], f.field, f.role, f.detector, f.category, f.severity, f.start,
         f.end, f.evidence, f.confidence, f.fingerprint)
        for f in out.findings
    ]  # fmt: skip
    frame = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    return frame.astype({"start": "int64", "end": "int64", "confidence": "float64"})
