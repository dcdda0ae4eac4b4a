"""`llmops eval` checks every selected suite before any model call and writes nothing on exit 2.

Each test here failed before the preflight step was added to :mod:`llmops.eval.run`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmops.cli import app
from llmops.errors import ConfigError, PromptError, UserError
from llmops.eval.run import evaluate
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]


def run(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), *args])


def files(root: Path) -> set[str]:
    """Every file and directory under the project, relative to it."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def edit_config(root: Path, change: Callable[[dict[str, Any]], None]) -> None:
    path = root / "llmops.yaml"
    config = yaml.safe_load(path.read_text())
    change(config)
    path.write_text(yaml.safe_dump(config, sort_keys=False))


def line_of(root: Path, text: str) -> int:
    """The 1-based line of llmops.yaml holding ``text`` (exactly once)."""
    lines = (root / "llmops.yaml").read_text().splitlines()
    found = [i + 1 for i, line in enumerate(lines) if text in line]
    assert len(found) == 1, (text, found)
    return found[0]


def add_suite(root: Path, name: str, **fields: Any) -> None:
    """A second suite on the same prompt and eval set as `qa`, with ``fields`` overriding."""

    def change(config: dict[str, Any]) -> None:
        suite = {"prompt": "qa", "evalset": "evalsets/qa.jsonl", "scorers": [{"exact": {}}]}
        suite.update(fields)
        config["suites"][name] = suite

    edit_config(root, change)


def assert_one_error_line(res: Any, *words: str) -> None:
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    for w in words:
        assert w in res.stderr, (w, res.stderr)


# --- 1. every suite is checked before the first one runs --------------------------------


def _write_cases(root: Path, name: str, cases: list[dict[str, Any]]) -> None:
    with (root / "evalsets" / name).open("w") as f:
        for c in cases:
            f.write(json.dumps(c) + "\n")


LATER_SUITE_ERRORS: list[tuple[str, dict[str, Any], list[str]]] = [
    (
        "unknown guardrails check",
        {"scorers": [{"guardrails": {"checks": ["pii", "secretz"]}}]},
        ["suites.support.scorers[0]", "secretz"],
    ),
    (
        "gate names a scorer the suite does not run",
        {"gate": {"min_mean": {"exactt": 0.5}}},
        ["suites.support.gate.min_mean.exactt", "did you mean 'exact'"],
    ),
    (
        "unknown prompt",
        {"prompt": "nosuch"},
        ["suites.support.prompt", "unknown prompt 'nosuch'"],
    ),
    (
        "eval set lacks a variable",
        {"evalset": "evalsets/other.jsonl"},
        ["other.jsonl:1", "lacks variable 'question'"],
    ),
    (
        "a scorer rejects the cases",
        {"evalset": "evalsets/noexpected.jsonl", "scorers": [{"similarity": {}}]},
        ["noexpected.jsonl", "expected"],
    ),
    ("missing eval set", {"evalset": "evalsets/missing.jsonl"}, ["missing.jsonl"]),
]


