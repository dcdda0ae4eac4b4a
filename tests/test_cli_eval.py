"""`llmops eval` and `llmops runs` from the command line, against the fake OpenAI server."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from tests.fixtures_postgres import StoreBackend
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]
LLMOPS = str(Path(sys.executable).parent / "llmops")


def run(root: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["--project", str(root), *args])
    return result


def test_eval_json_to_stdout_and_exit_codes(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=10, gate={"max_regression": 0.05})
    res = run(root, "eval", "qa", "--json", "-")
    assert res.exit_code == 1, res.output
    data = json.loads(res.stdout)
    assert data["suite"] == "qa" and data["gate"]["passed"] is False
    assert [v["version"] for v in data["variants"]] == ["v1", "v2"]
    assert data["comparisons"][0]["verdict"] == "regressed"
    assert "gate FAILED" in res.stderr and "qa@v1" in res.stderr
    ok = run(
        root, "eval", "--prompt", "qa@v1", "--json", str(root / "out.json"), "--format", "none"
    )
    assert ok.exit_code == 0, ok.output
    assert json.loads((root / "out.json").read_text())["gate"]["passed"] is True
    assert "gate passed" in ok.stdout


@pytest.mark.parametrize(
    ("args", "project_kw", "words"),
    [
        (["eval", "nope"], {}, ["unknown suite 'nope'", "known suites: qa"]),
        (["eval", "qa", "--prompt", "qa@v7"], {}, ["no version or label 'v7'"]),
        (["eval", "qa", "--format", "pdf"], {}, ["unknown report format 'pdf'"]),
        (
            ["eval", "qa"],
            {
                "cases": [
                    {"id": "a", "vars": {"question": "x"}},
                    {"id": "a", "vars": {"question": "y"}},
                ]
            },
            ["qa.jsonl:2", "duplicate case id 'a'"],
        ),
        (
            ["eval", "qa"],
            {
                "cases": [
                    {"id": "a", "vars": {"question": "x"}},
                    {"id": "late", "vars": {"query": "y"}},
                ]
            },
            ["qa.jsonl:2", "case 'late' lacks variable 'question'"],
        ),
        (["runs", "show", "nope"], {}, ["no run 'nope'"]),
    ],
)
def test_user_errors_exit_2_with_one_line(
    openai_server: FakeOpenAI,
    make_project: MakeProject,
    args: list[str],
    project_kw: dict[str, Any],
    words: list[str],
) -> None:
    root = make_project(openai_server.provider_config(), **project_kw)
    res = run(root, *args)
    assert res.exit_code == 2, res.output
    assert res.stderr.startswith("error: ") and res.stderr.count("\n") == 1, res.stderr
    for w in words:
        assert w in res.stderr
    assert openai_server.requests.count() == 0


def test_ragged_csv_exit_2(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    root = make_project(openai_server.provider_config(), evalset_name="qa.csv", cases=[])
    (root / "evalsets" / "qa.csv").write_text("id,question\na,one\nb,two,three\n")
    res = run(root, "eval", "qa")
    assert res.exit_code == 2
    assert "qa.csv:3" in res.stderr and "3 cells" in res.stderr


def test_missing_api_key_env_exit_2(make_project: MakeProject) -> None:
    os.environ.pop("LLMOPS_NO_SUCH_KEY", None)
    root = make_project(
        {
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "LLMOPS_NO_SUCH_KEY",
            "model": "m",
        }
    )
    res = run(root, "eval", "qa")
    assert res.exit_code == 2, res.output
    assert "LLMOPS_NO_SUCH_KEY" in res.stderr


def test_unreachable_endpoint_exit_3(
    make_project: MakeProject, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOME_KEY", "x")
    root = make_project(
        {
            "kind": "openai",
            "base_url": "http://127.0.0.1:9/v1",
            "api_key_env": "SOME_KEY",
            "model": "m",
            "max_retries": 1,
            "timeout_s": 5,
        },
        n_cases=3,
    )
    res = run(root, "eval", "qa", "--prompt", "qa@v1")
    assert res.exit_code == 3, res.output
    assert "every model call failed" in res.stderr and "connection" in res.stderr.lower()
    listed = json.loads(run(root, "runs", "list", "--json", "-").stdout)
    assert listed[0]["status"] == "finished" and listed[0]["n_cases_done"] == 0


def test_runs_list_show_export(
    openai_server: FakeOpenAI, make_project: MakeProject, tmp_path: Path,
    store_backend: StoreBackend,
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=4)
    assert run(root, "eval", "qa", "--format", "none").exit_code == 0
    assert run(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none").exit_code == 0
    listed = json.loads(run(root, "runs", "list", "--json", "-").stdout)
    assert len(listed) == 2
    assert set(listed[0]) >= {"run_id", "suite", "status", "started_at", "n_cases_done"}
    assert listed[0]["started_at"] > listed[1]["started_at"]  # newest first
    assert [r["n_cases_done"] for r in listed] == [4, 8]
    first = listed[1]["run_id"]
    shown = run(root, "runs", "show", first)
    assert shown.exit_code == 0 and "qa@v2 [candidate]" in shown.stdout and "exact" in shown.stdout
    detail = json.loads(run(root, "runs", "show", first, "--json", "-").stdout)
    assert [v["n_cases"] for v in detail["variants"]] == [4, 4]
    out = tmp_path / "export.csv"
    res = run(root, "runs", "export", first, "--csv", str(out))
    assert res.exit_code == 0, res.output
    import csv

    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 8 and {r["version"] for r in rows} == {"v1", "v2"}
    assert rows[0]["scorer"] == "exact" and rows[0]["case_id"] == "case-00000"


RESULTS = "select count(*) from results"
DUPLICATES = ("select count(*) from (select 1 from results group by variant_id, case_id,"
              " repeat_index having count(*) > 1) d")


def test_sigkill_half_way_then_resume(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> None:
    n, conc = 60, 4
    openai_server.set_latency(80)
    root = make_project(openai_server.provider_config(), n_cases=n)

    def count(sql: str = RESULTS) -> int:
        return store_backend.count(root, sql)
    cmd = [
        LLMOPS,
        "--project",
        str(root),
        "eval",
        "qa",
        "--prompt",
        "qa@v1",
        "--no-cache",
        "--concurrency",
        str(conc),
        "--format",
        "none",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while count() < n // 2 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    time.sleep(0.3)  # let the server finish the requests that were in flight
    calls_before = openai_server.requests.count("/v1/chat/completions")
    stored = count()
    assert n // 2 <= stored < n
    # What was lost is at most what was in flight plus one flush window.
    print(f"SIGKILL after {stored} stored results: {calls_before - stored} calls lost")
    assert calls_before - stored <= 2 * conc

    listed = json.loads(run(root, "runs", "list", "--json", "-").stdout)
    assert listed[0]["status"] == "interrupted" and listed[0]["n_cases_done"] == stored
    run_id = listed[0]["run_id"]

    openai_server.set_latency(0)
    res = subprocess.run(
        [
            LLMOPS,
            "--project",
            str(root),
            "eval",
            "--resume",
            run_id,
            "--no-cache",
            "--json",
            "-",
            "--format",
            "none",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert res.returncode == 0, res.stderr
    calls_after = openai_server.requests.count("/v1/chat/completions")
    assert calls_after - calls_before == n - stored  # no finished case called again
    data = json.loads(res.stdout)
    assert data["run_id"] == run_id
    cases = data["variants"][0]["cases"]
    assert [c["id"] for c in cases] == [f"case-{i:05d}" for i in range(n)]
    assert all(c["output"] == f"question number {i}" for i, c in enumerate(cases))
    assert all(c["scores"]["exact"]["passed"] for c in cases)
    assert count() == n and count(DUPLICATES) == 0
    assert count("select count(*) from scores") == n
    listed = json.loads(run(root, "runs", "list", "--json", "-").stdout)
    assert listed[0]["status"] == "finished" and listed[0]["n_cases_done"] == n
    # Resuming a finished run calls nothing.
    again = run(root, "eval", "--resume", run_id, "--no-cache", "--format", "none")
    assert again.exit_code == 0
    assert openai_server.requests.count("/v1/chat/completions") == calls_after


def test_resume_refuses_a_changed_prompt(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=2)
    assert run(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none").exit_code == 0
    run_id = json.loads(run(root, "runs", "list", "--json", "-").stdout)[0]["run_id"]
    v1 = root / "prompts" / "qa" / "v1.yaml"
    v1.write_text(v1.read_text().replace("Answer briefly.", "Answer at length."))
    res = run(root, "eval", "--resume", run_id)
    assert res.exit_code == 2 and "changed since run" in res.stderr


def test_plain_progress_lines_when_not_a_tty(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=20)
    res = run(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none")
    assert res.exit_code == 0
    assert "qa: run " in res.stderr and "20/20 done, 0 errors" in res.stderr
    assert "\x1b[" not in res.stderr


def test_every_suite_runs_without_a_suite_name(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    import yaml

    root = make_project(openai_server.provider_config(), n_cases=3)
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["suites"]["qa_again"] = {
        **config["suites"]["qa"],
        "scorers": [{"max_words": {"limit": 9}}],
    }
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    res = run(root, "eval", "--prompt", "qa@v1", "--json", "-", "--format", "none")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [d["suite"] for d in data] == ["qa", "qa_again"]
    assert list(data[1]["variants"][0]["summary"]["scores"]) == ["max_words"]
    bad = run(root, "eval", "--prompt", "other@v1")
    assert bad.exit_code == 2 and "no suite evaluates prompt 'other'" in bad.stderr


def test_two_eval_processes_share_one_store(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> None:
    openai_server.set_latency(5)
    root = make_project(openai_server.provider_config(), n_cases=150)
    cmd = [LLMOPS, "--project", str(root), "eval", "qa", "--no-cache", "--format", "none"]
    procs = [
        subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for _ in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    listed = json.loads(run(root, "runs", "list", "--json", "-").stdout)
    assert [r["status"] for r in listed] == ["finished", "finished"]
    assert [r["n_cases_done"] for r in listed] == [300, 300]
    assert store_backend.count(root, "select count(*) from scores") == 600
    assert store_backend.count(root, DUPLICATES) == 0


def test_errored_cases_are_listed(openai_server: FakeOpenAI, make_project: MakeProject) -> None:
    from tests.openai_server import Reply

    root = make_project(openai_server.provider_config(max_retries=0), n_cases=3)
    openai_server.script(Reply.error(400, "context length exceeded"))
    res = run(root, "eval", "qa", "--prompt", "qa@v1", "--concurrency", "1", "--format", "none")
    assert res.exit_code == 1
    assert "error qa@v1 case case-00000:" in res.stdout and "context length exceeded" in res.stdout
    assert "1 of 3 cases errored" in res.stdout


def test_sigterm_marks_the_run_interrupted_and_keeps_results(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> None:
    openai_server.set_latency(50)
    root = make_project(openai_server.provider_config(), n_cases=80)
    cmd = [LLMOPS, "--project", str(root), "eval", "qa", "--prompt", "qa@v1", "--no-cache",
           "--concurrency", "4", "--format", "none"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while store_backend.count(root, RESULTS) < 10 and time.monotonic() < deadline:
        time.sleep(0.02)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err.decode()
    time.sleep(0.2)
    stored = store_backend.count(root, RESULTS)
    # Recorded, not only derived from a dead pid.
    assert store_backend.count(root, "select count(*) from runs where status = 'interrupted'") == 1
    assert 10 <= stored < 80
    # Every call the server finished answering before the signal is in the store.
    assert openai_server.requests.count() - stored <= 4
