"""Eval-level behaviour of judged scorers: a dead judge, and agreement with human labels."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml
from typer.testing import CliRunner

from llmops.cli import app
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]


def _eval(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), "eval", "qa", *args])


def test_judge_endpoint_down_is_exit_3_and_cases_errored(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    rubric = {"rubric": {"criteria": "Answers the question"}}
    root = make_project(openai_server.provider_config(), n_cases=4, scorers=[rubric])
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["judge"] = openai_server.provider_config(
        base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2
    )
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    res = _eval(root, "--prompt", "qa@v1", "--json", "-")
    assert res.exit_code == 3, res.output
    out = json.loads(res.stdout)
    cases = out["variants"][0]["cases"]
    assert len(cases) == 4
    assert all(c["output"] for c in cases), "the model under test answered"
    assert all(c["scores"]["rubric"]["error"] for c in cases)
    assert not any(c["scores"]["rubric"]["passed"] for c in cases)
    assert any("could not score any case" in w for w in out["warnings"])
    summary = (root / "reports" / out["run_id"] / "summary.md").read_text()
    assert "a scorer could not score any case" in summary.splitlines()[0]


def test_agreement_with_human_labels_is_reported(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    # The fake server echoes the question, so similarity to `expected` is high where the
    # expected text is the question and low where it is unrelated; the human labels say so.
    cases = [
        {"id": "same-1", "vars": {"question": "refunds take five days"},
         "expected": "refunds take five days", "human_score": 1.0},
        {"id": "same-2", "vars": {"question": "the warranty lasts two years"},
         "expected": "the warranty lasts two years", "human_score": 0.9},
        {"id": "other-1", "vars": {"question": "the warranty lasts two years"},
         "expected": "penguins live in Antarctica", "human_score": 0.0},
        {"id": "other-2", "vars": {"question": "refunds take five days"},
         "expected": "a recipe for tomato soup", "human_score": 0.1},
    ]
    root = make_project(
        openai_server.provider_config(), cases=cases, scorers=[{"similarity": {"threshold": 0.7}}]
    )
    res = _eval(root, "--prompt", "qa@v1", "--json", "-")
    assert res.exit_code == 0, res.output
    agreement = json.loads(res.stdout)["agreement"]["qa@v1"]["similarity"]
    assert agreement["n"] == 4
    assert agreement["accuracy"] == 1.0
    assert agreement["spearman"] > 0.5


def test_terminal_output_says_why_and_shows_agreement(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    cases = [
        {"id": f"c{i}", "vars": {"question": f"question {i}"}, "expected": f"question {i}",
         "human_score": 1.0}
        for i in range(3)
    ]
    root = make_project(
        openai_server.provider_config(), cases=cases, scorers=[{"similarity": {"threshold": 0.7}}]
    )
    res = _eval(root, "--prompt", "qa@v1")
    assert res.exit_code == 0, res.output
    assert "similarity vs human labels (n=3)" in res.stdout
