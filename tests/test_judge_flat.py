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
from tests.fixtures_eval import PROMPT_V1, PROMPT_V2
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


def test_the_run_shows_judge_progress_while_scoring(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=8,
                        scorers=[{"rubric": {"criteria": "Answers the question"}}])
    openai_server.script(*[Reply(text=VERDICT) for _ in range(16)])
    res = cli(root, "eval", "--prompt", "qa@v1", "--json", "-")
    assert res.exit_code == 0, res.output
    lines = [line for line in res.stderr.splitlines() if "judged" in line]
    assert lines[0] == "qa: rubric judged 1/8 outputs"
    assert lines[-1] == "qa: rubric judged 8/8 outputs"


FLAT_LOW = {"1": {"1": math.log(0.26), "2": math.log(0.14), "3": math.log(0.13),
                  "4": math.log(0.31), "5": math.log(0.16)}}  # weighted: 2.97
FLAT_LOWER = {"1": {"1": math.log(0.31), "2": math.log(0.16), "3": math.log(0.13),
                    "4": math.log(0.26), "5": math.log(0.14)}}  # weighted: 2.76
ONE = '{"score": 1, "reason": "does not answer"}'


def test_a_judged_verdict_needs_the_same_evidence_as_any_other(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    """Two flat judges' noise (every case 0.05 lower if weighted) is no regression."""
    root = make_project(openai_server.provider_config(), n_cases=8,
                        versions={"v1": PROMPT_V1, "v2": PROMPT_V2},
                        scorers=[{"rubric": {"criteria": "Answers the question"}}])
    openai_server.script(*[Reply(text=ONE, top_for=FLAT_LOW) for _ in range(16)])
    first = json.loads(cli(root, "eval", "--prompt", "qa@v1", "--json", "-").stdout)
    openai_server.script(*[Reply(text=ONE, top_for=FLAT_LOWER) for _ in range(16)])
    res = cli(root, "eval", "--prompt", "qa@v2", "--baseline", f"run:{first['run_id']}",
              "--no-cache", "--json", "-")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    flat_seen = {json.dumps(c["scores"]["rubric"]["details"]["flat_distribution"])
                 for v in (first["variants"][0], data["variants"][-1]) for c in v["cases"]}
    assert len(flat_seen) == 2  # the two judges' distributions differed ...
    (comp,) = data["comparisons"]
    assert comp["delta"] == 0 and comp["verdict"] == "inconclusive"  # ... the verdict did not
    summary = (Path(data["report_dir"]) / "summary.md").read_text()
    judge = f"openai:{openai_server.base_url}:fake-model"
    row = next(line for line in summary.splitlines() if line.startswith("| qa@v2 |"))
    assert f"| rubric (judge: `{judge}`) |" in row and "inconclusive" in row
    html = (Path(data["report_dir"]) / "report.html").read_text()
    assert f"rubric <small class=\"detail\">(judge: {judge})</small>" in html
