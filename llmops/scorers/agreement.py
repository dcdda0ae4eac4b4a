"""How far a judge can be trusted: its agreement with human labels on the same cases."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any


def _ranks(values: Sequence[float]) -> list[float]:
    """Average ranks (ties share the mean of their positions), 1-based."""
    order = sorted(range(len(values)), key=lambda i: values[i])
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def spearman(a: Sequence[float], b: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson on average ranks); None if undefined."""
    if len(a) != len(b) or len(a) < 2:
        return None
    ra, rb = _ranks(a), _ranks(b)
    ma, mb = sum(ra) / len(ra), sum(rb) / len(rb)
    cov = sum((x - ma) * (y - mb) for x, y in zip(ra, rb, strict=True))
    va = sum((x - ma) ** 2 for x in ra)
    vb = sum((y - mb) ** 2 for y in rb)
    if va == 0 or vb == 0:
        return None
    return cov / math.sqrt(va * vb)


def judge_agreement(
    scores: Mapping[str, float | None] | Sequence[float | None],
    human_scores: Mapping[str, float | None] | Sequence[float | None],
    threshold: float,
    human_threshold: float | None = None,
) -> dict[str, Any]:
    """Agreement of a scorer's values with human labels (``human_score`` in the eval set).

    Args:
        scores: the scorer's 0-1 values, by case id (or a list aligned with ``human_scores``).
        human_scores: the human labels, same keys (or order). Cases missing on either side,
            errored (None) or NaN are left out.
        threshold: the scorer's pass threshold.
        human_threshold: where a human label counts as a pass (default: ``threshold``).

    Returns:
        ``{"n", "spearman", "accuracy", "threshold"}``; ``spearman`` is None with fewer
        than two labelled cases or no variation, ``accuracy`` is the share of cases where
        judge and human agree on pass/fail, None when ``n`` is 0.
    """
    if isinstance(scores, Mapping) and isinstance(human_scores, Mapping):
        keys = [k for k in scores if k in human_scores]
        pairs = [(scores[k], human_scores[k]) for k in keys]
    elif isinstance(scores, Mapping) or isinstance(human_scores, Mapping):
        raise TypeError("give both as mappings by case id, or both as aligned sequences")
    else:
        if len(scores) != len(human_scores):
            raise ValueError("scores and human_scores differ in length")
        pairs = list(zip(scores, human_scores, strict=True))
    clean = [
        (float(s), float(h))
        for s, h in pairs
        if s is not None and h is not None and not math.isnan(s) and not math.isnan(h)
    ]
    cut = threshold if human_threshold is None else human_threshold
    judge = [s for s, _ in clean]
    human = [h for _, h in clean]
    agree = sum((s >= threshold) == (h >= cut) for s, h in clean)
    rho = spearman(judge, human)
    return {
        "n": len(clean),
        "spearman": None if rho is None else round(rho, 4),
        "accuracy": round(agree / len(clean), 4) if clean else None,
        "threshold": threshold,
    }
