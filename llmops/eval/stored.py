"""Stored runs read back for people: a run's details and its rows for export.

The store keeps raw texts (scoring needs them); everything here is shown or exported,
so outputs and error messages come out masked (:func:`llmops.guard.redact.redact`).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

from llmops.eval.result import masked
from llmops.guard.redact import redact
from llmops.store import ResultsStore, flat


def run_details(store: ResultsStore, run_id: str) -> dict[str, Any]:
    """A run with per-variant counts and scorer means, from the store alone."""
    run = store.run(run_id)
    keys = list(store.scorer_signatures(run_id=run_id))
    variants = []
    for v in store.variants(run_id):
        f = store.variant_figures(v.variant_id, keys)
        means = {}
        for k in keys:
            vals = flat(f.values[k])
            means[k] = sum(vals) / len(vals) if vals else None
        variants.append({
            "prompt": v.prompt, "version": v.version, "digest": v.digest,
            "role": v.role, "model": v.model, "params": v.params,
            "origin": v.origin, "reused_from": v.reused_from,
            "n_cases": f.n_cases, "n_errors": f.n_errors,
            "pass_rate": f.n_passed / f.n_cases if f.n_cases else None, "means": means,
            "prompt_tokens": f.prompt_tokens, "completion_tokens": f.completion_tokens,
            "latency_p50_ms": f.latency_p50_ms, "latency_p95_ms": f.latency_p95_ms,
            "first_error": redact(f.first_error),
        })
    meta = {k: v for k, v in run.meta.items() if k not in ("proc_start",)}
    return {"run_id": run.run_id, "suite": run.suite, "status": run.status,
            "started_at": run.started_at, "finished_at": run.finished_at,
            "n_cases_done": run.n_done, **meta, "variants": variants}


def export_rows(store: ResultsStore, run_id: str) -> Iterator[dict[str, Any]]:
    """One flat row per (variant, case, repeat, scorer), texts masked, in eval-set order."""
    store.run(run_id)  # UserError naming `runs list` when unknown
    last: tuple[str | None, str | None] = (None, None)  # a result's rows repeat its output
    for row in store.export_rows(run_id):
        d = asdict(row)
        if d["output"] != last[0]:
            last = (d["output"], redact(d["output"]))
        d["output"] = last[1]
        d["error"] = redact(d["error"])
        d["score_error"] = redact(d["score_error"])
        for key in ("details", "vars", "expected"):  # one JSON cell each, masked
            value = masked(d[key])
            d[key] = None if value is None else json.dumps(value, ensure_ascii=False)
        yield d
