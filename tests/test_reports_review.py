"""Reports a reviewer can act on: each worse case's input, expected answer, both outputs
and scorer details in summary.md, report.html, results.json and the CSV export; a
stored run's reports rendered again with `llmops runs report`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

from tests.fixtures_eval import PROMPT_V1, PROMPT_V2
from tests.openai_server import FakeOpenAI
from tests.test_eval_baselines import cli

MakeProject = Callable[..., Path]
EMAIL = "jane.doe@example.com"


def worse_project(openai_server: FakeOpenAI, make_project: MakeProject) -> Path:
    cases = [{"id": f"case-{i}", "vars": {"question": f"question {i} from {EMAIL}"},
              "expected": f"question {i} from {EMAIL}"} for i in range(8)]
    return make_project(openai_server.provider_config(), cases=cases,
                        versions={"v1": PROMPT_V1, "v2": PROMPT_V2},
                        scorers=[{"exact": {}}, {"regex": {"pattern": "^QUESTION"}}])


def test_the_comment_shows_a_worse_case_in_full_and_masked(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = worse_project(openai_server, make_project)
    res = cli(root, "eval", "--prompt", "qa@v2", "--json", "-")
    assert res.exit_code in (0, 1), res.output
    data = json.loads(res.stdout)
    report_dir = Path(data["report_dir"])
    summary = (report_dir / "summary.md").read_text()
    assert "### Cases to review (8)" in summary
    assert "<code>case-0</code>: worse than the baseline (<code>qa@v2</code>)" in summary
    block = summary[summary.index("<code>case-0</code>: worse"):]
    block = block[: block.index("</details>")]
    assert "| input | question: question 0 from " in block
    assert "| expected | question 0 from " in block
    assert "| qa@v1 | question 0 from " in block and "exact 1.00 ✓" in block
    assert "| qa@v2 | QUESTION 0 FROM " in block and "exact 0.00 ✗" in block
    assert "regex 1.00 ✓ (match: QUESTION)" in block  # the scorer's detail
    assert EMAIL not in summary and EMAIL.upper() not in summary  # masked like outputs

    case = data["variants"][1]["cases"][0]
    assert case["vars"]["question"].startswith("question 0 from ")
    assert EMAIL not in json.dumps(data) and case["expected"] is not None
    assert case["scores"]["regex"]["details"] == {"match": "QUESTION"}
    assert json.loads((report_dir / "results.json").read_text())["variants"][1]["cases"][0][
        "vars"] == case["vars"]

    html = (report_dir / "report.html").read_text()  # HTML is a default format
    assert "<th>input</th>" in html and "<th>expected</th>" in html
    assert "(match: QUESTION)" in html and EMAIL not in html

    out = root / "export.csv"
    assert cli(root, "runs", "export", data["run_id"], "--csv", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    regex_row = next(r for r in rows if r["scorer"] == "regex" and r["version"] == "v2")
    assert json.loads(regex_row["details"]) == {"match": "QUESTION"}
    assert json.loads(regex_row["vars"])["question"].startswith("question")
    assert EMAIL not in out.read_text()


def test_runs_report_renders_a_stored_run_again(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = worse_project(openai_server, make_project)
    data = json.loads(cli(root, "eval", "--prompt", "qa@v2", "--json", "-").stdout)
    first = (Path(data["report_dir"]) / "summary.md").read_text()
    out = root / "again"
    res = cli(root, "runs", "report", data["run_id"], "--format", "md,html",
              "--report-dir", str(out))
    assert res.exit_code == 0, res.output
    again = (out / data["run_id"] / "summary.md").read_text()
    assert (out / data["run_id"] / "report.html").exists()
    assert not (out / data["run_id"] / "junit.xml").exists()
    # The same verdict table, prompt diff and cases: the same comment.
    assert again == first and "<details><summary>Prompt diff: qa@v1 → qa@v2" in again
    res = cli(root, "runs", "report", "no-such-run")
    assert res.exit_code == 2 and "no-such-run" in res.output


def test_suites_evaluated_together_share_one_comment_and_keep_their_verdicts(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    import yaml

    filler = "please explain the refund policy for this order in every detail " * 8
    cases = [{"id": f"case-{i:03d}", "vars": {"question": f"{i} {filler}"},
              "expected": f"{i} {filler}"} for i in range(120)]
    root = make_project(openai_server.provider_config(), cases=cases,
                        versions={"v1": PROMPT_V1, "v2": PROMPT_V2},
                        gate={"max_regression": 0.05})
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["suites"]["qa_again"] = dict(config["suites"]["qa"])
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    res = cli(root, "eval", "--prompt", "qa@v2", "--json", "-")
    assert res.exit_code == 1, res.output  # v2 shouts: every case regressed, in both suites
    summaries = [(Path(r["report_dir"]) / "summary.md").read_text()
                 for r in json.loads(res.stdout)]
    comment = "\n---\n\n".join(summaries)  # what the workflow posts
    assert len(comment) < 65_536
    for text in summaries:
        row = next(line for line in text.splitlines() if line.startswith("| qa@v2 | qa@v1 |"))
        assert "| exact |" in row and "**regressed**" in row  # the verdict table, whole
        assert "### Gate" in text
        assert "more in results.json" in text  # cases were trimmed
    alone = cli(root, "eval", "qa", "--prompt", "qa@v2", "--json", "-")
    text = (Path(json.loads(alone.stdout)["report_dir"]) / "summary.md").read_text()
    assert len(text) > 65_536 // 2  # one suite alone has the whole comment to itself
