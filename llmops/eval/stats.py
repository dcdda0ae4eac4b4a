"""Paired statistics for comparing two prompt versions on the same cases.

The comparison is paired: only case ids present (and scored) on both sides enter the
delta, and the uncertainty of the mean delta comes from a seeded percentile bootstrap
over those cases. Pass/fail outcomes get an exact McNemar test on the discordant pairs.

Verdict rule (for scores where higher is better):

- ``improved``  the 95% CI of the mean delta lies entirely above 0;
- ``regressed`` the 95% CI lies entirely below 0;
- ``inconclusive`` otherwise, or with fewer than ``min_cases`` shared cases.

When a scorer's values are themselves pass/fail (every value is 0 or 1), the bootstrap is
optimistic on the few discordant pairs that carry all the signal, so the exact McNemar
test must also reject at the same level before a verdict other than ``inconclusive`` is
given. Missing and errored cases never enter the delta; they are counted on the result.

Callers import this module lazily: it imports numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Literal

import numpy as np
from pydantic import BaseModel, Field, computed_field

from llmops._bootstrap import (
    bootstrap_means,
    mcnemar_exact,
    mean_ci,
    minimum_detectable_effect,
    paired_bootstrap,
    percentiles,
)

__all__ = [
    "Comparison",
    "Verdict",
    "bootstrap_means",
    "case_deltas",
    "compare",
    "compare_many",
    "flaky_cases",
    "mcnemar_exact",
    "mean_ci",
    "minimum_detectable_effect",
    "paired_bootstrap",
    "per_case_mean",
    "per_case_pass",
]

Verdict = Literal["improved", "regressed", "inconclusive"]
Value = float | int | bool | None
Values = Value | Sequence[Value]
Passed = bool | None | Sequence[bool | None]



class Comparison(BaseModel):
    """One scorer, candidate vs baseline, on the cases both sides share."""

    candidate: str = "candidate"
    baseline: str = "baseline"
    scorer: str
    delta: float | None = Field(description="mean(candidate - baseline) on shared cases")
    ci_low: float | None
    ci_high: float | None
    verdict: Verdict
    n_shared: int
    n_missing_candidate: int = Field(0, description="baseline cases with no candidate value")
    n_missing_baseline: int = Field(0, description="candidate cases with no baseline value")
    n_errored_candidate: int = 0
    n_errored_baseline: int = 0
    candidate_mean: float | None = None
    baseline_mean: float | None = None
    mde: float | None = Field(None, description="minimum detectable effect (80% power)")
    mcnemar_p: float | None = None
    n_improved_pairs: int | None = Field(None, description="candidate pass, baseline fail")
    n_regressed_pairs: int | None = Field(None, description="candidate fail, baseline pass")
    flaky_candidate: list[str] = Field(default_factory=list)
    flaky_baseline: list[str] = Field(default_factory=list)
    confidence: float = 0.95
    n_resamples: int = 10000
    seed: int = 0
    reason: str = ""

    @computed_field  # type: ignore[prop-decorator]
    @property
    def description(self) -> str:
        """:meth:`describe`, kept in the JSON so a reader needs no code to explain a verdict."""
        return self.describe()

    def describe(self) -> str:
        """One line for terminals and gate messages."""
        if self.delta is None or self.ci_low is None or self.ci_high is None:
            return f"{self.scorer}: {self.verdict} ({self.reason})"
        text = (
            f"{self.scorer}: {self.verdict}, delta {self.delta:+.3f} "
            f"(95% CI {self.ci_low:+.3f} to {self.ci_high:+.3f}, n={self.n_shared})"
        )
        if self.delta == 0 and self.ci_low == 0 and self.ci_high == 0:
            text += "; every shared case scored the same on both sides"
        elif self.verdict == "inconclusive" and self.reason.startswith("exact McNemar"):
            text += f"; {self.reason} ({self.pairs_text()})"
        elif self.verdict == "inconclusive" and self.mde is not None:
            text += f"; smallest detectable change at this n: {self.mde:.3f}"
        return text

    def pairs_text(self) -> str:
        """How many cases turned from fail to pass and back (pass/fail scorers)."""
        return (f"{self.n_improved_pairs or 0} cases fail → pass, "
                f"{self.n_regressed_pairs or 0} pass → fail")


# --- per-case values -----------------------------------------------------------------


def per_case_mean(value: Values) -> float | None:
    """Collapse repeats: the mean of the non-error values, None when all errored."""
    if value is None or isinstance(value, int | float):
        return None if value is None else float(value)
    kept = [float(v) for v in value if v is not None]
    return sum(kept) / len(kept) if kept else None


def per_case_pass(passed: Passed) -> bool | None:
    """Collapse repeats: passed when more than half the repeats passed; errors fail."""
    if passed is None or isinstance(passed, bool):
        return passed
    if not passed or all(p is None for p in passed):
        return None
    return sum(1 for p in passed if p) * 2 > len(passed)


def flaky_cases(passed: Mapping[str, Passed] | None) -> list[str]:
    """Case ids whose pass/fail outcome flips across repeats, sorted."""
    if not passed:
        return []
    flaky = []
    for case_id, outcome in passed.items():
        if outcome is None or isinstance(outcome, bool):
            continue
        seen = {bool(p) for p in outcome if p is not None}
        if len(seen) > 1:
            flaky.append(case_id)
    return sorted(flaky)


# --- comparisons ---------------------------------------------------------------------


def compare(
    candidate: Mapping[str, Values],
    baseline: Mapping[str, Values],
    *,
    scorer: str,
    candidate_passed: Mapping[str, Passed] | None = None,
    baseline_passed: Mapping[str, Passed] | None = None,
    candidate_name: str = "candidate",
    baseline_name: str = "baseline",
    n_resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    min_cases: int = 8,
) -> Comparison:
    """Compare one scorer's per-case values between a candidate and a baseline.

    Args:
        candidate: case id → value, or a list of values (repeats; averaged per case).
            ``None`` (or a list of only ``None``) marks an errored case.
        baseline: the same for the baseline.
        scorer: the scorer's name, carried on the result.
        candidate_passed: case id → pass/fail (or a list across repeats); enables McNemar
            and the flaky-case lists.
        baseline_passed: the same for the baseline.
        candidate_name: how the result names the candidate (e.g. ``support@v3``).
        baseline_name: how the result names the baseline.
        n_resamples: bootstrap resamples.
        seed: bootstrap seed; equal inputs and seed give equal results.
        confidence: CI level; also the McNemar level (1 - confidence).
        min_cases: fewer shared cases than this always give ``inconclusive``.

    Returns:
        A :class:`Comparison`.
    """
    return compare_many(
        {scorer: candidate},
        {scorer: baseline},
        candidate_passed={scorer: candidate_passed} if candidate_passed is not None else None,
        baseline_passed={scorer: baseline_passed} if baseline_passed is not None else None,
        candidate_name=candidate_name,
        baseline_name=baseline_name,
        n_resamples=n_resamples,
        seed=seed,
        confidence=confidence,
        min_cases=min_cases,
    )[0]


def compare_many(
    candidate: Mapping[str, Mapping[str, Values]],
    baseline: Mapping[str, Mapping[str, Values]],
    *,
    candidate_passed: Mapping[str, Mapping[str, Passed]] | None = None,
    baseline_passed: Mapping[str, Mapping[str, Passed]] | None = None,
    candidate_name: str = "candidate",
    baseline_name: str = "baseline",
    n_resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
    min_cases: int = 8,
) -> list[Comparison]:
    """:func:`compare` for several scorers at once (scorer → case id → value).

    Scorers that share the same case ids share one set of bootstrap draws, so the result
    equals calling :func:`compare` per scorer with the same seed, only faster. Scorers
    are compared in the candidate mapping's order; one missing on the baseline side
    compares against no cases.
    """
    prepared = [
        _Prepared.build(
            scorer,
            candidate[scorer],
            baseline.get(scorer, {}),
            (candidate_passed or {}).get(scorer),
            (baseline_passed or {}).get(scorer),
        )
        for scorer in candidate
    ]
    groups: dict[tuple[str, ...], list[_Prepared]] = {}
    for item in prepared:
        groups.setdefault(tuple(item.ids), []).append(item)
    intervals: dict[str, tuple[float, float]] = {}
    for ids, items in groups.items():
        if len(ids) == 0:
            continue
        matrix = np.stack([item.deltas for item in items], axis=1)
        means = bootstrap_means(matrix, n_resamples=n_resamples, seed=seed)
        for j, item in enumerate(items):
            intervals[item.scorer] = percentiles(means[:, j], confidence)
    return [
        item.result(
            intervals.get(item.scorer), min_cases=min_cases, candidate=candidate_name,
            baseline=baseline_name, n_resamples=n_resamples, seed=seed, confidence=confidence,
        )
        for item in prepared
    ]


def case_deltas(
    candidate: Mapping[str, Values], baseline: Mapping[str, Values]
) -> list[tuple[str, float]]:
    """Per-case deltas on shared, scored cases, largest absolute change first."""
    moved = []
    for case_id, value in candidate.items():
        c = per_case_mean(value)
        b = per_case_mean(baseline.get(case_id))
        if c is not None and b is not None:
            moved.append((case_id, c - b))
    moved.sort(key=lambda item: (-abs(item[1]), item[0]))
    return moved


# --- internals -----------------------------------------------------------------------


class _Prepared:
    """One scorer's values aligned on shared case ids."""

    def __init__(self, scorer: str) -> None:
        self.scorer = scorer
        self.ids: list[str] = []
        self.cand = np.empty(0)
        self.base = np.empty(0)
        self.deltas = np.empty(0)
        self.counts = {"missing_c": 0, "missing_b": 0, "errored_c": 0, "errored_b": 0}
        self.binary = False
        self.pairs: tuple[int, int] | None = None
        self.flaky_c: list[str] = []
        self.flaky_b: list[str] = []

    @classmethod
    def build(
        cls,
        scorer: str,
        candidate: Mapping[str, Values],
        baseline: Mapping[str, Values],
        candidate_passed: Mapping[str, Passed] | None,
        baseline_passed: Mapping[str, Passed] | None,
    ) -> _Prepared:
        self = cls(scorer)
        cand = {k: per_case_mean(v) for k, v in candidate.items()}
        base = {k: per_case_mean(v) for k, v in baseline.items()}
        self.counts["errored_c"] = sum(1 for v in cand.values() if v is None)
        self.counts["errored_b"] = sum(1 for v in base.values() if v is None)
        self.counts["missing_c"] = sum(1 for k in base if k not in cand)
        self.counts["missing_b"] = sum(1 for k in cand if k not in base)
        self.ids = sorted(k for k, v in cand.items() if v is not None and base.get(k) is not None)
        self.cand = np.array([cand[k] for k in self.ids], dtype=np.float64)
        self.base = np.array([base[k] for k in self.ids], dtype=np.float64)
        self.deltas = self.cand - self.base
        both = np.concatenate([self.cand, self.base])
        self.binary = bool(len(both)) and bool(np.isin(both, (0.0, 1.0)).all())
        self.flaky_c = flaky_cases(candidate_passed)
        self.flaky_b = flaky_cases(baseline_passed)
        if candidate_passed is not None and baseline_passed is not None:
            self.pairs = _discordant(self.ids, candidate_passed, baseline_passed)
        elif self.binary:
            self.pairs = (
                int(np.sum((self.cand == 1) & (self.base == 0))),
                int(np.sum((self.cand == 0) & (self.base == 1))),
            )
        return self

    def result(
        self,
        interval: tuple[float, float] | None,
        *,
        min_cases: int,
        candidate: str,
        baseline: str,
        n_resamples: int,
        seed: int,
        confidence: float,
    ) -> Comparison:
        n = len(self.ids)
        p = mcnemar_exact(*self.pairs) if self.pairs is not None else None
        delta = float(self.deltas.mean()) if n else None
        verdict, reason = _verdict(delta, interval, n, min_cases, p, self.binary, confidence)
        return Comparison(
            candidate=candidate,
            baseline=baseline,
            scorer=self.scorer,
            delta=delta,
            ci_low=interval[0] if interval else None,
            ci_high=interval[1] if interval else None,
            verdict=verdict,
            confidence=confidence,
            candidate_mean=float(self.cand.mean()) if n else None,
            baseline_mean=float(self.base.mean()) if n else None,
            n_shared=n,
            n_missing_candidate=self.counts["missing_c"],
            n_missing_baseline=self.counts["missing_b"],
            n_errored_candidate=self.counts["errored_c"],
            n_errored_baseline=self.counts["errored_b"],
            mcnemar_p=p,
            n_improved_pairs=self.pairs[0] if self.pairs else None,
            n_regressed_pairs=self.pairs[1] if self.pairs else None,
            mde=minimum_detectable_effect(self.deltas, self.cand, self.base, confidence=confidence),
            flaky_candidate=self.flaky_c,
            flaky_baseline=self.flaky_b,
            n_resamples=n_resamples,
            seed=seed,
            reason=reason,
        )


