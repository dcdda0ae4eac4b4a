"""A judge whose probabilities are flat: the parsed score stands, and the summary says how
often, names the judge's model beside its verdicts and warns about the bundled model.

The judge's logprobs are controlled through the local OpenAI-compatible test server.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path

import pytest

from llmops.eval.result import EvalResult
from llmops.reports.markdown import summary_markdown
from llmops.scorers import ScorerContext
from tests.openai_server import FakeOpenAI, Reply
from tests.test_eval_baselines import cli
from tests.test_scorers_rubric import make_project as judge_project
from tests.test_scorers_rubric import sample, score

MakeProject = Callable[..., Path]
FLAT = {"4": {"1": math.log(0.26), "2": math.log(0.14), "3": math.log(0.13),
              "4": math.log(0.31), "5": math.log(0.16)}}
VERDICT = '{"score": 4, "reason": "mentions 30 days"}'


def test_a_flat_distribution_gives_the_parsed_score(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    ctx: ScorerContext = judge_project(tmp_path, openai_server.provider_config(max_retries=1))
    openai_server.script(Reply(text=VERDICT, top_for=FLAT))
    (result,) = score(ctx, [sample()])
    # Weighting this distribution would give ~2.9: a "4" reported as a fail.
    assert result.value == pytest.approx(0.75) and result.passed
    assert result.details["method"] == "parsed"
    assert result.details["flat_distribution"]["4"] == pytest.approx(0.31, abs=0.01)
    # A peaked one is still weighted.
    peaked = {"4": {"4": math.log(0.8), "5": math.log(0.15), "3": math.log(0.05)}}
    openai_server.script(Reply(text=VERDICT + " ", top_for=peaked))
    (result,) = score(ctx, [sample(output="other answer")])
    assert result.details["method"] == "logprobs"
    assert result.value == pytest.approx((4.1 - 1) / 4, abs=0.01)


def test_the_summary_says_how_often_and_names_the_judge(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=8,
                        scorers=[{"rubric": {"criteria": "Answers the question"}}])
    # Every chat call (the answers, then the judge) gets the same verdict, flat logprobs.
    openai_server.script(*[Reply(text=VERDICT, top_for=FLAT) for _ in range(16)])
    res = cli(root, "eval", "--prompt", "qa@v1", "--json", "-")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    summary = (Path(data["report_dir"]) / "summary.md").read_text()
    judge = f"openai:{openai_server.base_url}:fake-model"
    assert (f"Judge of `rubric`: `{judge}` · 8 of 8 scores are the parsed score: the "
            "judge's probabilities were too flat to weight.") in summary
    assert "bundled local model" not in summary

    for case in data["variants"][0]["cases"]:
        case["scores"]["rubric"]["details"]["judge"] = "local:SmolLM2-135M.gguf:abc"
    local = summary_markdown(EvalResult.model_validate(data))
    assert "> ⚠️ `rubric` is judged by the bundled local model" in local
