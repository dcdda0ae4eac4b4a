"""The history and guard pages: a prompt's means over runs, guard scans over time."""

from __future__ import annotations

from typing import Any

from llmops.reports.history import history_from_store
from llmops.reports.svg import line_chart
from llmops.store import ResultsStore


def history_page(store: ResultsStore, name: str, *, suite: str | None = None,
                 limit: int = 50) -> dict[str, Any]:
    """Each version's mean per scorer over the last ``limit`` runs, with an SVG chart."""
    h = history_from_store(store, name, suite=suite, limit=limit)
    runs = h.runs
    index = {run_id: i for i, run_id in enumerate(runs)}
    series: dict[str, list[tuple[int, float, str]]] = {}
    for p in h.points:
        if p.mean is None:
            continue
        series.setdefault(f"{p.version} {p.scorer}", []).append(
            (index[p.run_id], p.mean, f"{p.run_id} {p.started_at[:16]}"))
    labels = [next(p.started_at[5:10] for p in h.points if p.run_id == r) for r in runs]
    chart = line_chart(series, title=f"{name}: mean per run", x_labels=labels) if series else ""
    return {"name": name, "suite": suite, "scorers": h.scorers, "runs": runs,
            "points": [p.model_dump(mode="json") for p in h.points], "chart_svg": chart}


def prompt_names(store: ResultsStore) -> list[str]:
    """Every prompt the store has results of, by name."""
    return store.prompt_names()


def guard_page(store: ResultsStore, limit: int = 100) -> dict[str, Any]:
    """The latest guard scans (newest first) and a chart of findings per scan."""
    scans = store.guard_scans(limit)
    oldest_first = list(reversed(scans))
    series = {"findings": [(i, float(s.findings), s.scanned_at[:16])
                           for i, s in enumerate(oldest_first)],
              "bad records": [(i, float(s.bad_records), s.scanned_at[:16])
                              for i, s in enumerate(oldest_first)]}
    chart = line_chart(series, title="guard scans: findings per scan",
                       x_labels=[s.day[5:] for s in oldest_first]) if scans else ""
    return {"scans": [{"scanned_at": s.scanned_at, "day": s.day, "paths": s.paths,
                       "records_scanned": s.records_scanned, "bad_records": s.bad_records,
                       "findings": s.findings, "counts": s.counts,
                       "records_without_text": s.records_without_text} for s in scans],
            "chart_svg": chart}
