"""`llmops runs export --mlflow`: one MLflow run per variant, read back with MlflowClient.

A real tracking store: a ``sqlite:///`` URI (from a results store on each backend), a
``file:`` directory, and ``mlflow server`` on a free port for the HTTP path.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from mlflow.tracking import MlflowClient
from typer.testing import CliRunner

from llmops.cli import app
from tests.fixtures_postgres import StoreBackend
from tests.fixtures_servers import free_port
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), *args])


TwoRuns = tuple[Path, dict[str, Any], dict[str, Any]]
GIT_ENV = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
           "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout.strip()


def _two_runs(make_project: MakeProject, provider: dict[str, Any], tmp_path: Path,
              monkeypatch: pytest.MonkeyPatch) -> TwoRuns:
    """Two runs of a project committed in git: v1 against v2, then v1 alone."""
    monkeypatch.chdir(tmp_path)  # MLflow's default artifact root is relative to the cwd
    root = make_project(provider, n_cases=10, scorers=[{"exact": {}}, {"contains": {}}])
    (root / ".gitignore").write_text(".llmops/\nreports/\n")
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "qa")
    first = json.loads(cli(root, "eval", "qa", "--json", "-").stdout)
    second = json.loads(cli(root, "eval", "qa", "--prompt", "qa@v1", "--no-reuse",
                            "--no-cache", "--format", "none", "--json", "-").stdout)
    return root, first, second


@pytest.fixture
def two_runs(openai_server: FakeOpenAI, make_project: MakeProject,
             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> TwoRuns:
    return _two_runs(make_project, openai_server.provider_config(), tmp_path, monkeypatch)


@pytest.fixture
def two_runs_each_backend(store_backend: StoreBackend, openai_server: FakeOpenAI,
                          make_project: MakeProject, monkeypatch: pytest.MonkeyPatch,
                          tmp_path: Path) -> TwoRuns:
    """The same two runs, in a SQLite file, then in a PostgreSQL database."""
    return _two_runs(make_project, openai_server.provider_config(), tmp_path, monkeypatch)


def _check_export(root: Path, uri: str, first: dict[str, Any], second: dict[str, Any]) -> None:
    res = cli(root, "runs", "export", first["run_id"], second["run_id"], "--mlflow", uri,
              "--experiment", "team-qa")
    assert res.exit_code == 0, res.output
    assert res.stdout.count("created MLflow run") == 3
    client = MlflowClient(tracking_uri=uri)
    exp = client.get_experiment_by_name("team-qa")
    assert exp is not None
    runs = client.search_runs([exp.experiment_id])
    assert len(runs) == 3
    by_key = {(r.data.tags["llmops.run_id"], r.data.params["version"]): r for r in runs}
    cand = by_key[(first["run_id"], "v2")]
    base = by_key[(first["run_id"], "v1")]
    v2 = next(v for v in first["variants"] if v["version"] == "v2")
    assert cand.data.params["suite"] == "qa" and cand.data.params["prompt"] == "qa"
    assert cand.data.params["prompt_digest"] == v2["digest"]
    assert cand.data.params["evalset_digest"] == first["evalset"]["digest"]
    assert cand.data.params["params.temperature"] == "0"
    assert cand.data.params["model"] == "fake-model" and cand.data.params["role"] == "candidate"
    assert cand.data.params["evalset_path"] == "evalsets/qa.jsonl"
    assert cand.data.tags["mlflow.source.git.commit"] == git(root, "rev-parse", "HEAD")
    assert cand.data.metrics["prompt_tokens"] > 0 and cand.data.metrics["completion_tokens"] > 0
    assert cand.data.metrics["latency_p50_ms"] <= cand.data.metrics["latency_p95_ms"]
    assert cand.data.metrics["contains.errors"] == 0
    assert cand.data.metrics["exact.mean"] == 0.0 and base.data.metrics["exact.mean"] == 1.0
    assert cand.data.metrics["exact.pass_rate"] == 0.0
    assert cand.data.metrics["n_cases"] == 10 and cand.data.metrics["errors"] == 0
    assert "latency_p95_ms" in cand.data.metrics
    comparison = next(c for c in first["comparisons"] if c["scorer"] == "exact")
    assert cand.data.metrics["exact.delta"] == pytest.approx(comparison["delta"])
    assert cand.data.metrics["exact.ci_low"] == pytest.approx(comparison["ci_low"])
    assert cand.data.metrics["exact.ci_high"] == pytest.approx(comparison["ci_high"])
    assert "exact.delta" not in base.data.metrics
    assert cand.data.tags["llmops.role"] == "candidate" and cand.info.status == "FINISHED"
    artifacts = [a.path for a in client.list_artifacts(cand.info.run_id, "reports")]
    assert any(p.endswith("summary.md") for p in artifacts), artifacts

    # Again: the same three runs are updated, none added.
    again = cli(root, "runs", "export", first["run_id"], second["run_id"], "--mlflow", uri,
                "--experiment", "team-qa")
    assert again.exit_code == 0 and again.stdout.count("updated MLflow run") == 3
    assert len(client.search_runs([exp.experiment_id])) == 3
    history = client.get_metric_history(cand.info.run_id, "exact.mean")
    assert len(history) == 1


def test_export_to_a_sqlite_tracking_store(two_runs_each_backend: TwoRuns, tmp_path: Path
                                          ) -> None:
    root, first, second = two_runs_each_backend
    _check_export(root, f"sqlite:///{tmp_path / 'mlflow.db'}", first, second)


def test_export_to_a_file_tracking_store(two_runs: TwoRuns, tmp_path: Path) -> None:
    root, first, second = two_runs
    _check_export(root, (tmp_path / "mlruns").as_uri(), first, second)


@pytest.fixture
def mlflow_server(tmp_path: Path) -> Iterator[str]:
    port = free_port()
    home = tmp_path / "mlflow-server"
    home.mkdir()
    mlflow = str(Path(sys.executable).parent / "mlflow")
    proc = subprocess.Popen(
        [mlflow, "server", "--host", "127.0.0.1", "--port", str(port), "--workers", "1",
         "--backend-store-uri", f"sqlite:///{home / 'db.sqlite'}",
         "--artifacts-destination", str(home / "artifacts")],
        cwd=home, stdout=subprocess.DEVNULL, stderr=(home / "log").open("wb"),
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            urllib.request.urlopen(f"{url}/health", timeout=2)
            break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("mlflow server did not start:\n"
                            + (home / "log").read_text()[-2000:])
            time.sleep(0.5)
    try:
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_export_to_an_mlflow_server(
    two_runs: TwoRuns, mlflow_server: str
) -> None:
    root, first, second = two_runs
    _check_export(root, mlflow_server, first, second)


def test_an_unknown_run_exits_2_before_anything_is_logged(
    two_runs: TwoRuns, tmp_path: Path
) -> None:
    root, first, _ = two_runs
    uri = f"sqlite:///{tmp_path / 'mlflow.db'}"
    res = cli(root, "runs", "export", first["run_id"], "nope", "--mlflow", uri)
    assert res.exit_code == 2 and "nope" in res.stderr
    assert not (tmp_path / "mlflow.db").exists()


def test_without_mlflow_installed_it_names_the_extra(
    two_runs: TwoRuns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, first, _ = two_runs
    for module in ("mlflow", "mlflow.tracking"):
        monkeypatch.setitem(sys.modules, module, None)
    res = cli(root, "runs", "export", first["run_id"], "--mlflow",
              f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert res.exit_code == 2, res.output
    assert "llmops-prompts[mlflow]" in res.stderr and "Traceback" not in res.output
    assert not (tmp_path / "mlflow.db").exists()


def test_an_unreachable_tracking_server_exits_3_naming_it_without_credentials(
    two_runs: TwoRuns, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, first, _ = two_runs
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "0")  # MLflow's own retries
    port = free_port()  # nothing listens there
    res = cli(root, "runs", "export", first["run_id"], "--mlflow",
              f"http://team:Ml-s3cr3t-77d@127.0.0.1:{port}")
    assert res.exit_code == 3, res.output
    [line] = res.stderr.strip().splitlines()
    assert line.startswith(f"error: http://***@127.0.0.1:{port}: MLflow tracking store failed")
    assert "Ml-s3cr3t-77d" not in res.output and "internal error" not in res.output


def test_a_tracking_store_whose_driver_is_missing_names_the_extra(
    two_runs: TwoRuns, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # mlflow-skinny alone has no SQLAlchemy store: what a sqlite:/// URI would meet.
    root, first, _ = two_runs
    monkeypatch.setitem(sys.modules, "mlflow.store.tracking.sqlalchemy_store", None)
    res = cli(root, "runs", "export", first["run_id"], "--mlflow",
              f"sqlite:///{tmp_path / 'mlflow.db'}")
    assert res.exit_code == 2, res.output
    [line] = res.stderr.strip().splitlines()
    assert "is not installed" in line and "llmops-prompts[mlflow]" in line
    assert "internal error" not in res.output
