"""Scan history: one summary row per ``guard scan`` in the results store, trends per day.

The ``guard_scans`` table is created by the store's numbered migrations
(:mod:`llmops.store.migrations`); this module only writes and aggregates rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.guard.scan import ScanResult


def record_scan(store_path: Path, result: ScanResult, paths: Sequence[str]) -> None:
    """Keep the summary of ``result`` in the store at ``store_path``."""
    from llmops.store import open_store

    with open_store(store_path) as store:
        store.add_guard_scan(
            paths=list(paths),
            records_scanned=result.records_scanned,
            bad_records=result.bad_records,
            findings=result.n_findings,
            counts=dict(sorted(result.counts.items())),
            by_version=result.by_prompt_version,
        )


def daily(store_path: Path, days: int = 30) -> list[dict[str, Any]]:
    """Per-day totals of the last ``days`` days, newest first."""
    import json

    from llmops.store import open_store

    since = (datetime.now(UTC) - timedelta(days=days - 1)).date().isoformat()
    with open_store(store_path) as store:
        rows = store.db.execute(
            "select day, records_scanned, bad_records, findings, counts from guard_scans"
            " where day >= ? order by day desc, scanned_at desc",
            (since,),
        ).fetchall()
    out: dict[str, dict[str, Any]] = {}
    for row in rows:
        day = out.setdefault(
            row["day"],
            {
                "day": row["day"],
                "scans": 0,
                "records_scanned": 0,
                "bad_records": 0,
                "findings": 0,
                "counts": {},
            },
        )
        day["scans"] += 1
        day["records_scanned"] += row["records_scanned"]
        day["bad_records"] += row["bad_records"]
        day["findings"] += row["findings"]
        for name, n in json.loads(row["counts"]).items():
            day["counts"][name] = day["counts"].get(name, 0) + n
    return list(out.values())
