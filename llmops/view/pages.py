"""What each page of ``llmops view`` shows, as plain data (the HTML and ``/api/`` share it).

Everything comes from the results store interface (:class:`llmops.store.ResultsStore`);
every text a model or an eval set wrote is masked here
(:func:`llmops.guard.redact.redact`) and escaped later by the templates.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from llmops.eval.stored import run_details
from llmops.guard.redact import redact
from llmops.store import ResultsStore, StoredResult

PAGE_SIZE = 50  # runs per page of the runs list
CASES_PER_PAGE = 100  # cases per page of a run


@dataclass
class RunFilters:
    """The runs list's filters, as the query string gives them."""

    suite: str | None = None
    prompt: str | None = None
    since: str | None = None  # YYYY-MM-DD (or a full ISO time)
    until: str | None = None
    run_ids: set[str] | None = None  # runs holding the version a label points at
    page: int = 1


def runs_page(store: ResultsStore, filters: RunFilters) -> dict[str, Any]:
    """One page of runs, newest first, with their variants."""
    page = max(1, filters.page)
    before = _day_after(filters.until) if filters.until else None
    if filters.run_ids is not None:  # a label: its runs are known, their order is not
        every = store.runs(None, suite=filters.suite, prompt=filters.prompt,
                           since=filters.since, before=before)
        kept = [r for r in every if r.run_id in filters.run_ids]
        total: int | None = len(kept)
        runs = kept[(page - 1) * PAGE_SIZE: page * PAGE_SIZE]
    else:
        runs = store.runs(PAGE_SIZE + 1, offset=(page - 1) * PAGE_SIZE, suite=filters.suite,
                          prompt=filters.prompt, since=filters.since, before=before)
        total = None  # unknown beyond this page: only "next" is offered
    has_next = len(runs) > PAGE_SIZE if total is None else page * PAGE_SIZE < total
    rows = []
    for r in runs[:PAGE_SIZE]:
        variants = store.variants(r.run_id)
        rows.append({
            "run_id": r.run_id, "suite": r.suite, "status": r.status,
            "started_at": r.started_at, "finished_at": r.finished_at,
            "n_done": r.n_done, "git_commit": r.meta.get("git_commit"),
            "git_dirty": bool(r.meta.get("git_dirty")),
            "gate": verdict_view(r.meta.get("verdict"), with_comparisons=False),
            "variants": [{"prompt": v.prompt, "version": v.version, "role": v.role,
                          "digest": v.digest} for v in variants],
        })
    return {"runs": rows, "page": page, "has_next": has_next,
            "has_prev": page > 1, "total": total, "n_runs": store.count_runs()}


def verdict_view(verdict: Any, *, with_comparisons: bool = True) -> dict[str, Any] | None:
    """The gate's result (and the comparisons) ``llmops eval`` kept, masked; None for a run
    from before verdicts were kept."""
    if not isinstance(verdict, dict) or not isinstance(verdict.get("gate"), dict):
        return None
    gate = verdict["gate"]
    view: dict[str, Any] = {
        "passed": bool(gate.get("passed")),
        "reasons": [redact(str(r)) for r in gate.get("reasons") or []],
        "flags": [redact(str(f)) for f in gate.get("flags") or []],
        "exit_code": verdict.get("exit_code"),
    }
    if with_comparisons:
        view["comparisons"] = mask_details(list(verdict.get("comparisons") or []))
    return view


def _day_after(until: str) -> str:
    """``until`` is inclusive: a date stands for its whole day."""
    try:
        return (date.fromisoformat(until[:10]) + timedelta(days=1)).isoformat()
    except ValueError:
        return until


@dataclass
class CaseFilters:
    """A run page's case filters."""

    scorer: str | None = None
    status: str | None = None  # pass | fail | changed
    q: str | None = None
    page: int = 1


@dataclass
class _Case:
    case_id: str
    index: int
    cells: dict[int, StoredResult] = field(default_factory=dict)