@pytest.mark.parametrize(
    ("label", "fields", "words"), LATER_SUITE_ERRORS, ids=[e[0] for e in LATER_SUITE_ERRORS]
)
def test_an_error_in_a_later_suite_stops_before_any_call(
    openai_server: FakeOpenAI,
    make_project: MakeProject,
    label: str,
    fields: dict[str, Any],
    words: list[str],
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    _write_cases(root, "other.jsonl", [{"id": "a", "vars": {"query": "x"}}])
    _write_cases(root, "noexpected.jsonl", [{"id": "a", "vars": {"question": "x"}}])
    add_suite(root, "support", **fields)  # runs after `qa` (suites run in name order)
    before = files(root)
    res = run(root, "eval")
    assert_one_error_line(res, *words)
    assert openai_server.requests.count() == 0, "suite qa was run before the check"
    assert files(root) == before


def test_every_suite_runs_when_all_are_valid(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    add_suite(root, "support")
    res = run(root, "eval", "--prompt", "qa@v1", "--format", "none", "--json", "-")
    assert res.exit_code == 0, res.output
    assert [r["suite"] for r in json.loads(res.stdout)] == ["qa", "support"]


# --- 2. a typo in a gate's scorer name --------------------------------------------------


def test_gate_scorer_typo_is_exit_2_before_any_call(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(
        openai_server.provider_config(),
        n_cases=3,
        scorers=[{"similarity": {"threshold": 0.7}}],
        gate={"min_mean": {"simlarity": 0.7}},
    )
    before = files(root)
    res = run(root, "eval", "qa")
    line = line_of(root, "simlarity:")
    assert_one_error_line(
        res, f"llmops.yaml:{line}:", "suites.qa.gate.min_mean.simlarity",
        "did you mean 'similarity'",
    )
    assert openai_server.requests.count() == 0
    assert files(root) == before


# --- 3. config errors name llmops.yaml and the line -------------------------------------


@pytest.mark.parametrize(
    ("entry", "words"),
    [
        ({"nosuch": {}}, ["unknown scorer 'nosuch'"]),
        ({"similarity": {"threshold": 2}}, ["threshold 2 is outside 0..1"]),
        ({"guardrails": {"checks": ["pii", "secretz"]}}, ["secretz"]),
    ],
    ids=["unknown scorer", "bad option", "unknown guardrails check"],
)
def test_scorer_build_errors_name_the_file_line_and_field(
    openai_server: FakeOpenAI, make_project: MakeProject, entry: dict[str, Any], words: list[str]
) -> None:
    root = make_project(openai_server.provider_config(), scorers=[{"exact": {}}, entry])
    line = line_of(root, f"- {next(iter(entry))}:")
    with pytest.raises(UserError) as caught:
        evaluate(root, "qa", formats=[])
    exc = caught.value
    assert type(exc) is UserError  # the class the scorer raised
    assert exc.file == str(root / "llmops.yaml") and exc.line == line
    assert exc.field == "suites.qa.scorers[1]"
    assert all(w in exc.message for w in words), exc.message
    res = run(root, "eval", "qa")
    assert_one_error_line(res, f"llmops.yaml:{line}: suites.qa.scorers[1]: ", *words)
    assert openai_server.requests.count() == 0


def test_unknown_suite_prompt_names_the_file_line_and_field(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config())
    edit_config(root, lambda c: c["suites"]["qa"].update(prompt="qaa"))
    with pytest.raises(PromptError) as caught:
        evaluate(root, "qa", formats=[])
    exc = caught.value
    assert exc.file == str(root / "llmops.yaml") and exc.line == line_of(root, "prompt: qaa")
    assert exc.field == "suites.qa.prompt" and "did you mean 'qa'" in str(exc)


def test_missing_api_key_names_the_config_key(make_project: MakeProject) -> None:
    os.environ.pop("LLMOPS_NO_SUCH_KEY", None)
    provider = {"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                "api_key_env": "LLMOPS_NO_SUCH_KEY", "model": "m"}
    root = make_project(provider, scorers=[{"similarity": {}}])
    with pytest.raises(ConfigError) as caught:
        evaluate(root, "qa", formats=[])
    exc = caught.value
    assert exc.file == str(root / "llmops.yaml") and exc.line == line_of(root, "api_key_env:")
    assert exc.field == "provider.api_key_env" and "LLMOPS_NO_SUCH_KEY" in exc.message


def test_missing_judge_key_is_checked_before_any_call(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    os.environ.pop("LLMOPS_NO_SUCH_KEY", None)
    root = make_project(openai_server.provider_config(), scorers=[{"rubric": {"criteria": "ok"}}])
    edit_config(root, lambda c: c.update(
        judge=openai_server.provider_config(api_key_env="LLMOPS_NO_SUCH_KEY")
    ))
    before = files(root)
    res = run(root, "eval", "qa")
    assert_one_error_line(res, "llmops.yaml:", "judge.api_key_env", "LLMOPS_NO_SUCH_KEY")
    assert openai_server.requests.count() == 0
    assert files(root) == before


# --- 4. nothing is written when the command exits 2 -------------------------------------


def _duplicate_ids(root: Path) -> list[str]:
    _write_cases(root, "qa.jsonl", [{"id": "a", "vars": {"question": "x"}},
                                    {"id": "a", "vars": {"question": "y"}}])
    return ["eval", "qa"]


def _malformed_json(root: Path) -> list[str]:
    (root / "evalsets" / "qa.jsonl").write_text('{"id": "a", "vars": {"question": "x"}}\n{bad\n')
    return ["eval", "qa"]


def _missing_variable(root: Path) -> list[str]:
    _write_cases(root, "qa.jsonl", [{"id": "a", "vars": {"query": "x"}}])
    return ["eval", "qa"]


def _unknown_scorer(root: Path) -> list[str]:
    edit_config(root, lambda c: c["suites"]["qa"].update(scorers=[{"nosuch": {}}]))
    return ["eval", "qa"]


def _missing_evalset(root: Path) -> list[str]:
    (root / "evalsets" / "qa.jsonl").unlink()
    return ["eval", "qa"]


def _empty_evalset(root: Path) -> list[str]:
    (root / "evalsets" / "qa.jsonl").write_text("")
    return ["eval", "qa"]


def _bad_csv(root: Path) -> list[str]:
    (root / "evalsets" / "qa.csv").write_text("id,question\na,one\nb,two,three\n")
    edit_config(root, lambda c: c["suites"]["qa"].update(evalset="evalsets/qa.csv"))
    return ["eval", "qa"]


def _missing_api_key(root: Path) -> list[str]:
    os.environ.pop("LLMOPS_NO_SUCH_KEY", None)
    edit_config(root, lambda c: (c["provider"].update(api_key_env="LLMOPS_NO_SUCH_KEY"),
                                 c["suites"]["qa"].update(scorers=[{"similarity": {}}])))
    return ["eval", "qa"]


def _unknown_run_baseline(root: Path) -> list[str]:
    return ["eval", "qa", "--baseline", "run:20260101-000000-abcdef"]


def _unknown_resume(root: Path) -> list[str]:
    return ["eval", "--resume", "20260101-000000-abcdef"]


NOTHING_WRITTEN: list[tuple[str, Callable[[Path], list[str]] | list[str], str]] = [
    ("unknown --prompt ref", ["eval", "qa", "--prompt", "qa@v7"], "no version or label 'v7'"),
    ("duplicate ids", _duplicate_ids, "duplicate case id 'a'"),
    ("malformed JSON", _malformed_json, "qa.jsonl:2"),
    ("missing variable", _missing_variable, "lacks variable 'question'"),
    ("unknown scorer", _unknown_scorer, "unknown scorer 'nosuch'"),
    ("missing eval set", _missing_evalset, "qa.jsonl"),
    ("empty eval set", _empty_evalset, "qa.jsonl"),
    ("bad CSV", _bad_csv, "qa.csv:3"),
    ("missing API key", _missing_api_key, "provider.api_key_env"),
    ("unknown run: baseline", _unknown_run_baseline, "no run '20260101-000000-abcdef'"),
    ("unknown --resume run", _unknown_resume, "no run '20260101-000000-abcdef'"),
]


@pytest.mark.parametrize(
    ("label", "setup", "word"), NOTHING_WRITTEN, ids=[e[0] for e in NOTHING_WRITTEN]
)
def test_user_errors_write_nothing(
    openai_server: FakeOpenAI,
    make_project: MakeProject,
    label: str,
    setup: Callable[[Path], list[str]] | list[str],
    word: str,
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    args = setup if isinstance(setup, list) else setup(root)
    before = files(root)
    assert not (root / ".llmops").exists()
    res = run(root, *args)
    assert_one_error_line(res, word)
    assert files(root) == before, sorted(files(root) - before)
    assert openai_server.requests.count() == 0


def test_user_error_leaves_an_existing_store_as_it_was(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    assert run(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none").exit_code == 0
    _duplicate_ids(root)
    before = {p: p.stat().st_mtime_ns for p in (root / ".llmops").iterdir()}
    calls = openai_server.requests.count()
    res = run(root, "eval", "qa")
    assert_one_error_line(res, "duplicate case id 'a'")
    assert {p: p.stat().st_mtime_ns for p in (root / ".llmops").iterdir()} == before
    assert openai_server.requests.count() == calls


# --- 5. a scorer that could score no case -----------------------------------------------


def test_unscorable_scorer_says_so_and_fails_the_gate(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3,
                        scorers=[{"rubric": {"criteria": "Answers the question"}}])
    edit_config(root, lambda c: c.update(judge=openai_server.provider_config(
        base_url="http://127.0.0.1:9/v1", max_retries=0, timeout_s=2
    )))
    res = run(root, "eval", "qa", "--prompt", "qa@v1", "--json", "-", "--format", "none")
    assert res.exit_code == 3, res.output
    out = json.loads(res.stdout)
    assert all(c["output"] for c in out["variants"][0]["cases"]), "the model answered"
    last = res.stderr.strip().splitlines()[-1]
    assert last.startswith("error: qa: scorer 'rubric' could not score any case"), last
    assert "every model call failed" not in res.stderr
    assert "FAILED: scorer 'rubric' could not score any case" in res.stderr
    assert out["gate"]["passed"] is False
    assert "scorer 'rubric' could not score any case" in out["gate"]["reasons"]


def test_every_call_failing_still_says_so(make_project: MakeProject,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOME_KEY", "x")
    root = make_project({"kind": "openai", "base_url": "http://127.0.0.1:9/v1",
                         "api_key_env": "SOME_KEY", "model": "m", "max_retries": 0,
                         "timeout_s": 2}, n_cases=2)
    res = run(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none")
    assert res.exit_code == 3, res.output
    assert res.stderr.strip().splitlines()[-1].startswith("error: qa: every model call failed")


# --- 6. --resume with another suite's run -----------------------------------------------


def test_resume_refuses_a_run_of_another_suite(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    add_suite(root, "support")
    res = run(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none", "--json", "-")
    assert res.exit_code == 0, res.output
    run_id = json.loads(res.stdout)["run_id"]
    calls = openai_server.requests.count()
    res = run(root, "eval", "support", "--resume", run_id)
    assert_one_error_line(res, f"run {run_id} is a run of suite 'qa', not 'support'")
    with pytest.raises(UserError, match="a run of suite 'qa'"):
        evaluate(root, "support", resume=run_id, formats=[])
    assert openai_server.requests.count() == calls
    ok = run(root, "eval", "qa", "--resume", run_id, "--format", "none")
    assert ok.exit_code == 0, ok.output
