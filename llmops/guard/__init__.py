"""Guardrail detectors shared by the ``guardrails`` scorer and ``llmops guard scan``.

    detect(text, checks=None, role=None, config=None) -> list[Finding]
    scan(records, ...) -> ScanResult            any iterable of log records or strings
    scan_files(paths, workers=N, ...) -> ScanResult
    scan_dataframe(df, columns, ...) -> pandas.DataFrame of findings
    redact(text) -> text with its PII and secrets masked (for reports and exports)

Detectors are registered units (``known()``) with a name such as ``pii.credit_card``,
a version, a category (pii, secret, injection, policy, format) and a severity.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from llmops.guard.engine import DEFAULT_CHECKS, DEFAULT_ROLES, Guard, cached_guard
from llmops.guard.findings import Finding, fingerprint
from llmops.guard.redact import redact
from llmops.guard.registry import Detector, known
from llmops.guard.scanner import ScanResult, scan, scan_files
from llmops.project import GuardConfig

__all__ = [
    "DEFAULT_CHECKS",
    "DEFAULT_ROLES",
    "FINDING_COLUMNS",
    "Detector",
    "Finding",
    "Guard",
    "ScanResult",
    "detect",
    "fingerprint",
    "known",
    "redact",
    "scan",
    "scan_dataframe",
    "scan_files",
]

FINDING_COLUMNS = (
    "row", "column", "detector", "category", "severity", "start", "end", "evidence",
    "confidence", "fingerprint",
)  # fmt: skip


def detect(
    text: str,
    checks: Iterable[str] | None = None,
    role: str | None = None,
    config: GuardConfig | None = None,
) -> list[Finding]:
    """Findings in one text.

    Args:
        text: the text to scan.
        checks: categories (``pii``, ``secrets``, ``injection``, ``policy``, ``format``) or
            detector names; default ``config.checks``, else pii, secrets, injection, policy.
        role: who wrote the text (``user``, ``assistant``, ``system``, ``tool``,
            ``tool_call``): only the detectors configured for that role run. ``None``
            runs every selected detector.
        config: the project's ``guard:`` section (policy terms, roles, JSON schema).

    Raises:
        ConfigError: an unknown check name or an invalid policy pattern.
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    return guard.detect(text, role)


def scan_dataframe(
    df: Any,
    columns: str | Iterable[str],
    *,
    checks: Iterable[str] | None = None,
    role: str | None = None,
    config: GuardConfig | None = None,
) -> Any:
    """Scan text columns of a pandas DataFrame; one row per finding (``FINDING_COLUMNS``).

    Works on one partition at a time, so it is the function to map over the partitions
    of a Dask or Spark DataFrame (see docs/guard.md). ``row`` is the DataFrame index.
    """
    import pandas as pd

    from llmops.guard.batch import Batch, BlockResult
    from llmops.guard.readers import Record

    guard = cached_guard(list(checks) if checks is not None else None, config)
    names = [columns] if isinstance(columns, str) else list(columns)
    block = BlockResult()
    batch = Batch(guard, frozenset(), block)
    cells: list[tuple[Any, str]] = []  # (row, column) of each scanned cell, by its "line"
    for name in names:
        for index, value in df[name].items():
            if isinstance(value, str):
                batch.add(Record("dataframe", texts=[(value, role, name)]), len(cells))
                cells.append((index, name))
    batch.flush()
    rows = [
        (*cells[f.line or 0], f.detector, f.category, f.severity, f.start, f.end, f.evidence,
         f.confidence, f.fingerprint)
        for f in block.findings
    ]  # fmt: skip
    out = pd.DataFrame(rows, columns=list(FINDING_COLUMNS))
    return out.astype({"start": "int64", "end": "int64", "confidence": "float64"})
