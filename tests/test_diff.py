"""`llmops diff`: file-level differences, and paired results when both versions ran."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmops.cli import app
from llmops.errors import PromptError, UserError
from llmops.eval.prompt_diff import diff
from llmops.eval.run import evaluate
from llmops.project import load_project

V1 = """\
description: first
variables: [question]
params: {temperature: 0, max_tokens: 64}
messages:
  - role: system
    content: |
      You are a support agent.
      Be polite.
  - role: user
    content: "{{ question }}"
"""

V2 = """\
description: second
variables: [question, tone]
params: {temperature: 0.2, max_tokens: 64}
messages:
  - role: system
    content: |
      You are a support agent.
      Be brief and {{ tone }}.
  - role: user
    content: "ok {{ question }}"
"""


def write_project(root: Path, provider: dict[str, Any] | None = None, n_cases: int = 20) -> Path:
    """A project with prompt `p` (v1 production, v2) and a suite scored by `contains: ok`.

    The test server echoes the last user message, so v2 (which adds "ok") passes every
    case and v1 passes only the cases whose question already says "ok".
    """
    config: dict[str, Any] = {
        "store": ".llmops/results.db",
        "suites": {"s": {"prompt": "p", "evalset": "cases.jsonl",
                         "scorers": [{"contains": {"text": "ok"}}],
                         "gate": {"max_regression": 0.05}}},
    }
    if provider is not None:
        config["provider"] = provider
    (root / "prompts" / "p").mkdir(parents=True)
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    (root / "prompts" / "p" / "v1.yaml").write_text(V1)
    (root / "prompts" / "p" / "v2.yaml").write_text(V2)
    (root / "prompts" / "p" / "labels.yaml").write_text("production: v1\n")
    lines = [
        json.dumps({"id": f"c{i:02d}", "vars": {"question": f"q{i} ok" if i < 4 else f"q{i}",
                                                  "tone": "kind"}})
        for i in range(n_cases)
    ]
    (root / "cases.jsonl").write_text("\n".join(lines) + "\n")
    return root


def test_diff_shows_messages_params_variables_without_results(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path))
    d = diff(project, "p@v1", "p@v2")
    assert not d.same_behaviour
    assert any(line.startswith("-") and "Be polite." in line for line in d.messages)
    assert any(line.startswith("+") and "{{ tone }}" in line for line in d.messages)
    assert d.messages[0].startswith("--- p@v1") and d.messages[1].startswith("+++ p@v2")
    assert [(c.key, c.a, c.b) for c in d.params] == [("temperature", 0, 0.2)]
    assert d.variables_added == ["tone"] and d.variables_removed == []
    assert d.description is not None and d.description.b == "second"
    assert d.results is None and "no results" in d.results_note


def test_diff_of_a_version_with_itself_is_empty(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path))
    d = diff(project, "p@v1", "p@production")
    assert d.same_behaviour and not d.changed


def test_diff_reports_rag_config_changes(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    (root / "prompts" / "kb").mkdir()
    for version, top_k in (("v1", 4), ("v2", 8)):
        (root / "prompts" / "kb" / f"{version}.yaml").write_text(
            f"kind: rag\nsources: docs/*.md\ntop_k: {top_k}\nchunking: {{size: 400, overlap: 50}}\n"
        )
    (root / "prompts" / "p" / "v3.yaml").write_text(V1.replace("params:", "rag: kb@v1\nparams:"))
    (root / "prompts" / "p" / "v4.yaml").write_text(V1.replace("params:", "rag: kb@v2\nparams:"))
    project = load_project(root)
    rag_only = diff(project, "kb@v1", "kb@v2")
    assert [(c.key, c.a, c.b) for c in rag_only.rag] == [("top_k", 4, 8)]
    prompts = diff(project, "p@v3", "p@v4")
    keys = {c.key: (c.a, c.b) for c in prompts.rag}
    assert keys["rag"] == ("kb@v1", "kb@v2") and keys["rag.top_k"] == (4, 8)
    assert prompts.messages == []


def test_diff_unknown_reference_is_a_prompt_error(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path))
    with pytest.raises(PromptError, match="v9"):
        diff(project, "p@v1", "p@v9")


@pytest.fixture
def evaluated(tmp_path: Path, openai_server: Any) -> tuple[Path, str]:
    root = write_project(tmp_path, openai_server.provider_config())
    result = evaluate(str(root), "s", prompts=["p@v2"], formats=())
    return root, result.run_id


def test_diff_with_results_gives_paired_comparison_and_moved_cases(
    evaluated: tuple[Path, str],
) -> None:
    root, run_id = evaluated
    d = diff(load_project(root), "p@v1", "p@v2", top=3)
    assert d.results is not None
    assert d.results.a_run == d.results.b_run == run_id
    (c,) = d.results.comparisons
    assert c.verdict == "improved" and c.scorer == "contains"
    assert c.delta == pytest.approx(0.8) and c.n_shared == 20
    assert (c.n_improved_pairs, c.n_regressed_pairs) == (16, 0)
    assert len(d.results.moved) == 3
    moved = d.results.moved[0]
    assert moved.deltas == {"contains": 1.0}
    assert moved.b_output is not None and moved.b_output.startswith("ok ")
    assert moved.a_output is not None and "ok" not in moved.a_output


def test_diff_with_run_and_suite_filters(evaluated: tuple[Path, str]) -> None:
    root, run_id = evaluated
    project = load_project(root)
    assert diff(project, "p@v1", "p@v2", run=run_id).results is not None
    with pytest.raises(UserError, match="no run"):
        diff(project, "p@v1", "p@v2", run="nope")
    (root / "prompts" / "p" / "v5.yaml").write_text(V1.replace("first", "x").replace(
        "Be polite.", "Be very polite."))
    with pytest.raises(UserError, match="no results for digest"):
        diff(load_project(root), "p@v1", "p@v5", run=run_id)


def test_cli_diff_json_and_text(evaluated: tuple[Path, str]) -> None:
    root, _ = evaluated
    runner = CliRunner()
    out = runner.invoke(app, ["--project", str(root), "diff", "p@v1", "p@v2", "--json", "-"])
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert data["results"]["comparisons"][0]["verdict"] == "improved"
    assert data["variables_added"] == ["tone"]
    text = runner.invoke(app, ["--project", str(root), "diff", "p@v1", "p@v2"])
    assert text.exit_code == 0, text.output
    assert "improved" in text.stdout and "cases that moved most" in text.stdout
    assert "\x1b[" not in text.stdout  # no colour codes when not on a terminal
    coloured = runner.invoke(app, ["--project", str(root), "diff", "p@v1", "p@v2"],
                             env={"FORCE_COLOR": "1"})  # as on a terminal
    assert "\x1b[32m+" in coloured.stdout and "\x1b[31m-" in coloured.stdout


def test_cli_diff_lines_are_never_wrapped(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    long = "Answer in the customer's language; " * 6 + "quote [b]exactly[/b] :smile: as given."
    (root / "prompts" / "p" / "v3.yaml").write_text(V1.replace("Be polite.", long))
    expected = diff(load_project(root), "p@v1", "p@v3").messages
    assert max(len(line) for line in expected) > 200
    runner = CliRunner()
    plain = runner.invoke(app, ["--project", str(root), "diff", "p@v1", "p@v3"])
    assert plain.exit_code == 0, plain.output
    lines = plain.stdout.splitlines()
    start = lines.index(expected[0])
    assert lines[start : start + len(expected)] == expected  # `> x.diff` is a plain diff
    coloured = runner.invoke(app, ["--project", str(root), "diff", "p@v1", "p@v3"],
                             env={"FORCE_COLOR": "1", "COLUMNS": "60"})  # a narrow terminal
    shown = re.sub(r"\x1b\[[0-9;]*m", "", coloured.stdout).splitlines()
    for line in expected:
        assert line in shown


def test_cli_diff_bad_reference_exits_2(tmp_path: Path) -> None:
    root = write_project(tmp_path)
    out = CliRunner().invoke(app, ["--project", str(root), "diff", "p@v1", "nope@v1"])
    assert out.exit_code == 2
    assert "unknown prompt 'nope'" in out.output
