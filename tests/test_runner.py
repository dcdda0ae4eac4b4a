"""The runner and evaluate() against the fake OpenAI server through the real openai SDK."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import EvalSetError, PromptError, UserError
from llmops.eval.run import evaluate
from llmops.store.sqlite import SqliteStore
from tests.openai_server import FakeOpenAI, Reply

MakeProject = Callable[..., Path]


def single(root: Path, **kw: Any) -> Any:
    """Evaluate only qa@v1 (one variant), without reports."""
    kw.setdefault("formats", [])
    return evaluate(root, "qa", prompts=["qa@v1"], baseline="qa@v1", **kw)


def test_default_variants_are_production_and_unlocked(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=12)
    r = evaluate(root, "qa", formats=[])
    assert [(v.label, v.role) for v in r.variants] == [
        ("qa@v1", "baseline"),
        ("qa@v2", "candidate"),
    ]
    assert openai_server.requests.count("/v1/chat/completions") == 24
    base, cand = r.variants
    assert base.summary.scores["exact"].mean == 1.0 and cand.summary.scores["exact"].mean == 0.0
    [comp] = r.comparisons
    assert (comp.candidate, comp.baseline, comp.scorer, comp.verdict) == (
        "qa@v2",
        "qa@v1",
        "exact",
        "regressed",
    )
    assert comp.delta == pytest.approx(-1.0)
    assert base.cases[0].output == "question number 0"
    data = r.to_json()
    for key in ("schema_version", "run_id", "suite", "variants", "comparisons", "gate"):
        assert key in data
    v = data["variants"][0]
    assert set(v) >= {"prompt", "version", "digest", "summary", "cases"}
    assert set(v["summary"]) >= {"n_cases", "n_errors", "pass_rate", "scores"}
    assert set(v["summary"]["scores"]["exact"]) >= {"mean", "ci_low", "ci_high"}
    assert set(v["cases"][0]) >= {"id", "output", "error", "latency_ms", "scores"}
    assert set(v["cases"][0]["scores"]["exact"]) == {"value", "passed", "error", "details"}
    assert set(data["comparisons"][0]) >= {
        "candidate",
        "baseline",
        "scorer",
        "delta",
        "ci_low",
        "ci_high",
        "verdict",
    }
    assert set(data["gate"]) >= {"passed", "reasons"}


def test_max_regression_gate_fails_a_regression(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=12, gate={"max_regression": 0.05})
    r = evaluate(root, "qa", formats=[])
    assert r.exit_code == 1 and not r.gate.passed
    assert any("regressed" in reason for reason in r.gate.reasons)


def test_min_mean_and_pass_rate_gates(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    root = make_project(
        openai_server.provider_config(),
        n_cases=10,
        gate={"min_mean": {"exact": 0.9}, "min_pass_rate": 0.5},
    )
    ok = evaluate(root, "qa", prompts=["qa@v1"], formats=[])
    assert ok.exit_code == 0 and ok.gate.passed
    bad = evaluate(root, "qa", prompts=["qa@v2"], formats=[])
    assert bad.exit_code == 1
    assert any("min_mean" in x for x in bad.gate.reasons)
    assert any("min_pass_rate" in x for x in bad.gate.reasons)


def test_thirty_percent_500s_all_cases_complete(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    openai_server.set_faults(rate_500=0.3, seed=7)
    root = make_project(
        openai_server.provider_config(max_retries=10, max_concurrency=8), n_cases=40
    )
    r = single(root)
    s = r.variants[0].summary
    assert s.n_cases == 40 and s.n_errors == 0 and s.scores["exact"].mean == 1.0
    assert openai_server.requests.faults["500"] > 0
    assert (
        openai_server.requests.count("/v1/chat/completions")
        == 40 + openai_server.requests.faults["500"]
    )
    assert r.exit_code == 0


def test_errors_are_recorded_shown_and_never_pass(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(max_retries=0, max_concurrency=1), n_cases=5)
    openai_server.script(Reply.error(400, "bad request: nope"), Reply.error(400, "again"))
    r = single(root, concurrency=1)
    s = r.variants[0].summary
    assert s.n_errors == 2 and s.pass_rate == pytest.approx(3 / 5)
    errored = [c for c in r.variants[0].cases if c.error]
    assert len(errored) == 2 and "bad request: nope" in errored[0].error
    assert all(not sc.passed for c in errored for sc in c.scores.values())
    assert r.exit_code == 1 and any("2 of 5 cases errored" in x for x in r.gate.reasons)
    # the mean is over scored cases; the errors are counted, not hidden
    assert s.scores["exact"].n == 3 and s.scores["exact"].n_errors == 2


def test_every_call_failing_is_exit_3(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DEAD_KEY", "x")
    root = make_project(
        {
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "DEAD_KEY",
            "model": "m",
            "max_retries": 0,
            "timeout_s": 5,
        },
        n_cases=3,
    )
    r = single(root)
    assert r.exit_code == 3
    assert r.variants[0].summary.n_errors == 3
    assert "connection" in (r.variants[0].summary.first_error or "").lower()


def test_cache_second_run_makes_no_calls(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=20)
    first = single(root)
    assert openai_server.requests.count() == 20 and first.cache_hits == 0
    second = single(root)
    assert openai_server.requests.count() == 20
    assert second.cache_hits == 20 and second.variants[0].summary.cache_hits == 20
    assert [c.output for c in second.variants[0].cases] == [
        c.output for c in first.variants[0].cases
    ]
    single(root, no_cache=True)
    assert openai_server.requests.count() == 40


def test_repeat_makes_fresh_samples(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    root = make_project(openai_server.provider_config(), n_cases=4)
    r = single(root, repeat=3)
    assert openai_server.requests.count() == 12
    assert r.variants[0].summary.n_cases == 12
    assert sorted({c.repeat for c in r.variants[0].cases}) == [0, 1, 2]
    single(root, repeat=3)  # all cached now, the repeats included
    assert openai_server.requests.count() == 12


def test_concurrency_is_bounded_and_used(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    openai_server.set_latency(60)
    root = make_project(openai_server.provider_config(max_concurrency=64), n_cases=30)
    single(root, concurrency=5)
    assert openai_server.requests.max_in_flight == 5


def test_store_records_provenance(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    r = evaluate(root, "qa", formats=[])
    with SqliteStore(root / ".llmops" / "results.db") as store:
        run = store.run(r.run_id)
        assert run.status == "finished" and run.n_done == 6
        assert run.meta["evalset_digest"] == r.evalset["digest"]
        assert run.meta["package_version"] and run.meta["config_digest"]
        variants = store.variants(r.run_id)
        assert {v.digest for v in variants} == {v.digest for v in r.variants}
        assert variants[0].model == "fake-model" and variants[0].params == {"temperature": 0}
        row = store.db.execute("select * from scores limit 1").fetchone()
        assert row["scorer"] == "exact" and row["scorer_version"] and row["args"] == "{}"
        res = store.db.execute("select * from results limit 1").fetchone()
        assert res["prompt_tokens"] > 0 and res["latency_ms"] > 0 and len(res["case_digest"]) == 64


def test_reports_are_written(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    root = make_project(openai_server.provider_config(), n_cases=10)
    r = evaluate(root, "qa", formats=["md", "json", "junit", "html"])
    out = Path(r.report_dir or "")
    assert out == root / "reports" / r.run_id
    summary = (out / "summary.md").read_text()
    assert "qa@v1" in summary and "qa@v2" in summary and "regressed" in summary
    assert json.loads((out / "results.json").read_text())["run_id"] == r.run_id
    junit = (out / "junit.xml").read_text()
    assert junit.count("<testcase") == 20 and junit.count("<failure") == 10
    html = (out / "report.html").read_text()
    assert r.run_id in html and "qa@v2" in html


def test_bad_inputs_fail_before_any_call(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    with pytest.raises(UserError, match="unknown suite 'nope'"):
        evaluate(root, "nope")
    with pytest.raises(PromptError, match="no version or label 'v9'"):
        evaluate(root, "qa", prompts=["qa@v9"])
    with pytest.raises(PromptError, match="unknown prompt 'other'"):
        evaluate(root, "qa", prompts=["other@v1"])
    bad = make_project(
        openai_server.provider_config(),
        cases=[{"id": "a", "vars": {"question": "x"}}, {"id": "b", "vars": {"q": 1}}],
    )
    with pytest.raises(EvalSetError) as e:
        evaluate(bad, "qa")
    assert e.value.line == 2 and "'b'" in str(e.value) and "'question'" in str(e.value)
    with pytest.raises(UserError, match="unknown scorer"):
        evaluate(make_project(openai_server.provider_config(), scorers=[{"nope": {}}]), "qa")
    assert openai_server.requests.count() == 0


def test_mixed_faults_all_cases_complete(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    openai_server.set_faults(rate_429=0.1, retry_after_s=0.05, rate_malformed=0.1,
                             rate_drop=0.1, seed=3)
    root = make_project(openai_server.provider_config(max_retries=10), n_cases=40)
    r = single(root, concurrency=8)
    s = r.variants[0].summary
    assert s.n_errors == 0 and s.scores["exact"].mean == 1.0
    faults = openai_server.requests.faults
    assert faults["429"] and faults["malformed"] and faults["drop"]
