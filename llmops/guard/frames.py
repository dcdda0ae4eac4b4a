"""Scanning DataFrames: one partition of a Dask or Spark DataFrame at a time.

The texts of many rows are handed to the detectors together (:meth:`Guard.detect_texts`),
as the log scan does, so that a partition is prefiltered in a few passes rather than one
call per cell.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from llmops.guard.engine import cached_guard
from llmops.project import GuardConfig

FINDING_COLUMNS = (
    "row", "column", "role", "detector", "category", "severity", "start", "end", "evidence",
    "confidence", "fingerprint",
)  # fmt: skip
BATCH_CHARS = 1 << 20  # text characters prefiltered together


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
    rows: list[tuple[Any, ...]] = []
    for name, column_role in _roles(columns, role).items():
        if column_role is not None and not guard.wants(column_role):
            continue
        items: list[tuple[str, str | None, str]] = []
        index: list[Any] = []
        size = 0
        for at, value in df[name].items():
            if not isinstance(value, str) or not value:
                continue
            items.append((value, column_role, name))
            index.append(at)
            size += len(value)
            if size >= batch_chars:
                _flush(guard, items, index, rows)
                size = 0
        _flush(guard, items, index, rows)
    out = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    return out.astype({"start": "int64", "end": "int64", "confidence": "float64"})


def _flush(
    guard: Any, items: list[tuple[str, str | None, str]], index: list[Any], rows: list[Any]
) -> None:
    if not items:
        return
    for i, findings in guard.detect_texts(items, list(range(len(items)))):
        at, (_, role, name) = index[i], items[i]
        for f in findings:
            rows.append((at, name, role, f.detector, f.category, f.severity, f.start, f.end,
                         f.evidence, f.confidence, f.fingerprint))  # fmt: skip
    items.clear()
    index.clear()
