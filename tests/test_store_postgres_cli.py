"""The whole CLI on a PostgreSQL results store named by ``LLMOPS_STORE``.

A real server (``tests/fixtures_postgres.py``), the fake OpenAI server, and the real
``llmops`` command: eval, resume after SIGKILL, baseline reuse, ``run:`` baselines,
``runs list/show/export/history`` and the guard scan history all work as on SQLite.
"""

from __future__ import annotations

import csv
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.store.migrations import MIGRATIONS
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]
CHAT = "/v1/chat/completions"
LLMOPS = str(Path(sys.executable).parent / "llmops")


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), *args])


def cli_json(root: Path, *args: str) -> Any:
    res = cli(root, *args, "--json", "-")
    assert res.exit_code in (0, 1), res.output
    return json.loads(res.stdout)


def count(url: str, sql: str) -> int:
    try:
        with psycopg.connect(url, connect_timeout=5) as db:
            row = db.execute(sql).fetchone()
            return int(row[0]) if row else 0
    except psycopg.Error:
        return 0


DUPLICATES = ("select count(*) from (select 1 from results group by variant_id, case_id,"
              " repeat_index having count(*) > 1) d")


def test_eval_reuse_run_baseline_runs_and_history(
    openai_server: FakeOpenAI, make_project: MakeProject, postgres_url: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    monkeypatch.setenv("LLMOPS_STORE", postgres_url)
    root = make_project(openai_server.provider_config(), n_cases=6)
    first = cli_json(root, "eval", "qa", "--prompt", "qa@v1", "--no-cache", "--format", "none")
    assert openai_server.requests.count(CHAT) == 6
    assert not (root / ".llmops" / "results.db").exists()  # nothing went to SQLite
    assert count(postgres_url, "select count(*) from results") == 6

    # The baseline's stored results are reused: only v2 calls the model.
    second = cli_json(root, "eval", "qa", "--prompt", "qa@v2", "--no-cache", "--format", "none")
    assert openai_server.requests.count(CHAT) == 12
    base = next(v for v in second["variants"] if v["version"] == "v1")
    assert base["reused_from"] == first["run_id"] and base["summary"]["n_cases"] == 6

    # run:RUN_ID compares with a stored run without any call.
    third = cli_json(root, "eval", "qa", "--prompt", "qa@v2", "--no-cache", "--format", "none",
                     "--baseline", f"run:{first['run_id']}")
    assert [v["origin"] for v in third["variants"] if v["role"] == "baseline"] == [
        f"run:{first['run_id']}"]

    listed = json.loads(cli(root, "runs", "list", "--json", "-").stdout)
    assert [r["run_id"] for r in listed] == [third["run_id"], second["run_id"], first["run_id"]]
    assert all(r["status"] == "finished" for r in listed)
    shown = cli(root, "runs", "show", second["run_id"])
    assert shown.exit_code == 0 and f"results reused from run {first['run_id']}" in shown.stdout
    out = tmp_path / "export.csv"
    assert cli(root, "runs", "export", second["run_id"], "--csv", str(out)).exit_code == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 12 and {r["version"] for r in rows} == {"v1", "v2"}

    history = json.loads(cli(root, "runs", "history", "qa", "--json", "-").stdout)
    assert history["points"][0]["run_id"] == first["run_id"]
    assert {p["version"] for p in history["points"]} == {"v1", "v2"}
    assert count(postgres_url, DUPLICATES) == 0


def test_guard_scan_history_on_postgres(
    openai_server: FakeOpenAI, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
    make_project: MakeProject, tmp_path: Path,
) -> None:
    monkeypatch.setenv("LLMOPS_STORE", postgres_url)
    root = make_project(openai_server.provider_config())
    log = tmp_path / "logs.jsonl"
    log.write_text(json.dumps({
        "id": "r1", "prompt_version": "qa@v1",
        "request": {"messages": [{"role": "user", "content": "hi"}]},
        "response": {"choices": [{"message": {"role": "assistant",
                                              "content": "mail jane.doe@example.com"}}]},
    }) + "\n")
    res = cli(root, "guard", "scan", str(log))
    assert res.exit_code == 1 and "not recorded" not in res.output, res.output
    assert count(postgres_url, "select count(*) from guard_scans") == 1
    days = json.loads(cli(root, "guard", "history", "--json", "-").stdout)
    assert len(days) == 1 and days[0]["scans"] == 1 and days[0]["findings"] >= 1
    assert "jane.doe@example.com" not in json.dumps(days)


def test_sigkill_half_way_then_resume_from_postgres(
    openai_server: FakeOpenAI, make_project: MakeProject, postgres_url: str,
) -> None:
    n, conc = 40, 4
    openai_server.set_latency(80)
    root = make_project(openai_server.provider_config(), n_cases=n)
    env = {**os.environ, "LLMOPS_STORE": postgres_url}
    base = [LLMOPS, "--project", str(root), "eval", "--no-cache", "--format", "none"]
    proc = subprocess.Popen([*base, "qa", "--prompt", "qa@v1", "--concurrency", str(conc)],
                            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while count(postgres_url, "select count(*) from results") < n // 2:
        assert time.monotonic() < deadline and proc.poll() is None
        time.sleep(0.02)
    proc.send_signal(signal.SIGKILL)
    proc.wait(10)
    time.sleep(0.3)
    calls_before = openai_server.requests.count(CHAT)
    stored = count(postgres_url, "select count(*) from results")
    assert n // 2 <= stored < n

    listed = json.loads(subprocess.run([LLMOPS, "--project", str(root), "runs", "list",
                                        "--json", "-"], env=env, capture_output=True,
                                       text=True, check=True).stdout)
    assert listed[0]["status"] == "interrupted" and listed[0]["n_cases_done"] == stored
    openai_server.set_latency(0)
    res = subprocess.run([*base, "--resume", listed[0]["run_id"], "--json", "-"], env=env,
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert openai_server.requests.count(CHAT) - calls_before == n - stored
    cases = json.loads(res.stdout)["variants"][0]["cases"]
    assert [c["output"] for c in cases] == [f"question number {i}" for i in range(n)]
    assert count(postgres_url, "select count(*) from results") == n
    assert count(postgres_url, "select count(*) from scores") == n
    assert count(postgres_url, DUPLICATES) == 0


# --- bad input ---------------------------------------------------------------------------


def test_an_unreachable_server_exits_3_naming_host_and_port_never_the_password(
    openai_server: FakeOpenAI, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch,
) -> None:
    from tests.fixtures_servers import free_port

    port = free_port()  # nothing listens there
    monkeypatch.setenv("LLMOPS_STORE", f"postgresql://team:s3cr3t-pw@127.0.0.1:{port}/llmops")
    root = make_project(openai_server.provider_config(), n_cases=2)
    for args in (["eval", "qa", "--format", "none"], ["runs", "list"]):
        res = cli(root, *args)
        assert res.exit_code == 3, res.output
        first = res.stderr.strip().splitlines()[0]
        assert f"127.0.0.1:{port}" in first, res.stderr
        assert "s3cr3t-pw" not in res.output
    assert openai_server.requests.count(CHAT) == 0


@pytest.mark.parametrize(
    ("where", "value", "named"),
    [
        ("env", "mysql://team:pw@db:3306/llmops", "LLMOPS_STORE"),
        ("env", "postgresql://team:pw@db:5432/", "LLMOPS_STORE"),
        ("yaml", "mysql://team@db/llmops", "store"),
        ("yaml", "postgresql://team@db:5432", "store"),
    ],
)
def test_a_bad_store_url_exits_2_naming_where_it_came_from(
    openai_server: FakeOpenAI, make_project: MakeProject, monkeypatch: pytest.MonkeyPatch,
    where: str, value: str, named: str,
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=2)
    if where == "env":
        monkeypatch.setenv("LLMOPS_STORE", value)
    else:
        monkeypatch.delenv("LLMOPS_STORE", raising=False)
        config = (root / "llmops.yaml").read_text()
        (root / "llmops.yaml").write_text(
            config.replace("store: .llmops/results.db", f"store: {value}"))
    res = cli(root, "eval", "qa", "--format", "none")
    assert res.exit_code == 2, res.output
    assert named in res.stderr.strip().splitlines()[0]
    assert ":pw@" not in res.output
    assert openai_server.requests.count(CHAT) == 0


def test_a_schema_newer_than_this_llmops_exits_2_and_writes_nothing(
    openai_server: FakeOpenAI, make_project: MakeProject, postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMOPS_STORE", postgres_url)
    root = make_project(openai_server.provider_config(), n_cases=2)
    assert cli(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none").exit_code == 0
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute("insert into _migrations values ('m999_future', '2030-01-01')")
    calls = openai_server.requests.count(CHAT)
    for args in (["eval", "qa", "--format", "none"], ["runs", "list"]):
        res = cli(root, *args)
        assert res.exit_code == 2, res.output
        assert "upgrade llmops" in res.output and "newer llmops" in res.stderr
    assert openai_server.requests.count(CHAT) == calls
    assert count(postgres_url, "select count(*) from runs") == 1
    assert count(postgres_url, "select count(*) from _migrations") == len(MIGRATIONS) + 1
