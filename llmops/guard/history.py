"""Scan history: one summary row per ``guard scan`` in the results store, trends per day.

The ``guard_scans`` table is created by the store's numbered migrations
(:mod:`llmops.store.migrations`); this module only writes and aggregates rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.guard.result import ScanResult
    from llmops.store import StoreLocation


def record_scan(location: StoreLocation, result: ScanResult, paths: Sequence[str],
                scanned_at: str | None = None) -> None:
    """Keep the summary of ``result`` in the results store at ``location``."""
    from llmops.store import GuardScanRecord, now_iso, open_store

    at = scanned_at or now_iso()
    with open_store(location) as store:
        store.add_guard_scan(GuardScanRecord(
            scanned_at=at, day=at[:10], paths=list(paths),
            records_scanned=result.records_scanned, bad_records=result.bad_records,
            findings=result.n_findings, counts=dict(sorted(result.counts.items())),
            by_version=result.by_prompt_version,
            records_without_text=result.records_without_text,
            by_shape=dict(sorted(result.by_shape.items())),
        ))


def daily(location: StoreLocation, days: int = 30, limit: int = 100_000) -> list[dict[str, Any]]:
    """Per-day totals of the scans of the last ``days`` days, newest day first."""
    from llmops.store import open_store

    since = (datetime.now(UTC) - timedelta(days=days - 1)).date().isoformat()
    with open_store(location) as store:
        rows = [r for r in store.guard_scans(limit) if r.day >= since]
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        day = out.setdefault(row.day, {
            "day": row.day, "scans": 0, "records_scanned": 0, "bad_records": 0,
            "records_without_text": 0, "findings": 0, "counts": {},
        })
        day["scans"] += 1
        day["records_scanned"] += row.records_scanned
        day["bad_records"] += row.bad_records
        day["records_without_text"] += row.records_without_text
        day["findings"] += row.findings
        for name, n in row.counts.items():
            day["counts"][name] = day["counts"].get(name, 0) + n
    return sorted(out.values(), key=lambda d: d["day"], reverse=True)
