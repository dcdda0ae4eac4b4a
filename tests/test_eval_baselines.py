"""`llmops eval --baseline` in every form, stored results reused, and the PR comment size.

End to end through the CLI (typer's CliRunner on the real app) and the Python API,
against the fake OpenAI server; its request log proves which calls were made. The
``git:``, ``run:`` and reuse tests run on both store backends (``store_backend``).
"""

from __future__ import annotations

import json
import os
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmops.cli import app
from llmops.eval.result import EvalResult
from llmops.eval.run import evaluate
from llmops.eval.stats import compare
from llmops.project import load_project
from llmops.reports.markdown import summary_markdown
from llmops.store import open_store
from tests.fixtures_eval import PROMPT_V1, PROMPT_V2
from tests.fixtures_postgres import StoreBackend
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]
CHAT = "/v1/chat/completions"
GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull,
}


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), *args])


def cli_json(root: Path, *args: str) -> dict[str, Any]:
    res = cli(root, *args, "--json", "-")
    assert res.exit_code in (0, 1), res.output
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout


def questions(root: Path) -> list[str]:
    lines = (root / "evalsets" / "qa.jsonl").read_text().splitlines()
    return [json.loads(line)["vars"]["question"] for line in lines]


def calls_for(server: FakeOpenAI, texts: list[str]) -> int:
    """Chat requests whose last user message is one of ``texts``."""
    return sum(server.requests.prompt_count(t) for t in texts)


def variant(data: dict[str, Any], version: str) -> dict[str, Any]:
    found: dict[str, Any] = next(v for v in data["variants"] if v["version"] == version)
    return found


# --- labels and versions ---------------------------------------------------------------


@pytest.mark.parametrize("spec", ["staging", "v2", "qa@v2", "qa@staging"])
def test_label_and_version_baselines(
    openai_server: FakeOpenAI, make_project: MakeProject, spec: str
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=8,
                        labels={"production": "v1", "staging": "v2"})
    data = cli_json(root, "eval", "qa", "--prompt", "qa@v1", "--baseline", spec,
                    "--format", "none")
    assert [(v["version"], v["role"], v["origin"]) for v in data["variants"]] == [
        ("v2", "baseline", None), ("v1", "candidate", None)]
    assert data["comparisons"][0]["baseline"] == "qa@v2"
    assert data["comparisons"][0]["verdict"] == "improved"


# --- git:REF -------------------------------------------------------------------------


@pytest.fixture
def git_project(openai_server: FakeOpenAI, make_project: MakeProject,
                store_backend: StoreBackend) -> Path:
    """A project in a git repo: v1 committed as production (and tagged), then, in the
    working tree only, a new v2 promoted to production. On each store backend."""
    root = make_project(openai_server.provider_config(), n_cases=10,
                        versions={"v1": PROMPT_V1}, gate={"max_regression": 0.05})
    (root / ".gitignore").write_text(".llmops/\nreports/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v1 in production")
    git(root, "tag", "released")
    (root / "prompts" / "qa" / "v2.yaml").write_text(yaml.safe_dump(PROMPT_V2, sort_keys=False))
    (root / "prompts" / "qa" / "labels.yaml").write_text("production: v2\n")
    return root


