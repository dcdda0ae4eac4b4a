"""The typed result of an evaluation, built from the store after a run.

Field names in :meth:`EvalResult.to_json` are a stable contract (DESIGN.md): fields may
be added, never renamed.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from llmops.eval.gate import GatedVariant, GateResult, check_gate
from llmops.eval.stats import Comparison
from llmops.guard.redact import redact
from llmops.store import ResultsStore, VariantFigures, VariantRecord, flat

if TYPE_CHECKING:
    from llmops.eval.baselines import Baseline
    from llmops.eval.runner import ScorerSlot, Variant
    from llmops.evalsets import EvalSet
    from llmops.project import GateConfig

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
    details: dict[str, Any] | None = Field(
        default=None, description="the scorer's detail, masked: the judge's reason, the detectors "
        "that fired, the similarity")


class CaseResult(BaseModel):
    """One case's result as reported: ``output`` and the errors have their PII and secrets
    masked (:func:`llmops.guard.redact`); the results store keeps the raw output."""

    id: str
    repeat: int = 0
    output: str | None
    error: str | None
    latency_ms: float | None
    cached: bool = False
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    scores: dict[str, CaseScore] = Field(default_factory=dict)
    vars: dict[str, Any] | None = Field(default=None,
                                        description="the case's input variables, masked")
    expected: str | list[str] | None = Field(default=None,
                                              description="the expected answer, masked")


class VariantResult(BaseModel):
    prompt: str
    version: str
    digest: str
    role: str
    model: str | None = None
    provider: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    origin: str | None = Field(
        None, description="where a baseline came from when not the working tree: git:REF, "
        "or run:RUN_ID for results read from the store"
    )
    reused_from: str | None = Field(
        None, description="the stored run whose results were reused instead of calling the model"
    )
    summary: VariantSummary
    cases: list[CaseResult] = Field(default_factory=list)

    @property
    def label(self) -> str:
        ref = f"{self.prompt}@{self.version}"
        return f"{ref} ({self.origin})" if self.origin else ref


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
    comparisons: list[Comparison] = Field(default_factory=list)
    gate: GateResult = Field(default_factory=GateResult)
    warnings: list[str] = Field(default_factory=list)
    agreement: dict[str, dict[str, dict[str, Any]]] = Field(
        default_factory=dict,
        description="per variant and scorer: agreement with the eval set's human_score labels",
    )
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

    def verdict(self) -> dict[str, Any]:
        """What the results store keeps of the decision: the gate, the comparisons with
        the baseline and the exit code (:meth:`llmops.store.ResultsStore.record_verdict`)."""
        return {"gate": self.gate.model_dump(mode="json"),
                "comparisons": [c.model_dump(mode="json") for c in self.comparisons],
                "exit_code": self.exit_code}

    def to_pandas(self) -> Any:
        """A pandas DataFrame: one row per case and variant, one column per scorer.

        Needs the ``export`` extra (see :func:`llmops.export.frames.eval_frame`).
        """
        from llmops.export.frames import eval_frame

        return eval_frame(self)


def _resamples(n: int, budget: int = 2_000_000) -> int:
    # The bootstrap costs n × resamples draws: 10,000 resamples on small sets, fewer (never
    # under 1,000, the usual floor for a percentile CI) on large ones.
    return max(1_000, min(10_000, budget // max(n, 1)))


def _summary(f: VariantFigures, keys: Sequence[str]) -> VariantSummary:
    from llmops.eval.stats import mean_ci

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


def load_cases(store: ResultsStore, variant_id: int) -> list[CaseResult]:
    """Every case result of a variant with its scores; an errored case never passes.

    Outputs and error messages are masked (:func:`llmops.guard.redact`): the result is
    what reports, ``--json`` and ``results.json`` show. The store keeps them raw.
    """
    out = []
    inputs = store.case_inputs(variant_id)
    for r in store.results(variant_id):
        scores = {
            key: CaseScore(value=s.value, passed=bool(s.passed), error=redact(s.error),
                           details=masked(s.details) or None)
            for key, s in r.scores.items()
        }
        case = inputs.get(r.case_id)
        out.append(
            CaseResult(
                id=r.case_id, repeat=r.repeat_index, output=redact(r.output),
                error=redact(r.error), latency_ms=r.latency_ms, cached=r.cache_hit,
                prompt_tokens=r.prompt_tokens, completion_tokens=r.completion_tokens,
                scores=scores, vars=None if case is None else masked(case.vars),
                expected=None if case is None else masked(case.expected),
            )
        )
    return out


def masked(value: Any) -> Any:
    """``value`` with every string in it masked like outputs (:func:`llmops.guard.redact`)."""
    if isinstance(value, str):
        return redact(value)
    if isinstance(value, dict):
        return {k: masked(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [masked(v) for v in value]
    return value


def build_result(
    store: ResultsStore,
    run_id: str,
    evalset: EvalSet,
    variants: Sequence[Variant],
    keys: Sequence[str],
    gate: GateConfig,
    warnings: Sequence[str] = (),
    stored_baseline: Baseline | None = None,
) -> EvalResult:
    """Summaries, comparisons with the baseline and the gate, read back from the store.

    ``stored_baseline`` is a ``run:`` baseline: its variant belongs to an earlier run and
    is compared as stored, listed first with role ``baseline``.
    """
    figures = {v.variant_id: store.variant_figures(v.variant_id, keys) for v in variants}
    stored = {v.variant_id: v for v in store.variants(run_id)}
    results: list[VariantResult] = []
    base: tuple[int, str] | None = None
    if stored_baseline is not None:
        assert stored_baseline.variant_id is not None and stored_baseline.run_id is not None
        vid = stored_baseline.variant_id
        figures[vid] = store.variant_figures(vid, keys)
        row = next(v for v in store.variants(stored_baseline.run_id) if v.variant_id == vid)
        results.append(_variant_result(
            store, vid, row, figures[vid], keys, name=stored_baseline.name,
            version=stored_baseline.version, digest=stored_baseline.digest, role="baseline",
            origin=f"run:{stored_baseline.run_id}",
        ))
        base = (vid, stored_baseline.label)
    for v in variants:
        row = stored[v.variant_id]
        results.append(_variant_result(
            store, v.variant_id, row, figures[v.variant_id], keys, name=v.version.name,
            version=v.version.version, digest=v.version.digest, role=v.role, origin=v.origin,
        ))
        if base is None and v.role == "baseline":
            base = (v.variant_id, v.label)
    candidates = [(v.variant_id, v.label) for v in variants if v.role != "baseline"]
    comparisons = _compare(base, candidates, figures, keys)
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
        comparisons,
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
        comparisons=comparisons,
        gate=gate_result,
        warnings=list(warnings),
        exit_code=0 if gate_result.passed else 1,
    )


def _variant_result(
    store: ResultsStore,
    variant_id: int,
    row: VariantRecord,
    figures: VariantFigures,
    keys: Sequence[str],
    *,
    name: str,
    version: str,
    digest: str,
    role: str,
    origin: str | None,
) -> VariantResult:
    cases = load_cases(store, variant_id)
    for c in cases:
        if c.error is not None:
            c.scores = {k: CaseScore(value=None, passed=False, error="no output") for k in keys}
    return VariantResult(
        prompt=name, version=version, digest=digest, role=role, model=row.model,
        provider=row.provider, params=row.params, origin=origin,
        reused_from=row.reused_from, summary=_summary(figures, keys), cases=cases,
    )


def _compare(
    base: tuple[int, str] | None,
    candidates: Sequence[tuple[int, str]],
    figures: dict[int, VariantFigures],
    keys: Sequence[str],
) -> list[Comparison]:
    """Each candidate against the baseline, every scorer at once (shared bootstrap draws)."""
    if base is None or not keys:
        return []
    from llmops.eval.stats import compare_many

    out: list[Comparison] = []
    base_id, base_label = base
    fb = figures[base_id]
    for variant_id, label in candidates:
        fc = figures[variant_id]
        n_cases = max(len(fc.values[key]) for key in keys)
        comparisons = compare_many(
            {key: fc.values[key] for key in keys},
            {key: fb.values[key] for key in keys},
            candidate_passed={key: fc.passed[key] for key in keys},
            baseline_passed={key: fb.passed[key] for key in keys},
            candidate_name=label, baseline_name=base_label,
            n_resamples=_resamples(n_cases, 10_000_000),
        )
        out.extend(comparisons)
    return out


def unscorable(result: EvalResult, keys: Sequence[str]) -> list[tuple[str, str]]:
    """Scorers that errored on every case they were given (e.g. the judge is down), each
    with its first error message."""
    out = []
    for key in keys:
        summaries = [v.summary.scores[key] for v in result.variants if key in v.summary.scores]
        errors = sum(s.n_errors for s in summaries)
        if errors and not sum(s.n for s in summaries):
            first = next(
                (c.scores[key].error for v in result.variants for c in v.cases
                 if key in c.scores and c.scores[key].error),
                None,
            )
            out.append((key, first or "no score"))
    return out


def agreement(
    result: EvalResult, cases: Sequence[Any], slots: Sequence[ScorerSlot]
) -> dict[str, dict[str, dict[str, Any]]]:
    """How each thresholded scorer agrees with the cases' ``human_score`` labels."""
    from llmops.scorers import judge_agreement

    human = {c.id: c.human_score for c in cases if c.human_score is not None}
    if not human:
        return {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for v in result.variants:
        for slot in slots:
            threshold = getattr(slot.scorer, "threshold", None)
            if threshold is None:
                continue
            values: dict[str, list[float]] = {}
            for c in v.cases:
                score = c.scores.get(slot.key)
                if score is not None and score.value is not None:
                    values.setdefault(c.id, []).append(score.value)
            means = {k: sum(xs) / len(xs) for k, xs in values.items()}
            out.setdefault(v.label, {})[slot.key] = judge_agreement(means, human, threshold)
    return out
