"""The comparison section of summary.md: table, prompt diff, regressions, and truncation."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from llmops.eval.prompt_diff import version_diff
from llmops.prompts import PromptVersion
from llmops.reports.comparison import (
    GITHUB_COMMENT_LIMIT,
    comparison_markdown,
    regressed_cases,
)


def _case(case_id: str, value: float, output: str, error: str | None = None) -> dict[str, Any]:
    scores = {} if error else {"similarity": {"value": value, "passed": value >= 0.5}}
    return {"id": case_id, "output": None if error else output, "error": error,
            "scores": scores}


def _result(n: int, output_chars: int = 50) -> dict[str, Any]:
    base = [_case(f"case-{i:04d}", 0.9, "b" * output_chars) for i in range(n)]
    cand = [_case(f"case-{i:04d}", 0.2 if i % 2 else 0.95, "c" * output_chars) for i in range(n)]
    return {
        "variants": [
            {"prompt": "p", "version": "v1", "cases": base},
            {"prompt": "p", "version": "v2", "cases": cand},
        ],
        "comparisons": [{
            "candidate": "p@v2", "baseline": "p@v1", "scorer": "similarity", "delta": -0.3,
            "ci_low": -0.35, "ci_high": -0.25, "verdict": "regressed", "n_shared": n,
            "candidate_mean": 0.6, "baseline_mean": 0.9, "mde": 0.02,
        }],
    }


def _version(name: str, version: str, lines: int, text: str) -> PromptVersion:
    content = "\n".join(f"{text} line {i}" for i in range(lines))
    return PromptVersion(name=name, version=version, digest=version * 8, kind="prompt",
                         path=Path(f"prompts/{name}/{version}.yaml"), variables=["q"],
                         messages=[{"role": "system", "content": content},
                                   {"role": "user", "content": "{{ q }}"}])


def _balanced(md: str) -> None:
    assert md.count("<details>") == md.count("</details>")
    fences = re.findall(r"^(`{3,})", md, flags=re.M)
    assert len(fences) % 2 == 0


def test_table_diff_and_regressions_when_everything_fits() -> None:
    versions = {"p@v1": _version("p", "v1", 3, "old"), "p@v2": _version("p", "v2", 3, "new")}
    md = comparison_markdown(_result(6), versions=versions)
    assert "| p@v2 | p@v1 | similarity | 0.900 | 0.600 | -0.300 | -0.350 … -0.250 |" in md
    assert "**regressed**" in md
    assert "Prompt diff: p@v1 → p@v2" in md and "-    old line 0" in md
    assert "Cases that got worse: p@v2 vs p@v1 (3)" in md
    assert md.count("<summary><code>case-") == 3
    assert "Shortened" not in md
    _balanced(md)


def test_truncates_under_the_budget_and_says_what_it_left_out() -> None:
    versions = {"p@v1": _version("p", "v1", 3, "old"), "p@v2": _version("p", "v2", 3, "new")}
    md = comparison_markdown(_result(2000, output_chars=300), versions=versions,
                             max_chars=20_000)
    assert len(md) <= 20_000
    assert "regressed**" in md  # the table always comes first
    match = re.search(r"Left out: (\d+) of 1000 regressed cases of p@v2", md)
    assert match is not None
    shown = md.count("<summary><code>case-")
    assert shown > 0 and shown + int(match.group(1)) == 1000
    _balanced(md)


def test_default_budget_keeps_a_huge_run_under_githubs_limit() -> None:
    md = comparison_markdown(_result(5000, output_chars=2000))
    assert len(md) < GITHUB_COMMENT_LIMIT
    assert "Shortened to fit a GitHub comment" in md
    _balanced(md)


def test_a_long_prompt_diff_is_cut_at_a_line_and_closed() -> None:
    a, b = _version("p", "v1", 3000, "old"), _version("p", "v2", 3000, "new")
    md = comparison_markdown(_result(4), diffs=[version_diff(a, b)], max_chars=8_000)
    assert len(md) <= 8_000
    assert re.search(r"\.\.\. \d+ more lines not shown", md)
    assert re.search(r"Left out: \d+ lines of the prompt diff p@v2 vs p@v1", md)
    _balanced(md)


def test_outputs_with_backticks_get_a_longer_fence() -> None:
    result = _result(2)
    result["variants"][1]["cases"][1]["output"] = "```python\nrm -rf /\n```"
    md = comparison_markdown(result)
    assert "````text\n```python" in md
    _balanced(md)


def test_regressed_cases_covers_new_errors_and_pass_to_fail() -> None:
    base = [_case("a", 0.9, "x"), _case("b", 0.6, "x"), _case("c", 0.4, "x")]
    cand = [_case("a", 0.0, "", error="timeout"), _case("b", 0.4, "y"), _case("c", 0.45, "y")]
    got = regressed_cases(cand, base)
    assert [g["id"] for g in got] == ["a", "b"]
    assert got[0]["new_error"] and got[1]["drops"][0]["passed_before"] is True


def test_no_comparisons_gives_nothing_and_a_plain_list_is_accepted() -> None:
    assert comparison_markdown({"variants": [], "comparisons": []}) == ""
    md = comparison_markdown(_result(2)["comparisons"])
    assert "| p@v2 | p@v1 | similarity |" in md and "Cases that got worse" not in md


def test_a_pr_shaped_run_fits_a_comment_and_fails_on_regression(
    tmp_path: Path, openai_server: Any
) -> None:
    import json

    from llmops.eval.run import evaluate
    from tests.test_diff import write_project

    root = write_project(tmp_path, openai_server.provider_config())
    # The new version drops the "ok" every case needs: a measured regression. Long
    # questions make long (echoed) outputs, far more than one comment can hold.
    (root / "prompts" / "p" / "v3.yaml").write_text(
        "variables: [question]\nmessages:\n  - role: user\n    content: '{{ question }}'\n")
    filler = "please explain the refund policy in detail " * 40
    (root / "cases.jsonl").write_text("".join(
        json.dumps({"id": f"case-{i:03d}", "vars": {"question": f"{i} {filler}", "tone": "x"}})
        + "\n" for i in range(300)))
    (root / "prompts" / "p" / "v1.yaml").write_text(
        "variables: [question]\nmessages:\n  - role: user\n    content: 'ok {{ question }}'\n")
    result = evaluate(str(root), "s", prompts=["p@v3"], formats=("md", "html"),
                      report_dir=tmp_path / "reports")
    assert result.exit_code == 1 and not result.gate.passed
    (c,) = result.comparisons
    assert c.verdict == "regressed" and c.delta == pytest.approx(-1.0)
    summary = (tmp_path / "reports" / result.run_id / "summary.md").read_text()
    assert len(summary) < GITHUB_COMMENT_LIMIT
    assert "Shortened" not in summary  # fewer cases listed: nothing cut
    row = next(line for line in summary.splitlines() if line.startswith("| p@v3 | p@v1 |"))
    assert "**regressed**" in row  # the verdict table, whole
    listed = summary.count("<summary><code>case-")
    assert listed > 5 and f"{300 - listed} more in results.json." in summary
    _balanced(summary)
    assert (tmp_path / "reports" / result.run_id / "report.html").is_file()
