"""Aggregates of a variant's results, computed in SQL so nothing large is held in memory."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from llmops.store import Store


@dataclass
class VariantFigures:
    """Counts and raw per-case values of one variant, ready for statistics."""

    n_cases: int = 0
    n_errors: int = 0
    n_passed: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    first_error: str | None = None
    # scorer key -> case id -> values across repeats (None: errored call or scorer error)
    values: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    passed: dict[str, dict[str, list[bool | None]]] = field(default_factory=dict)
    score_errors: dict[str, int] = field(default_factory=dict)


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return float(sorted_values[int(rank) - 1])


def variant_figures(store: Store, variant_id: int, scorer_keys: Sequence[str]) -> VariantFigures:
    """Everything the summary table, the gate and the comparisons need for one variant."""
    db = store.db
    f = VariantFigures()
    row = db.execute(
        "select count(*), sum(error is not null), sum(cache_hit), coalesce(sum(prompt_tokens), 0),"
        " coalesce(sum(completion_tokens), 0) from results where variant_id = ?",
        (variant_id,),
    ).fetchone()
    f.n_cases, f.n_errors = row[0], row[1] or 0
    f.cache_hits, f.prompt_tokens, f.completion_tokens = row[2] or 0, row[3], row[4]
    err = db.execute(
        "select error from results where variant_id = ? and error is not null"
        " order by result_id limit 1",
        (variant_id,),
    ).fetchone()
    if err:  # shown by `runs show` and the eval summary: masked like every shown output
        from llmops.guard.redact import redact

        f.first_error = redact(err[0])
    latencies = [
        r[0]
        for r in db.execute(
            "select latency_ms from results where variant_id = ? and error is null"
            " and cache_hit = 0 and latency_ms is not null order by latency_ms",
            (variant_id,),
        )
    ]
    f.latency_p50_ms, f.latency_p95_ms = percentile(latencies, 50), percentile(latencies, 95)
    del latencies
    f.n_passed = db.execute(
        "select count(*) from results r where r.variant_id = ? and r.error is null and"
        " (select count(*) from scores s where s.result_id = r.result_id and s.passed = 1) = ?",
        (variant_id, len(scorer_keys)),
    ).fetchone()[0]
    for key in scorer_keys:
        values: dict[str, list[float | None]] = {}
        passed: dict[str, list[bool | None]] = {}
        n_err = 0
        for case_id, value, ok, error in db.execute(
            "select r.case_id, s.value, s.passed, coalesce(s.error, r.error) from results r"
            " left join scores s on s.result_id = r.result_id and s.scorer = ?"
            " where r.variant_id = ? order by r.result_id",
            (key, variant_id),
        ):
            if error is not None and value is None:
                n_err += 1
            values.setdefault(case_id, []).append(value)
            passed.setdefault(case_id, []).append(None if ok is None else bool(ok))
        f.values[key], f.passed[key] = values, passed
        f.score_errors[key] = n_err
    return f


def flat(values: dict[str, list[float | None]]) -> list[float]:
    """Every scored value, errors left out."""
    return [v for vs in values.values() for v in vs if v is not None]


def run_rows(store: Store, run_id: str) -> list[dict[str, Any]]:
    """One flat row per (variant, case, repeat, scorer) for CSV export.

    ``output``, ``error`` and ``score_error`` have their PII and secrets masked
    (:func:`llmops.guard.redact`); the store keeps the raw output.
    """
    from llmops.guard.redact import redact

    rows = store.db.execute(
        "select r.run_id, v.prompt, v.version, v.digest, v.model, r.case_id, r.case_digest,"
        " r.repeat_index, r.output, r.error, r.latency_ms, r.prompt_tokens,"
        " r.completion_tokens, r.cache_hit, s.scorer, s.scorer_version, s.args, s.value,"
        " s.passed, s.error as score_error"
        " from results r join variants v on v.variant_id = r.variant_id"
        " left join scores s on s.result_id = r.result_id"
        # Eval-set order, not completion order, so two exports of one run are identical.
        " where r.run_id = ? order by r.variant_id, r.case_index, r.repeat_index, s.scorer",
        (run_id,),
    )
    out = []
    last: tuple[str | None, str | None] = (None, None)  # a result's rows repeat its output
    for r in rows:
        row = dict(r)
        output = row["output"]
        if output != last[0]:
            last = (output, redact(output))
        row["output"] = last[1]
        row["error"] = redact(row["error"])
        row["score_error"] = redact(row["score_error"])
        out.append(row)
    return out
