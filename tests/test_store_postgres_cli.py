"""The whole CLI on a PostgreSQL results store named by ``LLMOPS_STORE`` or ``store:``.

A real server (``tests/fixtures_postgres.py``), the fake OpenAI server, and the real
``llmops`` command: eval, baseline reuse, ``run:`` baselines, ``runs list/show/export/
history`` and the guard scan history all work as on SQLite; bad URLs, an unreachable
server, a wrong password and a newer schema fail in one line; the password is never
shown or written. (Resume after SIGKILL, concurrent evals, ``git:`` baselines and the
exports run on both backends in their own modules, through ``store_backend``.)
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
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


def test_a_wrong_password_exits_3_naming_host_and_port_never_the_password(
    openai_server: FakeOpenAI, make_project: MakeProject, password_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    wrong = password_url.replace("Tm-s3cr3t-pw-4f9e", "Wr0ng-pw-77c1d")
    port = password_url.split("@127.0.0.1:", 1)[1].split("/", 1)[0]
    monkeypatch.setenv("LLMOPS_STORE", wrong)
    root = make_project(openai_server.provider_config(), n_cases=2)
    res = subprocess.run([LLMOPS, "--project", str(root), "eval", "qa", "--format", "none"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 3, res.stderr
    [line] = res.stderr.strip().splitlines()
    assert line.startswith(f"error: 127.0.0.1:{port}: cannot reach the PostgreSQL results store")
    assert "password authentication failed" in line
    assert "Wr0ng-pw-77c1d" not in res.stdout + res.stderr
    assert openai_server.requests.count(CHAT) == 0


def test_the_password_is_never_shown_or_written(
    openai_server: FakeOpenAI, make_project: MakeProject, password_url: str,
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
) -> None:
    from mlflow.tracking import MlflowClient

    password = "Tm-s3cr3t-pw-4f9e"
    monkeypatch.setenv("LLMOPS_STORE", password_url)
    monkeypatch.chdir(tmp_path)  # MLflow's artifacts land under tmp_path
    root = make_project(openai_server.provider_config(), n_cases=3)
    env = {**os.environ}
    shown: list[str] = []

    def llmops(*args: str, code: int = 0) -> str:
        res = subprocess.run([LLMOPS, "--project", str(root), *args], env=env,
                             capture_output=True, text=True, timeout=120)
        assert res.returncode == code, res.stderr
        shown.append(res.stdout + res.stderr)
        return res.stdout

    run_id = json.loads(llmops("eval", "qa", "--format", "md,html,junit,json",
                               "--json", "-"))["run_id"]
    llmops("runs", "list")
    llmops("runs", "show", run_id, "--json", "-")
    llmops("runs", "history", "qa", "--json", "-", "--html", str(tmp_path / "h.html"))
    llmops("runs", "export", run_id, "--out", str(tmp_path / "runs.jsonl"))
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    llmops("runs", "export", run_id, "--mlflow", uri)
    missing = llmops("runs", "show", "no-such-run", code=2)
    assert "***@127.0.0.1" in shown[-1], missing  # the store is named, its password not

    for text in shown:
        assert password not in text
    client = MlflowClient(tracking_uri=uri)
    for run in client.search_runs([e.experiment_id for e in client.search_experiments()]):
        values = [*run.data.params.values(), *run.data.tags.values()]
        assert values and not any(password in v for v in values)
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert any(p.name == "summary.md" for p in written)
    for path in written:
        assert password.encode() not in path.read_bytes(), path


def test_store_url_in_llmops_yaml_and_llmops_store_over_it(
    openai_server: FakeOpenAI, make_project: MakeProject, postgres_server: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    in_yaml, in_env = postgres_server.create_database(), postgres_server.create_database()
    try:
        monkeypatch.delenv("LLMOPS_STORE", raising=False)
        root = make_project(openai_server.provider_config(), n_cases=3)
        config = (root / "llmops.yaml").read_text()
        (root / "llmops.yaml").write_text(
            config.replace("store: .llmops/results.db", f"store: {in_yaml}"))
        assert cli(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none").exit_code == 0
        assert count(in_yaml, "select count(*) from results") == 3
        monkeypatch.setenv("LLMOPS_STORE", in_env)
        assert cli(root, "eval", "qa", "--prompt", "qa@v1", "--format", "none").exit_code == 0
        assert count(in_env, "select count(*) from results") == 3
        assert count(in_yaml, "select count(*) from runs") == 1
        assert not (root / ".llmops" / "results.db").exists()
    finally:
        postgres_server.drop_database(in_yaml)
        postgres_server.drop_database(in_env)
