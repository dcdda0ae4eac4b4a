"""The retrieval scorer: recall@k, precision@k, MRR, nDCG against gold sources."""

from __future__ import annotations

import asyncio
import math

import pytest

from llmops.errors import EvalSetError, UserError
from llmops.evalsets import Case
from llmops.scorers import Sample, build_scorers, get, known
from llmops.scorers.base import ScorerContext
from llmops.scorers.retrieval import retrieval_metrics


def test_metrics_by_hand() -> None:
    sources = ["corpus/a.md", "corpus/x.md", "corpus/a.md", "corpus/b.md"]
    m = retrieval_metrics(sources, ["corpus/a.md", "corpus/b.md", "corpus/c.md"], k=4)
    assert m["recall"] == pytest.approx(2 / 3)
    assert m["precision"] == pytest.approx(3 / 4)
    assert m["mrr"] == 1.0
    ideal = 1 + 1 / math.log2(3) + 1 / math.log2(4)
    assert m["ndcg"] == pytest.approx((1 + 1 / math.log2(5)) / ideal)


def test_k_cuts_the_list_and_suffix_paths_match() -> None:
    sources = ["corpus/x.md", "corpus/handbook/refunds.md"]
    assert retrieval_metrics(sources, ["refunds.md"], k=1)["recall"] == 0.0
    m = retrieval_metrics(sources, ["./refunds.md"], k=2)
    assert m["recall"] == 1.0 and m["mrr"] == 0.5
    assert retrieval_metrics(sources, ["ds.md"], k=2)["recall"] == 0.0  # not a path suffix


def test_nothing_relevant_is_zero() -> None:
    m = retrieval_metrics(["a.md", "b.md"], ["c.md"])
    assert m == {"recall": 0.0, "precision": 0.0, "mrr": 0.0, "ndcg": 0.0}


def _sample(contexts: list[str], retrieved: list[str] | None) -> Sample:
    case = Case(id="c1", vars={"question": "q"}, contexts=contexts)
    hits = (
        None if retrieved is None else [{"text": "t", "source": s, "score": 0.5} for s in retrieved]
    )
    return Sample(case=case, output="answer", retrieved=hits)


def test_scorer_is_registered_and_scores() -> None:
    assert "retrieval" in known()
    (scorer,) = build_scorers([{"retrieval": {"k": 2, "threshold": 0.5}}], ScorerContext())
    assert scorer.name == "retrieval" and scorer.args == {"k": 2, "threshold": 0.5}
    scores = asyncio.run(
        scorer.score(
            [
                _sample(["corpus/a.md"], ["corpus/a.md", "corpus/b.md"]),
                _sample(["corpus/a.md"], ["corpus/b.md", "corpus/c.md", "corpus/a.md"]),
                _sample(["corpus/a.md"], None),
            ]
        )
    )
    assert (scores[0].value, scores[0].passed) == (1.0, True)
    assert scores[0].details["precision@2"] == 0.5 and scores[0].details["mrr@2"] == 1.0
    assert (scores[1].value, scores[1].passed) == (0.0, False)
    assert scores[2].error is not None and "rag" in scores[2].error


def test_metric_option_picks_the_value() -> None:
    scorer = get("retrieval")(metric="mrr", threshold=0.4)
    (score,) = asyncio.run(scorer.score([_sample(["b.md"], ["a.md", "b.md"])]))
    assert score.value == 0.5 and score.passed


def test_bad_options_and_cases_without_contexts() -> None:
    with pytest.raises(UserError, match="metric"):
        get("retrieval")(metric="f1")
    with pytest.raises(UserError, match="k must"):
        get("retrieval")(k=0)
    scorer = get("retrieval")()
    with pytest.raises(EvalSetError, match="contexts"):
        scorer.validate([Case(id="no-gold", vars={}, contexts=[])])
