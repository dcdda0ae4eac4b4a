"""Paired bootstrap, McNemar and verdicts on cases whose answer is known."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest

from llmops.eval.gate import regression_gate
from llmops.eval.stats import (
    Comparison,
    case_deltas,
    compare,
    compare_many,
    mcnemar_exact,
    mean_ci,
    paired_bootstrap,
)


def _cases(values: np.ndarray | list[float]) -> dict[str, float]:
    return {f"case-{i:03d}": float(v) for i, v in enumerate(values)}


@pytest.fixture
def baseline() -> dict[str, float]:
    rng = np.random.default_rng(7)
    return _cases(rng.uniform(0.3, 0.7, 120))


def test_clear_improvement(baseline: dict[str, float]) -> None:
    rng = np.random.default_rng(1)
    candidate = {k: v + 0.1 + rng.normal(0, 0.05) for k, v in baseline.items()}
    result = compare(candidate, baseline, scorer="similarity")
    assert result.verdict == "improved"
    assert result.delta is not None and result.ci_low is not None and result.ci_high is not None
    assert 0.08 < result.delta < 0.12
    assert 0 < result.ci_low < result.delta < result.ci_high
    assert result.n_shared == 120


def test_clear_regression(baseline: dict[str, float]) -> None:
    rng = np.random.default_rng(2)
    candidate = {k: v - 0.08 + rng.normal(0, 0.05) for k, v in baseline.items()}
    result = compare(candidate, baseline, scorer="similarity")
    assert result.verdict == "regressed"
    assert result.ci_high is not None and result.ci_high < 0


def test_pure_noise_is_inconclusive(baseline: dict[str, float]) -> None:
    # Symmetric noise: every +e has a matching -e, so the true and observed mean delta are 0.
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 0.1, len(baseline) // 2)
    signed = np.concatenate([noise, -noise])
    candidate = {k: v + e for (k, v), e in zip(baseline.items(), signed, strict=True)}
    result = compare(candidate, baseline, scorer="similarity")
    assert result.verdict == "inconclusive"
    assert result.delta == pytest.approx(0.0, abs=1e-12)
    assert result.ci_low is not None and result.ci_high is not None
    assert result.ci_low < 0 < result.ci_high
    assert result.mde is not None and result.mde > 0
    assert "smallest detectable change" in result.describe()


def test_identical_runs_give_zero_delta_and_zero_width_ci(baseline: dict[str, float]) -> None:
    result = compare(dict(baseline), baseline, scorer="similarity")
    assert result.delta == 0.0
    assert (result.ci_low, result.ci_high) == (0.0, 0.0)
    assert result.verdict == "inconclusive"
    assert "every shared case scored the same" in result.describe()


def test_mcnemar_matches_hand_computed_table() -> None:
    # 2 cases only the candidate passes, 9 only the baseline passes: n = 11 discordant.
    # P(X <= 2 | Bin(11, 1/2)) = (1 + 11 + 55) / 2048, doubled for two sides = 134/2048.
    assert mcnemar_exact(2, 9) == pytest.approx(134 / 2048, rel=1e-12)
    assert mcnemar_exact(9, 2) == mcnemar_exact(2, 9)
    assert mcnemar_exact(0, 0) == 1.0
    assert mcnemar_exact(5, 5) == 1.0
    assert mcnemar_exact(0, 6) == pytest.approx(2 / 64)


def test_mcnemar_large_counts_match_exact_arithmetic() -> None:
    b, c = 1180, 1320  # beyond the exact-integer path
    n = b + c
    exact = Fraction(2 * sum(math.comb(n, i) for i in range(b + 1)), 2**n)
    assert mcnemar_exact(b, c) == pytest.approx(float(exact), rel=1e-9)


def test_compare_counts_pass_fail_pairs_and_uses_mcnemar() -> None:
    ids = [f"c{i}" for i in range(20)]
    base_pass = dict.fromkeys(ids, False)
    cand_pass = {k: i < 4 for i, k in enumerate(ids)}  # 4 improve, none regress
    cand = {k: float(v) for k, v in cand_pass.items()}
    base = {k: float(v) for k, v in base_pass.items()}
    result = compare(cand, base, scorer="exact", candidate_passed=cand_pass,
                     baseline_passed=base_pass)
    assert (result.n_improved_pairs, result.n_regressed_pairs) == (4, 0)
    assert result.mcnemar_p == pytest.approx(2 / 16)
    # The bootstrap CI alone excludes 0, but with 0/1 scores the exact test must agree.
    assert result.ci_low is not None and result.ci_low > 0
    assert result.verdict == "inconclusive"
    assert "McNemar" in result.reason


def test_binary_scores_get_mcnemar_without_pass_maps() -> None:
    cand = _cases([1.0] * 30 + [0.0] * 10)
    base = _cases([0.0] * 30 + [0.0] * 10)
    result = compare(cand, base, scorer="exact")
    assert (result.n_improved_pairs, result.n_regressed_pairs) == (30, 0)
    assert result.mcnemar_p is not None and result.mcnemar_p < 1e-8
    assert result.verdict == "improved"


def test_same_seed_same_result_other_seed_other_draws(baseline: dict[str, float]) -> None:
    rng = np.random.default_rng(4)
    candidate = {k: v + rng.normal(0, 0.1) for k, v in baseline.items()}
    first = compare(candidate, baseline, scorer="s", seed=11)
    again = compare(dict(reversed(candidate.items())), baseline, scorer="s", seed=11)
    other = compare(candidate, baseline, scorer="s", seed=12)
    assert first == again
    assert (first.ci_low, first.ci_high) != (other.ci_low, other.ci_high)
    assert first.delta == other.delta


def test_compare_many_equals_compare_per_scorer(baseline: dict[str, float]) -> None:
    rng = np.random.default_rng(5)
    cand = {s: {k: v + rng.normal(0.02, 0.1) for k, v in baseline.items()} for s in "abc"}
    base = {s: dict(baseline) for s in "abc"}
    together = compare_many(cand, base, seed=3)
    alone = [compare(cand[s], base[s], scorer=s, seed=3) for s in "abc"]
    assert together == alone


def test_missing_and_errored_cases_are_counted_not_dropped_silently() -> None:
    base = _cases([0.5] * 12)
    cand: dict[str, float | None] = dict(base)
    cand["case-000"] = None  # errored
    del cand["case-001"]  # missing on the candidate side
    cand["extra"] = 0.9  # missing on the baseline side
    result = compare(cand, base, scorer="s")
    assert result.n_shared == 10
    assert result.n_errored_candidate == 1
    assert result.n_missing_candidate == 1
    assert result.n_missing_baseline == 1


def test_repeats_are_averaged_per_case_and_flaky_cases_listed() -> None:
    cand = {"a": [1.0, 0.0, 1.0], "b": [0.5, 0.5], "c": [None, None]}
    base = {"a": 0.0, "b": 0.5, "c": 0.2}
    passed = {"a": [True, False, True], "b": [True, True], "c": [None, None]}
    result = compare(cand, base, scorer="s", candidate_passed=passed,
                     baseline_passed={"a": False, "b": True, "c": False}, min_cases=1)
    assert result.n_shared == 2
    assert result.candidate_mean == pytest.approx((2 / 3 + 0.5) / 2)
    assert result.flaky_candidate == ["a"]
    assert result.n_errored_candidate == 1
    assert (result.n_improved_pairs, result.n_regressed_pairs) == (1, 0)


def test_too_few_cases_or_none_shared_are_inconclusive() -> None:
    few = compare({"a": 1.0, "b": 0.9}, {"a": 0.1, "b": 0.2}, scorer="s")
    assert few.verdict == "inconclusive" and "fewer than" in few.reason
    none = compare({"a": 1.0}, {"b": 0.1}, scorer="s")
    assert none.delta is None and none.ci_low is None and none.verdict == "inconclusive"
    assert none.n_missing_candidate == 1 and none.n_missing_baseline == 1


def _comparison(verdict: str, delta: float, mde: float = 0.05) -> Comparison:
    return Comparison.model_validate({
        "candidate": "p@v2", "baseline": "p@v1", "scorer": "similarity", "delta": delta,
        "ci_low": delta - 0.01, "ci_high": delta + 0.01, "verdict": verdict,
        "n_shared": 50, "mde": mde,
    })


def test_regression_gate_fails_only_on_a_large_enough_measured_drop() -> None:
    assert not regression_gate([_comparison("regressed", -0.05)], 0.02).passed
    assert regression_gate([_comparison("regressed", -0.01)], 0.02).passed
    assert regression_gate([_comparison("improved", 0.05)], 0.02).passed
    outcome = regression_gate([_comparison("inconclusive", -0.2, mde=0.3)], 0.02)
    assert outcome.passed
    assert "0.300" in outcome.flags[0]
    failed = regression_gate([_comparison("regressed", -0.05)], 0.02)
    assert "p@v2 vs p@v1" in failed.reasons[0] and "0.050" in failed.reasons[0]


def test_case_deltas_largest_change_first() -> None:
    moved = case_deltas({"a": 0.5, "b": 0.1, "c": [1.0, 0.0]}, {"a": 0.4, "b": 0.9, "c": 0.5})
    assert [k for k, _ in moved] == ["b", "a", "c"]
    assert moved[0][1] == pytest.approx(-0.8)


def test_paired_bootstrap_and_mean_ci_cover_the_mean() -> None:
    values = np.linspace(0, 1, 101)
    mean, low, high = paired_bootstrap(values, n_resamples=2000, seed=1)
    assert mean == pytest.approx(0.5)
    assert low < 0.5 < high
    assert mean_ci([None, None]) == (None, None, None)
    assert mean_ci([0.2, 0.2, 0.2])[1:] == pytest.approx((0.2, 0.2))


def test_bootstrap_draws_do_not_depend_on_threads(monkeypatch: pytest.MonkeyPatch) -> None:
    import llmops._bootstrap as stats

    values = np.random.default_rng(9).normal(size=(3000, 2))  # several chunks
    monkeypatch.setattr(stats, "_THREADS", 1)
    one = stats.bootstrap_means(values, n_resamples=1500, seed=5)
    monkeypatch.setattr(stats, "_THREADS", 4)
    four = stats.bootstrap_means(values, n_resamples=1500, seed=5)
    assert np.array_equal(one, four)
    assert one.shape == (1500, 2)


def test_an_inconclusive_pass_fail_verdict_says_mcnemar_was_not_met() -> None:
    base = {f"c{i}": 1.0 if i < 2 else 0.0 for i in range(8)}
    cand = {f"c{i}": 1.0 if i < 6 else 0.0 for i in range(8)}
    c = compare(cand, base, scorer="max_words",
                candidate_passed={k: v == 1.0 for k, v in cand.items()},
                baseline_passed={k: v == 1.0 for k, v in base.items()})
    assert c.verdict == "inconclusive" and c.ci_low is not None and c.ci_low > 0
    assert c.describe().endswith("; exact McNemar p=0.125 is not below 0.05 "
                                 "(4 cases fail → pass, 0 pass → fail)")