def run_page(store: ResultsStore, run_id: str, filters: CaseFilters) -> dict[str, Any]:
    """A run's verdict table, then its cases (failing and changed first), filtered."""
    details = run_details(store, run_id)  # UserError when the run is unknown
    variants = store.variants(run_id)
    keys = list(store.scorer_signatures(run_id=run_id))
    cases: dict[str, _Case] = {}
    for v in variants:
        for r in store.results(v.variant_id):
            if r.repeat_index != 0:
                continue
            case = cases.setdefault(r.case_id, _Case(r.case_id, r.case_index))
            case.cells[v.variant_id] = r
    shown_keys = [filters.scorer] if filters.scorer in keys else keys
    ordered = sorted(cases.values(), key=lambda c: (
        not _failing(c, shown_keys), not _changed(c, shown_keys), c.index))
    kept = [c for c in ordered if _status_ok(c, shown_keys, filters.status)]
    inputs = store.case_inputs(variants[0].variant_id) if variants else {}
    if filters.q:
        needle = filters.q.lower()
        kept = [c for c in kept if needle in _searchable(c, inputs).lower()]
    page = max(1, filters.page)
    window = kept[(page - 1) * CASES_PER_PAGE: page * CASES_PER_PAGE]
    labels = {v.variant_id: f"{v.prompt}@{v.version}" for v in variants}
    return {
        **details,
        "verdict": verdict_view(details.get("verdict")),
        "scorers": keys, "shown_scorers": shown_keys,
        "variant_labels": [labels[v.variant_id] for v in variants],
        "n_cases": len(cases), "n_matching": len(kept), "page": page,
        "has_prev": page > 1, "has_next": page * CASES_PER_PAGE < len(kept),
        "cases": [_case_view(c, variants, labels, shown_keys, inputs) for c in window],
    }


def _failing(case: _Case, keys: list[str]) -> bool:
    for r in case.cells.values():
        if r.error:
            return True
        if any(s.passed is False or s.error for k, s in r.scores.items() if k in keys):
            return True
    return False


def _changed(case: _Case, keys: list[str]) -> bool:
    cells = list(case.cells.values())
    if len(cells) < 2:
        return False
    first = cells[0]
    for other in cells[1:]:
        for k in keys:
            a, b = first.scores.get(k), other.scores.get(k)
            if (a and a.value) != (b and b.value) or (a and a.passed) != (b and b.passed):
                return True
    return False


def _status_ok(case: _Case, keys: list[str], status: str | None) -> bool:
    if status == "fail":
        return _failing(case, keys)
    if status == "pass":
        return not _failing(case, keys)
    if status == "changed":
        return _changed(case, keys)
    return True


def _searchable(case: _Case, inputs: dict[str, Any]) -> str:
    """Masked texts of a case, so a search cannot find what the page would not show."""
    parts = [case.case_id]
    rec = inputs.get(case.case_id)
    if rec is not None:
        parts += [str(v) for v in rec.vars.values()] + [str(rec.expected or "")]
    for r in case.cells.values():
        parts += [r.output or "", r.error or ""]
        parts += [str(s.details or "") for s in r.scores.values()]
    return redact("\n".join(parts)) or ""


def _case_view(case: _Case, variants: list[Any], labels: dict[int, str], keys: list[str],
               inputs: dict[str, Any]) -> dict[str, Any]:
    rec = inputs.get(case.case_id)
    expected = rec.expected if rec is not None else None
    if isinstance(expected, list):
        expected = " | ".join(str(e) for e in expected)
    outputs = []
    for v in variants:
        r = case.cells.get(v.variant_id)
        if r is None:
            outputs.append({"variant": labels[v.variant_id], "missing": True})
            continue
        outputs.append({
            "variant": labels[v.variant_id], "missing": False,
            "output": redact(r.output), "error": redact(r.error),
            "latency_ms": r.latency_ms,
            "scores": [_score_view(k, s) for k in keys if (s := r.scores.get(k)) is not None],
        })
    return {
        "case_id": case.case_id,
        "failing": _failing(case, keys), "changed": _changed(case, keys),
        "vars": {k: redact(str(v)) for k, v in (rec.vars if rec else {}).items()},
        "expected": redact(None if expected is None else str(expected)),
        "outputs": outputs,
    }


def _score_view(key: str, s: Any) -> dict[str, Any]:
    """A score with its detail masked, the judge's reason and the detectors that fired."""
    details = mask_details(s.details) or {}
    reason = details.get("reason") if isinstance(details, dict) else None
    findings = details.get("findings") if isinstance(details, dict) else None
    fired = sorted({str(f.get("detector")) for f in findings or []
                    if isinstance(f, dict) and f.get("detector") and not f.get("suppressed")})
    return {"scorer": key, "value": s.value, "passed": s.passed, "error": redact(s.error),
            "reason": reason if isinstance(reason, str) else None, "detectors": fired,
            "details": details or None}


def mask_details(details: Any) -> Any:
    """A scorer's detail (the judge's reason, the detectors that fired) with texts masked."""
    if isinstance(details, str):
        return redact(details)
    if isinstance(details, dict):
        return {str(k): mask_details(v) for k, v in details.items()}
    if isinstance(details, list):
        return [mask_details(v) for v in details]
    return details
