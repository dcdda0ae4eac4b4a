"""A suite's ``gate:``: when an evaluation fails the pull request.

- ``min_mean: {scorer: floor}``: each gated variant's mean for that scorer is at least the floor;
- ``min_pass_rate``: the share of cases passing every scorer (errors count as failures);
- ``max_regression``: no scorer is measurably worse than the baseline by more than this
  (the paired comparison's verdict is ``regressed`` and the drop exceeds the limit).

A model call that failed for good is never a pass: a variant with errored cases fails
the gate whatever its scores.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from llmops.eval.stats import Comparison
    from llmops.project import GateConfig


class GateResult(BaseModel):
    """Whether the run passes, and each reason it does not."""

    passed: bool = True
    reasons: list[str] = Field(default_factory=list)
    flags: list[str] = Field(default_factory=list, description="notes that do not fail the gate")

    def fail(self, reason: str) -> None:
        self.passed = False
        self.reasons.append(reason)

    def merge(self, other: GateResult) -> None:
        """Take ``other``'s failures and flags as this gate's own."""
        for reason in other.reasons:
            self.fail(reason)
        self.flags.extend(other.flags)


class GatedVariant(BaseModel):
    """What the gate needs from one variant's summary."""

    label: str
    n_cases: int
    n_errors: int
    pass_rate: float | None
    means: dict[str, float | None]


def unknown_gate_scorers(gate: GateConfig, known_scorers: Sequence[str]) -> list[str]:
    """The ``min_mean`` names that are not among the suite's scorer keys (a typo, usually)."""
    return [name for name in gate.min_mean if name not in known_scorers]


def check_gate(
    gate: GateConfig,
    variants: Sequence[GatedVariant],
    comparisons: Sequence[Comparison] = (),
    known_scorers: Sequence[str] = (),
) -> GateResult:
    """Apply ``gate`` to the gated variants (the candidates, or the only variant).

    Args:
        gate: the suite's gate config.
        variants: summaries of the variants the gate applies to.
        comparisons: candidate vs baseline, one per scorer.
        known_scorers: the suite's scorer keys; a floor on any other name is an error.
    """
    result = GateResult()
    # evaluate() refuses such a config before any call; this guards other callers.
    for name in unknown_gate_scorers(gate, known_scorers) if known_scorers else ():
        result.fail(f"gate.min_mean names scorer {name!r}, which the suite does not run")
    for v in variants:
        if v.n_errors:
            result.fail(f"{v.label}: {v.n_errors} of {v.n_cases} cases errored")
        for name, floor in gate.min_mean.items():
            mean = v.means.get(name)
            if name not in v.means:
                continue
            if mean is None:
                result.fail(f"{v.label}: no {name} scores (floor {floor:g})")
            elif mean < floor:
                result.fail(f"{v.label}: mean {name} {mean:.3f} < min_mean {floor:g}")
        if gate.min_pass_rate is not None:
            rate = v.pass_rate
            if rate is None or rate < gate.min_pass_rate:
                shown = "n/a" if rate is None else f"{rate:.3f}"
                result.fail(f"{v.label}: pass rate {shown} < min_pass_rate {gate.min_pass_rate:g}")
    if gate.max_regression is not None and comparisons:
        result.merge(regression_gate(comparisons, gate.max_regression))
    return result


def regression_gate(
    comparisons: Iterable[Comparison], max_regression: float | None
) -> GateResult:
    """The ``max_regression`` gate.

    Fails when a scorer's verdict is ``regressed`` and its drop (``-delta``) exceeds
    ``max_regression``; an ``inconclusive`` comparison never fails but is flagged with
    the minimum detectable effect at its sample size.
    """
    result = GateResult()
    for c in comparisons:
        label = f"{c.candidate} vs {c.baseline}"
        if c.verdict == "regressed" and c.delta is not None:
            drop = -c.delta
            if max_regression is None or drop > max_regression:
                limit = "" if max_regression is None else f" > max_regression {max_regression}"
                result.fail(f"{label}: {c.describe()}; drop {drop:.3f}{limit}")
        elif c.verdict == "inconclusive":
            result.flags.append(f"{label}: {c.describe()}")
    return result
