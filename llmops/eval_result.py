"""The typed result of an evaluation, built from the store after a run.

Field names in :meth:`EvalResult.to_json` are a stable contract (DESIGN.md): fields may
be added, never renamed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from llmops.gates import GatedVariant, GateResult, check_gate
from llmops.store import Store
from llmops.store.summary import VariantFigures, flat, variant_figures

if TYPE_CHECKING:
    from llmops.evalsets import EvalSet
    from llmops.project import GateConfig
    from llmops.runner import Variant

SCHEMA_VERSION = 1


class ScoreSummary(BaseModel):
    """One scorer over one variant: mean with its bootstrap 95% CI."""

    mean: float | None
    ci_low: float | None
    ci_high: float | None
    n: int = 0
    n_errors: int = 0
    pass_rate: float | None = None


class VariantSummary(BaseModel):
    n_cases: int
    n_errors: int
    pass_rate: float | None
    scores: dict[str, ScoreSummary] = Field(default_factory=dict)
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    first_error: str | None = None


class CaseScore(BaseModel):
    value: float | None
    passed: bool
    error: str | None = None


class CaseResult(BaseModel):
    id: str
    repeat: int = 0
    output: str | None
    error: str | None
    latency_ms: float | None
    cached: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    scores: dict[str, CaseScore] = Field(default_factory=dict)


class VariantResult(BaseModel):
    prompt: str
    version: str
    digest: str
    role: str
    model: str | None = None
    provider: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    summary: VariantSummary
    cases: list[CaseResult] = Field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{self.prompt}@{self.version}"


class ComparisonResult(BaseModel):
    candidate: str
    baseline: str
    scorer: str
    delta: float | None
    ci_low: float | None
    ci_high: float | None
    verdict: str
    n_shared: int = 0
    candidate_mean: float | None = None
    baseline_mean: float | None = None
    mde: float | None = None
    mcnemar_p: float | None = None
    description: str = ""


class EvalResult(BaseModel):
    """What ``evaluate()`` returns and ``--json`` writes."""

    schema_version: int = SCHEMA_VERSION
    run_id: str
    suite: str
    status: str = "finished"
    started_at: str | None = None
    finished_at: str | None = None
    git_commit: str | None = None
    git_dirty: bool | None = None
    evalset: dict[str, Any] = Field(default_factory=dict)
    repeat: int = 1
    variants: list[VariantResult]
    comparisons: list[ComparisonResult] = Field(default_factory=list)
    gate: GateResult = Field(default_factory=GateResult)
    warnings: list[str] = Field(default_factory=list)
    exit_code: int = 0
    calls_made: int = 0
    cache_hits: int = 0
    report_dir: str | None = None
    timings: dict[str, float] = Field(default_factory=dict, description="seconds per phase")

    @property
    def n_results(self) -> int:
        return sum(v.summary.n_cases for v in self.variants)

    @property
    def n_errored(self) -> int:
        return sum(v.summary.n_errors for v in self.variants)

    def to_json(self) -> dict[str, Any]:
        """The machine-readable result (DESIGN.md's stable fields, plus extras)."""
        return self.model_dump(mode="json")

    def dumps(self) -> str:
        return json.dumps(self.to_json(), indent=2, ensure_ascii=False)


def _resamples(n: int, budget: int = 2_000_000) -> int:
    # The bootstrap costs n × resamples draws: 10,000 resamples on small sets, fewer (never
    # under 1,000, the usual floor for a percentile CI) on large ones.
    return max(1_000, min(10_000, budget // max(n, 1)))


def _summary(f: VariantFigures, keys: Sequence[str]) -> VariantSummary:
    from llmops.stats import mean_ci

    scores: dict[str, ScoreSummary] = {}
    for key in keys:
        values = flat(f.values[key])
        mean, low, high = mean_ci(values, n_resamples=_resamples(len(values)))
        n_pass = sum(1 for ps in f.passed[key].values() for p in ps if p)
        scores[key] = ScoreSummary(
            mean=mean, ci_low=low, ci_high=high, n=len(values), n_errors=f.score_errors[key],
            pass_rate=n_pass / f.n_cases if f.n_cases else None,
        )
    return VariantSummary(
        n_cases=f.n_cases,
        n_errors=f.n_errors,
        pass_rate=f.n_passed / f.n_cases if f.n_cases else None,
        scores=scores,
        cache_hits=f.cache_hits,
        prompt_tokens=f.prompt_tokens,
        completion_tokens=f.completion_tokens,
        latency_p50_ms=f.latency_p50_ms,
        latency_p95_ms=f.latency_p95_ms,
        first_error=f.first_error,
    )


def load_cases(store: Store, variant_id: int) -> list[CaseResult]:
    """Every case result of a variant with its scores; an errored case never passes."""
    out = []
    for r in store.results(variant_id):
        scores = {}
        for key, s in json.loads(r["scores"] or "{}").items():
            scores[key] = CaseScore(value=s["value"], passed=bool(s["passed"]), error=s["error"])
        out.append(
            CaseResult(
                id=r["case_id"], repeat=r["repeat_index"], output=r["output"], error=r["error"],
                latency_ms=r["latency_ms"], cached=bool(r["cache_hit"]),
                prompt_tokens=r["prompt_tokens"], completion_tokens=r["completion_tokens"],
                scores=scores,
            )
        )
    return out


def build_result(
    store: Store,
    run_id: str,
    evalset: EvalSet,
    variants: Sequence[Variant],
    keys: Sequence[str],
    gate: GateConfig,
    warnings: Sequence[str] = (),
) -> EvalResult:
    """Summaries, comparisons with the baseline and the gate, read back from the store."""
    figures = {v.variant_id: variant_figures(store, v.variant_id, keys) for v in variants}
    stored = {v["variant_id"]: v for v in store.variants(run_id)}
    results: list[VariantResult] = []
    for v in variants:
        f = figures[v.variant_id]
        cases = load_cases(store, v.variant_id)
        for c in cases:
            if c.error is not None:
                c.scores = {k: CaseScore(value=None, passed=False, error="no output") for k in keys}
        row = stored[v.variant_id]
        results.append(
            VariantResult(
                prompt=v.version.name, version=v.version.version, digest=v.version.digest,
                role=v.role, model=row["model"], provider=row["provider"], params=row["params"],
                summary=_summary(f, keys), cases=cases,
            )
        )
    comparisons = _compare(variants, figures, keys)
    gated = [r for r in results if r.role == "candidate"] or results
    gate_result = check_gate(
        gate,
        [
            GatedVariant(
                label=r.label, n_cases=r.summary.n_cases, n_errors=r.summary.n_errors,
                pass_rate=r.summary.pass_rate,
                means={k: s.mean for k, s in r.summary.scores.items()},
            )
            for r in gated
        ],
        comparisons[1],
        known_scorers=keys,
    )
    run = store.run(run_id)
    return EvalResult(
        run_id=run_id,
        suite=run.suite,
        status=run.status,
        started_at=run.started_at,
        finished_at=run.finished_at,
        git_commit=run.meta.get("git_commit"),
        git_dirty=None if run.meta.get("git_dirty") is None else bool(run.meta["git_dirty"]),
        evalset={"path": str(evalset.path), "digest": evalset.digest, "n_cases": len(evalset)},
        repeat=int(run.meta.get("repeat") or 1),
        variants=results,
        comparisons=comparisons[0],
        gate=gate_result,
        warnings=list(warnings),
        exit_code=0 if gate_result.passed else 1,
    )


def _compare(
    variants: Sequence[Variant], figures: dict[int, VariantFigures], keys: Sequence[str]
) -> tuple[list[ComparisonResult], list[Any]]:
    base = next((v for v in variants if v.role == "baseline"), None)
    if base is None or not keys:
        return [], []
    from llmops.stats import compare

    out: list[ComparisonResult] = []
    raw: list[Any] = []
    fb = figures[base.variant_id]
    for v in variants:
        if v is base:
            continue
        fc = figures[v.variant_id]
        for key in keys:
            c = compare(
                fc.values[key], fb.values[key], scorer=key,
                candidate_passed=fc.passed[key], baseline_passed=fb.passed[key],
                candidate_name=v.label, baseline_name=base.label,
                n_resamples=_resamples(len(fc.values[key]), 10_000_000),
            )
            raw.append(c)
            out.append(
                ComparisonResult(
                    candidate=c.candidate, baseline=c.baseline, scorer=c.scorer, delta=c.delta,
                    ci_low=c.ci_low, ci_high=c.ci_high, verdict=c.verdict, n_shared=c.n_shared,
                    candidate_mean=c.candidate_mean, baseline_mean=c.baseline_mean, mde=c.mde,
                    mcnemar_p=c.mcnemar_p, description=c.describe(),
                )
            )
    return out, raw
