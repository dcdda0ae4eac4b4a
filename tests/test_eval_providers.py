"""`llmops eval` with each provider kind, a provider per suite, and an endpoint at its limit."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmops.cli import app
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]

APP = '''
DOCS = {"refund": "Refunds within 30 days.", "hours": "Open 9 to 5."}


def answer(messages, variables, params):
    question = variables["question"]
    if question == "question number 3":
        raise RuntimeError("the order service is down")
    hits = [k for k in DOCS if k in question]
    return {"output": question, "contexts": [
        {"text": DOCS[k], "source": f"docs/{k}.md"} for k in hits]}
'''


def run(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), *args])


def one_version() -> dict[str, Any]:
    return {"v1": {"variables": ["question"], "params": {"temperature": 0},
                   "messages": [{"role": "user", "content": "{{ question }}"}]}}


@pytest.fixture
def cleanup_modules() -> Iterator[None]:
    import sys

    yield
    for name in [m for m in sys.modules if m == "shopapp"]:
        del sys.modules[name]


def test_python_target_end_to_end(make_project: MakeProject, cleanup_modules: None) -> None:
    cases = [{"id": f"c{i}", "vars": {"question": f"question number {i}"},
              "expected": f"question number {i}"} for i in range(5)]
    cases.append({"id": "refund", "vars": {"question": "refund please"},
                  "expected": "refund please", "contexts": ["docs/refund.md"]})
    root = make_project({"kind": "python", "target": "shopapp:answer", "timeout_s": 5},
                        versions=one_version(), cases=cases,
                        scorers=[{"exact": {}}])
    (root / "shopapp.py").write_text(textwrap.dedent(APP))
    res = run(root, "eval", "qa", "--json", "-", "--format", "none")
    assert res.exit_code in (0, 1), res.output
    data = json.loads(res.stdout)
    by_id = {c["id"]: c for c in data["variants"][0]["cases"]}
    assert by_id["c0"]["output"] == "question number 0" and by_id["c0"]["error"] is None
    assert by_id["c3"]["error"] == (
        "python target shopapp:answer raised RuntimeError: the order service is down")
    assert data["variants"][0]["summary"]["n_errors"] == 1


def test_python_target_contexts_feed_the_retrieval_scorer(
    make_project: MakeProject, cleanup_modules: None
) -> None:
    cases = [{"id": "refund", "vars": {"question": "refund please"},
              "contexts": ["docs/refund.md"]},
             {"id": "hours", "vars": {"question": "when are you open?"},
              "contexts": ["docs/hours.md"]}]
    root = make_project({"kind": "python", "target": "shopapp:answer"},
                        versions=one_version(), cases=cases, scorers=[{"retrieval": {}}])
    (root / "shopapp.py").write_text(textwrap.dedent(APP))
    res = run(root, "eval", "qa", "--json", "-", "--format", "none")
    data = json.loads(res.stdout)
    scores = {c["id"]: c["scores"]["retrieval"]["value"] for c in data["variants"][0]["cases"]}
    assert scores == {"refund": 1.0, "hours": 0.0}  # the target found nothing for "hours"


def test_a_target_that_cannot_be_imported_is_exit_2(make_project: MakeProject) -> None:
    root = make_project({"kind": "python", "target": "nowhere.at_all:answer"},
                        versions=one_version())
    res = run(root, "eval", "qa")
    assert res.exit_code == 2
    assert "nowhere.at_all:answer" in res.output and "cannot be imported" in res.output
    assert not (root / ".llmops" / "results.db").exists() or "runs" not in res.output


def test_recorded_outputs_are_scored_without_a_call(make_project: MakeProject) -> None:
    cases = [{"id": "a", "vars": {"question": "q1"}, "expected": "yes", "output": "yes"},
             {"id": "b", "vars": {"question": "q2"}, "expected": "yes", "output": "no"}]
    root = make_project({"kind": "recorded"}, versions=one_version(), cases=cases)
    res = run(root, "eval", "qa", "--json", "-", "--format", "none")
    assert res.exit_code in (0, 1), res.output
    cases_out = json.loads(res.stdout)["variants"][0]["cases"]
    assert [(c["output"], c["scores"]["exact"]["passed"]) for c in cases_out] == [
        ("yes", True), ("no", False)]


def test_recorded_case_without_output_is_exit_2_naming_file_and_line(
    make_project: MakeProject,
) -> None:
    cases = [{"id": "a", "vars": {"question": "q1"}, "output": "yes"},
             {"id": "b", "vars": {"question": "q2"}}]
    root = make_project({"kind": "recorded"}, versions=one_version(), cases=cases)
    res = run(root, "eval", "qa")
    assert res.exit_code == 2
    assert "qa.jsonl:2" in res.output and "case 'b' has no `output`" in res.output


def test_a_provider_per_suite(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    cases = [{"id": "a", "vars": {"question": "q1"}, "expected": "q1", "output": "recorded"}]
    root = make_project(openai_server.provider_config(), versions=one_version(), cases=cases)
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["suites"]["recorded"] = {**config["suites"]["qa"], "provider": {"kind": "recorded"}}
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    live = json.loads(run(root, "eval", "qa", "--json", "-", "--format", "none").stdout)
    recorded = json.loads(
        run(root, "eval", "recorded", "--json", "-", "--format", "none").stdout)
    assert live["variants"][0]["cases"][0]["output"] == "q1"
    assert recorded["variants"][0]["cases"][0]["output"] == "recorded"
    assert openai_server.requests.count("/v1/chat/completions") == 1


def test_endpoint_at_its_rate_limit_loses_no_case(openai_server: FakeOpenAI,
                                                 make_project: MakeProject) -> None:
    openai_server.set_rate_limit(50, 5)
    root = make_project(openai_server.provider_config(max_concurrency=16, max_retries=0),
                        n_cases=100, versions=one_version())
    res = run(root, "eval", "qa", "--json", "-", "--format", "none", "--no-cache")
    assert res.exit_code == 0, res.output
    summary = json.loads(res.stdout)["variants"][0]["summary"]
    assert summary["n_errors"] == 0 and summary["n_cases"] == 100
    assert openai_server.requests.rate_limited > 0  # the limit was really hit


def test_429_for_ever_stops_the_run_with_exit_3_and_resume_finishes(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(
        max_concurrency=4, rate_limit={"max_wait_s": 1.0}), n_cases=20,
        versions=one_version())
    openai_server.script(*[f"question number {i}" for i in range(6)])  # six answers first
    openai_server.set_faults(rate_429=1.0, retry_after_s=0.1)
    res = run(root, "eval", "qa", "--format", "none", "--no-cache")
    assert res.exit_code == 3, res.output
    assert "answered only HTTP 429" in res.output and "rate_limit.max_wait_s" in res.output
    listed = json.loads(run(root, "runs", "list", "--json", "-").stdout)
    assert listed[0]["status"] == "interrupted" and listed[0]["n_cases_done"] >= 6
    assert (f"{listed[0]['n_cases_done']} results kept; finish with `llmops eval --resume "
            f"{listed[0]['run_id']}`") in res.output
    openai_server.set_faults()
    again = run(root, "eval", "--resume", listed[0]["run_id"], "--json", "-", "--format",
                "none", "--no-cache")
    assert again.exit_code == 0, again.output
    assert json.loads(again.stdout)["variants"][0]["summary"]["n_errors"] == 0


JUDGE_REPLY = '{"score": 5, "reason": "supported by the context"}'


def _judged_bodies(server: FakeOpenAI) -> list[str]:
    return [json.dumps(b["messages"]) for b in server.requests.bodies if "messages" in b]


def test_python_target_contexts_reach_the_judge(
    openai_server: FakeOpenAI, make_project: MakeProject, cleanup_modules: None
) -> None:
    cases = [{"id": "refund", "vars": {"question": "refund please"}}]
    root = make_project({"kind": "python", "target": "shopapp:answer"}, versions=one_version(),
                        cases=cases, scorers=[{"rubric": {"preset": "groundedness"}}])
    (root / "shopapp.py").write_text(textwrap.dedent(APP))
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["judge"] = openai_server.provider_config()
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    openai_server.script(JUDGE_REPLY)
    res = run(root, "eval", "qa", "--json", "-", "--format", "none")
    case = json.loads(res.stdout)["variants"][0]["cases"][0]
    assert case["scores"]["rubric"]["value"] > 0.9, res.output
    (judged,) = _judged_bodies(openai_server)
    assert "Refunds within 30 days." in judged  # the target's context, given to the judge


def test_a_judge_per_suite(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    # The project's judge is an endpoint that is down; the suite names a working one.
    cases = [{"id": "a", "vars": {"question": "q1"}, "output": "yes",
              "contexts": ["Yes is the recorded answer."]}]
    root = make_project({"kind": "recorded"}, versions=one_version(), cases=cases,
                        scorers=[{"rubric": {"preset": "groundedness"}}])
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["judge"] = openai_server.provider_config(base_url="http://127.0.0.1:9/v1",
                                                    max_retries=0)
    config["suites"]["judged"] = {**config["suites"]["qa"],
                                  "judge": openai_server.provider_config(model="judge-model")}
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    openai_server.script(JUDGE_REPLY)
    judged = run(root, "eval", "judged", "--json", "-", "--format", "none")
    assert judged.exit_code == 0, judged.output
    score = json.loads(judged.stdout)["variants"][0]["cases"][0]["scores"]["rubric"]
    assert score["value"] > 0.9
    (body,) = [b for b in openai_server.requests.bodies if "messages" in b]
    assert body["model"] == "judge-model"
    assert "Yes is the recorded answer." in json.dumps(body["messages"])
    unjudged = run(root, "eval", "qa", "--json", "-", "--format", "none")
    assert unjudged.exit_code == 3  # the project's judge is down: no case scored


def test_progress_shows_the_concurrency_and_the_429s(openai_server: FakeOpenAI,
                                                     make_project: MakeProject) -> None:
    openai_server.set_rate_limit(50, 5)
    root = make_project(openai_server.provider_config(max_concurrency=16),
                        n_cases=60, versions=one_version())
    res = run(root, "eval", "qa", "--format", "none", "--no-cache")
    assert res.exit_code == 0, res.output
    lines = re.findall(r"qa: (\d+)/60 done, 0 errors, 0 cached, concurrency (\d+)/16, "
                       r"(\d+) 429s", res.output)
    assert lines and lines[-1][0] == "60", res.output
    assert int(lines[-1][2]) == openai_server.requests.rate_limited > 0
    assert any(int(c) < 16 for _, c, _ in lines)  # the 429s brought the concurrency down


RESUMABLE_APP = '''
import os
import signal
from pathlib import Path

LOG = Path(__file__).with_name("calls.log")


def answer(messages, variables, params):
    with LOG.open("a") as f:
        f.write(variables["question"] + "\\n")
    calls = len(LOG.read_text().splitlines())
    if calls == 6 and os.environ.get("STOP_AFTER_SIX"):
        os.kill(os.getpid(), signal.SIGTERM)  # the CI job is cancelled
    return variables["question"] + params.get("suffix", "")
'''


def test_python_target_resumes_and_compares(make_project: MakeProject) -> None:
    import os
    import subprocess
    import sys

    llmops_cli = str(Path(sys.executable).parent / "llmops")
    versions = {"v1": one_version()["v1"],
                "v2": {**one_version()["v1"], "params": {"suffix": "!"}}}
    root = make_project({"kind": "python", "target": "resumable:answer", "max_concurrency": 1},
                        versions=versions, n_cases=10)
    (root / "resumable.py").write_text(RESUMABLE_APP)
    env = {**os.environ, "STOP_AFTER_SIX": "1"}
    first = subprocess.run([llmops_cli, "--project", str(root), "eval", "qa", "--format",
                            "none"], env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 130, first.stderr
    listed = json.loads(run(root, "runs", "list", "--json", "-").stdout)
    assert listed[0]["status"] == "interrupted"
    done = listed[0]["n_cases_done"]
    assert 0 < done < 20
    # The kill lands during the sixth call; the seventh may have started before the
    # signal was handled. Either way no call whose result was stored is made again.
    made_before = len((root / "calls.log").read_text().splitlines())
    assert made_before in (6, 7)
    again = subprocess.run([llmops_cli, "--project", str(root), "eval", "--resume",
                            listed[0]["run_id"], "--json", "-", "--format", "none"],
                           capture_output=True, text=True, timeout=120)
    assert again.returncode in (0, 1), again.stderr
    data = json.loads(again.stdout)
    calls = (root / "calls.log").read_text().splitlines()
    assert len(calls) == made_before + (20 - done)  # only the unfinished calls were repeated
    assert [v["summary"]["n_errors"] for v in data["variants"]] == [0, 0]
    (comparison,) = data["comparisons"]
    assert (comparison["scorer"], comparison["verdict"]) == ("exact", "regressed")  # v2: "!"


def test_a_hanging_target_errors_its_case_and_the_run_goes_on(
    make_project: MakeProject,
) -> None:
    app = ("import threading\n"
           "def answer(messages, variables, params):\n"
           "    if variables['question'].endswith(' 2'):\n"
           "        threading.Event().wait()\n"
           "    return variables['question']\n")
    root = make_project({"kind": "python", "target": "hangs_app:answer", "timeout_s": 1},
                        versions=one_version(), n_cases=5)
    (root / "hangs_app.py").write_text(app)
    res = run(root, "eval", "qa", "--json", "-", "--format", "none")
    cases = {c["id"]: c for c in json.loads(res.stdout)["variants"][0]["cases"]}
    assert cases["case-00002"]["error"] == (
        "python target hangs_app:answer: no answer within 1 s (timeout_s)")
    assert [cases[f"case-{i:05d}"]["output"] for i in (0, 1, 3, 4)] == [
        f"question number {i}" for i in (0, 1, 3, 4)]