def test_git_baseline_is_the_prompt_as_committed(
    git_project: Path, openai_server: FakeOpenAI
) -> None:
    root = git_project
    status = git(root, "status", "--porcelain")
    res = cli(root, "eval", "qa", "--prompt", "qa@v2", "--baseline", "git:HEAD~0",
              "--json", "-")
    assert res.exit_code == 1, res.output  # v2 shouts: exact fails everywhere
    data = json.loads(res.stdout)
    base, cand = data["variants"]
    assert (base["role"], base["version"], base["origin"]) == ("baseline", "v1", "git:HEAD~0")
    assert (cand["role"], cand["version"], cand["origin"]) == ("candidate", "v2", None)
    assert base["summary"]["pass_rate"] == 1.0 and cand["summary"]["pass_rate"] == 0.0
    (comp,) = data["comparisons"]
    assert comp["baseline"] == "qa@v1 (git:HEAD~0)" and comp["candidate"] == "qa@v2"
    assert comp["verdict"] == "regressed" and comp["delta"] == pytest.approx(-1.0)
    assert git(root, "status", "--porcelain") == status  # nothing checked out or written
    texts = questions(root)
    assert calls_for(openai_server, texts) == 10  # the baseline, as committed
    assert calls_for(openai_server, [t.upper() for t in texts]) == 10

    summary = (Path(data["report_dir"]) / "summary.md").read_text()
    assert "qa@v1 (git:HEAD~0)" in summary and "Prompt diff" in summary

    # A tag, and a version named explicitly at the ref; through the API too.
    result = evaluate(root, "qa", prompts=["qa@v2"], baseline="git:released:v1", formats=[])
    assert result.variants[0].origin == "git:released"
    assert result.comparisons[0].baseline == "qa@v1 (git:released)"


def test_git_baseline_of_a_version_edited_in_the_working_tree(
    git_project: Path, openai_server: FakeOpenAI
) -> None:
    """The same name@version on both sides: the committed one is the baseline."""
    root = git_project
    edited = dict(PROMPT_V1, messages=[{"role": "user", "content": "{{ question | upper }}"}])
    (root / "prompts" / "qa" / "v1.yaml").write_text(yaml.safe_dump(edited, sort_keys=False))
    result = evaluate(root, "qa", prompts=["qa@v1"], baseline="git:HEAD",
                      formats=["md", "json", "html"])
    base, cand = result.variants
    assert base.label == "qa@v1 (git:HEAD)" and cand.label == "qa@v1"
    assert base.digest != cand.digest
    assert base.summary.pass_rate == 1.0 and cand.summary.pass_rate == 0.0
    (comp,) = result.comparisons
    assert (comp.candidate, comp.baseline, comp.verdict) == ("qa@v1", "qa@v1 (git:HEAD)",
                                                              "regressed")
    assert result.report_dir is not None
    summary = (Path(result.report_dir) / "summary.md").read_text()
    assert "Prompt diff: qa@v1 (git:HEAD) → qa@v1" in summary
    assert "question | upper" in summary
    html = (Path(result.report_dir) / "report.html").read_text()
    assert "qa@v1 (git:HEAD)" in html and "exact: qa@v1 − qa@v1 (git:HEAD) per case" in html

    # Interrupted, then resumed: the git baseline is read from the ref again.
    with open_store(load_project(root).store) as store:
        store.conn.execute("delete from results where result_id in (select result_id from"
                           " results where run_id = ? order by result_id desc limit 5)",
                           (result.run_id,))
        store.finish_run(result.run_id, "interrupted")
    before = openai_server.requests.count(CHAT)
    resumed = evaluate(root, resume=result.run_id, no_cache=True, formats=[])
    assert openai_server.requests.count(CHAT) == before + 5
    assert [v.label for v in resumed.variants] == ["qa@v1 (git:HEAD)", "qa@v1"]
    assert resumed.comparisons[0].verdict == "regressed"


def test_bad_git_and_run_baselines_exit_2_before_any_call(
    git_project: Path, openai_server: FakeOpenAI
) -> None:
    for spec, words in [
        ("git:no-such-branch", "unknown git ref"),
        ("git:HEAD:v9", "at git ref 'HEAD'"),
        ("run:no-such-run", "no run 'no-such-run'"),
    ]:
        res = cli(git_project, "eval", "qa", "--prompt", "qa@v2", "--baseline", spec)
        assert res.exit_code == 2, res.output
        assert res.stderr.startswith("error: ") and words in res.stderr, res.stderr
    assert openai_server.requests.count() == 0