def _verdict(
    delta: float | None,
    interval: tuple[float, float] | None,
    n: int,
    min_cases: int,
    mcnemar_p: float | None,
    binary: bool,
    confidence: float,
) -> tuple[Verdict, str]:
    if delta is None or interval is None:
        return "inconclusive", "no shared scored cases"
    if n < min_cases:
        return "inconclusive", f"{n} shared cases, fewer than the {min_cases} needed"
    low, high = interval
    if low <= 0.0 <= high:
        return "inconclusive", "the confidence interval contains 0"
    alpha = 1.0 - confidence
    if binary and mcnemar_p is not None and mcnemar_p >= alpha:
        return "inconclusive", f"exact McNemar p={mcnemar_p:.3g} is not below {alpha:.3g}"
    return ("improved" if low > 0.0 else "regressed"), "the confidence interval excludes 0"


def _discordant(
    ids: list[str],
    candidate_passed: Mapping[str, Passed],
    baseline_passed: Mapping[str, Passed],
) -> tuple[int, int]:
    improved = regressed = 0
    for case_id in ids:
        c = per_case_pass(candidate_passed.get(case_id))
        b = per_case_pass(baseline_passed.get(case_id))
        if c is None or b is None:
            continue
        if c and not b:
            improved += 1
        elif b and not c:
            regressed += 1
    return improved, regressed
