"""``retrieval``: how well the retrieved chunks cover the case's gold sources.

The ranked list is the sources of the retrieved chunks (``sample.retrieved``), against
the case's ``contexts`` (gold source paths, relative to the project root; a gold path
also matches a source that ends with it after a ``/``, so ``refunds.md`` matches
``corpus/handbook/refunds.md``). All four metrics are computed at ``k``; ``metric``
picks the value that passes or fails against ``threshold``, the others go to details.

- recall@k: the share of gold sources found in the top k.
- precision@k: the share of the top k chunks that come from a gold source.
- mrr: 1 / rank of the first chunk from a gold source (0 when none).
- ndcg@k: binary relevance; only the first chunk of each gold source gains, so k
  chunks of one document do not look like k relevant documents.

Options:
    metric: recall (default), precision, mrr or ndcg.
    k: how many retrieved chunks count (default: all that were retrieved).
    threshold: the pass mark for the chosen metric (default 0.5).
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING, Any

from llmops.errors import EvalSetError, UserError
from llmops.scorers.base import Sample, Score, ScorerContext
from llmops.scorers.registry import scorer

if TYPE_CHECKING:
    from llmops.evalsets import Case

METRICS = ("recall", "precision", "mrr", "ndcg")


def _norm(path: str) -> str:
    path = path.replace("\\", "/").strip()
    while path.startswith("./"):
        path = path[2:]
    return path


def _matches(source: str, gold: str) -> bool:
    return source == gold or source.endswith("/" + gold)


def retrieval_metrics(
    sources: list[str], gold: list[str], k: int | None = None
) -> dict[str, float]:
    """recall@k, precision@k, MRR and nDCG@k of ranked ``sources`` against ``gold`` paths."""
    golds = list(dict.fromkeys(_norm(g) for g in gold if g.strip()))
    ranked = [_norm(s) for s in sources]
    k = len(ranked) if k is None else k
    top = ranked[:k]
    hit_gold: list[str | None] = [next((g for g in golds if _matches(s, g)), None) for s in top]
    found = {g for g in hit_gold if g is not None}
    recall = len(found) / len(golds) if golds else 0.0
    precision = sum(1 for g in hit_gold if g is not None) / k if k else 0.0
    first = next((i for i, g in enumerate(hit_gold) if g is not None), None)
    mrr = 1.0 / (first + 1) if first is not None else 0.0
    dcg, credited = 0.0, set()
    for i, g in enumerate(hit_gold):
        if g is not None and g not in credited:
            credited.add(g)
            dcg += 1.0 / math.log2(i + 2)
    ideal = sum(1.0 / math.log2(i + 2) for i in range(min(len(golds), k)))
    ndcg = dcg / ideal if ideal else 0.0
    return {"recall": recall, "precision": precision, "mrr": mrr, "ndcg": ndcg}


class Retrieval:
    def __init__(self, metric: str, k: int | None, threshold: float, ctx: ScorerContext) -> None:
        self.metric = metric
        self.k = k
        self.threshold = threshold
        self.ctx = ctx

    def validate(self, cases: list[Case]) -> None:
        for case in cases:
            if not case.contexts:
                raise EvalSetError(
                    f"case {case.id!r} has no `contexts` (gold source paths), "
                    "which the retrieval scorer compares with",
                    file=getattr(self.ctx, "evalset", None),
                    line=case.line,
                    hint="add `contexts` to the case or drop retrieval from the suite",
                )

    async def score(self, samples: list[Sample]) -> list[Score]:
        return [self._one(s) for s in samples]

    def _one(self, sample: Sample) -> Score:
        if sample.retrieved is None:
            return Score.failed("nothing was retrieved: the prompt has no `rag:` reference")
        sources = [str(hit.get("source") or "") for hit in sample.retrieved]
        values = retrieval_metrics(sources, sample.case.contexts, self.k)
        k = len(sources) if self.k is None else self.k
        details: dict[str, Any] = {f"{name}@{k}": round(v, 6) for name, v in values.items()}
        details["retrieved"] = sources[:k]
        return Score.of(values[self.metric], self.threshold, details)


@scorer("retrieval", version="1")
def retrieval(
    metric: str = "recall",
    k: int | None = None,
    threshold: float = 0.5,
    ctx: ScorerContext | None = None,
) -> Retrieval:
    """recall@k (or precision@k, MRR, nDCG@k) of retrieved sources against `contexts`."""
    if metric not in METRICS:
        raise UserError(f"scorer 'retrieval': unknown metric {metric!r}", hint=f"one of {METRICS}")
    if k is not None and (not isinstance(k, int) or k < 1):
        raise UserError(f"scorer 'retrieval': k must be a positive integer, got {k!r}")
    if not 0.0 <= float(threshold) <= 1.0:
        raise UserError(f"scorer 'retrieval': threshold must be in 0..1, got {threshold!r}")
    return Retrieval(metric, k, float(threshold), ctx or ScorerContext())