# --- run:RUN_ID ----------------------------------------------------------------------


def test_run_baseline_compares_with_stored_results_without_calling_the_model(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=10)
    texts = questions(root)
    first = cli_json(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none")
    assert [v["version"] for v in first["variants"]] == ["v1"]
    assert calls_for(openai_server, texts) == 10

    res = cli(root, "eval", "qa", "--prompt", "qa@v2", "--baseline", f"run:{first['run_id']}",
              "--no-cache", "--json", "-")
    assert res.exit_code == 0, res.output  # this suite has no max_regression gate
    data = json.loads(res.stdout)
    assert calls_for(openai_server, texts) == 10  # no call for the baseline
    assert calls_for(openai_server, [t.upper() for t in texts]) == 10
    assert openai_server.requests.count(CHAT) == 20
    base, cand = data["variants"]
    assert (base["role"], base["origin"]) == ("baseline", f"run:{first['run_id']}")
    assert (cand["role"], cand["version"]) == ("candidate", "v2")
    assert [c["output"] for c in base["cases"]] == [c["output"] for c in first["variants"][0]
                                                   ["cases"]]
    (comp,) = data["comparisons"]
    assert comp["baseline"] == f"qa@v1 (run:{first['run_id']})"
    assert comp["verdict"] == "regressed" and comp["n_shared"] == 10
    # The new run holds only what it evaluated.
    with open_store(load_project(root).store) as store:
        assert store.backend == store_backend.name
        assert [v.version for v in store.variants(data["run_id"])] == ["v2"]
        assert store.run(data["run_id"]).meta["baseline"] == f"run:{first['run_id']}:v1"

    # The same version against its own stored run (say, after a model change) runs it.
    again = evaluate(root, "qa", prompts=["qa@v1"], baseline=f"run:{first['run_id']}",
                     no_cache=True, formats=[])
    assert [v.role for v in again.variants] == ["baseline", "candidate"]
    assert again.comparisons[0].delta == 0.0 and again.comparisons[0].verdict == "inconclusive"

    # A version the stored run does not have: a clear error, no call.
    calls = openai_server.requests.count()
    res = cli(root, "eval", "qa", "--prompt", "qa@v1", "--prompt", "qa@v2",
              "--baseline", f"run:{data['run_id']}:v7")
    assert res.exit_code == 2 and "has no results for qa@v7" in res.stderr
    assert openai_server.requests.count() == calls


def test_run_baseline_with_several_versions_needs_one_named(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=8)
    first = evaluate(root, "qa", formats=[])  # production v1 and the unlocked v2
    res = cli(root, "eval", "qa", "--prompt", "qa@v2", "--baseline", f"run:{first.run_id}")
    assert res.exit_code == 2 and f"run:{first.run_id}:v1" in res.stderr
    calls = openai_server.requests.count()
    result = evaluate(root, "qa", prompts=["qa@v2"], baseline=f"run:{first.run_id}:v2",
                      formats=["md"])
    assert openai_server.requests.count() == calls  # v2 is answered from the cache
    assert [v.origin for v in result.variants] == [f"run:{first.run_id}", None]
    assert result.comparisons[0].delta == 0.0
    assert result.report_dir is not None
    summary = (Path(result.report_dir) / "summary.md").read_text()
    assert f"results of run `{first.run_id}`, read from the store" in summary


# --- reuse ---------------------------------------------------------------------------


@pytest.fixture
def production_evaluated(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> tuple[Path, str]:
    """A project whose production version (qa@v1) was evaluated once, cache off; on
    each store backend."""
    root = make_project(openai_server.provider_config(), n_cases=12,
                        scorers=[{"exact": {}}, {"contains": {}}])
    res = cli(root, "eval", "qa", "--prompt", "qa@v1", "--no-cache", "--format", "none",
              "--json", "-")
    assert res.exit_code == 0, res.output
    assert openai_server.requests.count(CHAT) == 12
    return root, str(json.loads(res.stdout)["run_id"])


def test_baseline_results_are_reused_with_no_model_calls(
    production_evaluated: tuple[Path, str], openai_server: FakeOpenAI
) -> None:
    root, first_run = production_evaluated
    texts = questions(root)
    # The cache is off: only reuse can spare the baseline's calls.
    res = cli(root, "eval", "qa", "--prompt", "qa@v2", "--no-cache", "--json", "-")
    assert res.exit_code == 0, res.output  # no gate on regressions in this suite
    data = json.loads(res.stdout)
    assert calls_for(openai_server, [t.upper() for t in texts]) == 12  # v2, once per case
    assert calls_for(openai_server, texts) == 12  # v1: still only the first run's calls
    assert openai_server.requests.count(CHAT) == 24
    base = variant(data, "v1")
    assert base["role"] == "baseline" and base["reused_from"] == first_run
    assert base["summary"]["n_cases"] == 12 and base["summary"]["pass_rate"] == 1.0
    assert "results reused from run" in res.stderr
    assert data["calls_made"] == 12
    shown = cli(root, "runs", "show", data["run_id"])
    assert f"results reused from run {first_run}" in shown.stdout

    # The comparisons: every scorer at once, with the Comparison model's fields.
    assert [c["scorer"] for c in data["comparisons"]] == ["exact", "contains"]
    for c in data["comparisons"]:
        for key in ("candidate", "baseline", "scorer", "delta", "ci_low", "ci_high",
                    "verdict", "n_shared", "n_missing_candidate", "n_missing_baseline",
                    "n_errored_candidate", "n_errored_baseline", "mcnemar_p", "mde",
                    "flaky_candidate", "flaky_baseline"):
            assert key in c
        assert c["n_shared"] == 12 and c["n_missing_baseline"] == 0
    exact = data["comparisons"][0]
    one = compare(
        {c["id"]: c["scores"]["exact"]["value"] for c in variant(data, "v2")["cases"]},
        {c["id"]: c["scores"]["exact"]["value"] for c in base["cases"]},
        scorer="exact",
        candidate_passed={c["id"]: c["scores"]["exact"]["passed"]
                          for c in variant(data, "v2")["cases"]},
        baseline_passed={c["id"]: c["scores"]["exact"]["passed"] for c in base["cases"]},
    )
    assert (exact["delta"], exact["ci_low"], exact["ci_high"], exact["verdict"],
            exact["mcnemar_p"]) == (one.delta, one.ci_low, one.ci_high, one.verdict,
                                    one.mcnemar_p)

    # --no-reuse evaluates the baseline again.
    again = cli_json(root, "eval", "qa", "--prompt", "qa@v2", "--no-cache", "--no-reuse",
                     "--format", "none")
    assert variant(again, "v1")["reused_from"] is None
    assert calls_for(openai_server, texts) == 24


def test_the_api_reuses_too_and_a_run_of_the_baseline_alone_does_not(
    production_evaluated: tuple[Path, str], openai_server: FakeOpenAI
) -> None:
    root, first_run = production_evaluated
    result = evaluate(root, "qa", prompts=["qa@v2"], no_cache=True, formats=[])
    assert result.variants[0].reused_from == first_run
    assert openai_server.requests.count(CHAT) == 24
    with open_store(load_project(root).store) as store:
        reused = store.variants(result.run_id)[0]
        assert reused.reused_from == first_run
        # Scores were copied (same scorer versions and options), not recomputed.
        [row] = store.conn.query(
            "select count(*) as n from scores s join results r using (result_id)"
            " where r.variant_id = ?", (reused.variant_id,))
        assert row["n"] == 24
    # Evaluating production alone is a fresh evaluation of it (nightly checks).
    alone = evaluate(root, "qa", prompts=["qa@v1"], no_cache=True, formats=[])
    assert alone.variants[0].reused_from is None
    assert openai_server.requests.count(CHAT) == 36


@pytest.mark.parametrize(
    "change",
    ["provider params", "model", "eval set", "prompt params", "more repeats"],
)
def test_changes_that_prevent_reuse(
    production_evaluated: tuple[Path, str], openai_server: FakeOpenAI, change: str
) -> None:
    root, _ = production_evaluated
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    repeat = 1
    n_cases = 12
    if change == "provider params":
        config["provider"]["params"] = {"max_tokens": 500}
    elif change == "model":
        config["provider"]["model"] = "another-model"
    elif change == "eval set":
        with (root / "evalsets" / "qa.jsonl").open("a") as f:
            f.write(json.dumps({"id": "new", "vars": {"question": "new one"},
                                "expected": "new one"}) + "\n")
        n_cases = 13
    elif change == "prompt params":
        v1 = dict(PROMPT_V1, params={"temperature": 0.5})
        (root / "prompts" / "qa" / "v1.yaml").write_text(yaml.safe_dump(v1, sort_keys=False))
    else:
        repeat = 2
    (root / "llmops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    before = openai_server.requests.count(CHAT)
    result = evaluate(root, "qa", prompts=["qa@v2"], no_cache=True, repeat=repeat, formats=[])
    base = result.variants[0]
    assert base.role == "baseline" and base.reused_from is None
    # Both variants were called for every case and repeat.
    assert openai_server.requests.count(CHAT) - before == 2 * n_cases * repeat


def test_a_run_with_more_repeats_serves_one_with_fewer(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=6)
    first = evaluate(root, "qa", prompts=["qa@v1"], repeat=3, no_cache=True, formats=[])
    assert openai_server.requests.count(CHAT) == 18
    result = evaluate(root, "qa", prompts=["qa@v2"], repeat=2, no_cache=True, formats=[])
    base = result.variants[0]
    assert base.reused_from == first.run_id
    assert sorted({(c.id, c.repeat) for c in base.cases}) == sorted(
        {(c.id, r) for c in base.cases for r in (0, 1)})
    assert base.summary.n_cases == 12
    assert openai_server.requests.count(CHAT) == 18 + 12  # v2 only, two repeats


# --- the PR comment --------------------------------------------------------------------


def test_a_large_run_keeps_summary_md_under_githubs_limit(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    filler = " ".join(f"word{i}" for i in range(120))  # ~1,000 characters per output
    cases = [{"id": f"case-{i:05d}", "vars": {"question": f"question {i}: {filler}"},
              "expected": f"question {i}: {filler}"} for i in range(2000)]
    root = make_project(openai_server.provider_config(max_concurrency=32), cases=cases,
                        gate={"max_regression": 0.05})
    res = cli(root, "eval", "qa", "--format", "md,json", "--json", "-")
    assert res.exit_code == 1, res.output[-2000:]
    data = json.loads(res.stdout)
    assert variant(data, "v2")["summary"]["pass_rate"] == 0.0
    summary = (Path(data["report_dir"]) / "summary.md").read_text(encoding="utf-8")
    assert len(summary) <= 65_536
    assert len(summary) > 50_000  # the room is used, not wasted
    assert "| qa@v2 | qa@v1 | exact |" in summary and "**regressed**" in summary
    assert "more in results.json" in summary and "Shortened" not in summary
    assert "| input | question: question " in summary  # each case listed in full
    assert summary.count("<details>") == summary.count("</details>")

    # A smaller budget still holds: fewer failing cases listed, the rest said to be left out.
    result = EvalResult.model_validate(json.loads((Path(data["report_dir"]) / "results.json")
                                                  .read_text()))
    small = summary_markdown(result, max_chars=9_000)
    assert len(small) <= 9_000 and "| qa@v2 | qa@v1 | exact |" in small
    assert small.count("<summary><code>case-") < summary.count("<summary><code>case-")
    assert "more in results.json" in small  # fewer failing cases listed
