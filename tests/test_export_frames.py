"""`EvalResult.to_pandas()` and `llmops runs export --format csv|jsonl|parquet`."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.eval.run import evaluate
from tests.fixtures_postgres import StoreBackend
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]


def cli(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), *args])


SCORERS = [{"exact": {}}, {"contains": {}}]


def test_to_pandas_one_row_per_case_and_variant_one_column_per_scorer(
    openai_server: FakeOpenAI, make_project: MakeProject, store_backend: StoreBackend
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=5, scorers=SCORERS)
    result = evaluate(root, "qa", formats=[])
    frame = result.to_pandas()
    assert len(frame) == 10
    assert list(frame.columns[-2:]) == ["exact", "contains"]
    assert set(frame["version"]) == {"v1", "v2"}
    v1 = frame[frame["version"] == "v1"]
    assert v1["exact"].tolist() == [1.0] * 5  # v1 echoes the question
    v2 = frame[frame["version"] == "v2"]
    assert v2["exact"].tolist() == [0.0] * 5  # v2 shouts it
    assert v1["case_id"].tolist() == [f"case-{i:05d}" for i in range(5)]
    assert frame["run_id"].unique().tolist() == [result.run_id]
    # The same frame from the stored run, as `runs show` and resume read it.
    from llmops.eval.rerender import stored_result
    from llmops.project import load_project
    from llmops.store import open_store

    project = load_project(root)
    with open_store(project.store) as store:
        stored = stored_result(project, store, result.run_id).to_pandas()
    assert stored[["version", "case_id", "exact", "contains"]].equals(
        frame[["version", "case_id", "exact", "contains"]])
    assert store_backend.count(root, "select count(*) from results") == 10


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet"])
def test_runs_export_formats_over_several_runs(
    openai_server: FakeOpenAI, make_project: MakeProject, tmp_path: Path, fmt: str,
    store_backend: StoreBackend,
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=3)
    first = json.loads(cli(root, "eval", "qa", "--format", "none", "--json", "-").stdout)
    second = json.loads(cli(root, "eval", "qa", "--prompt", "qa@v1", "--no-cache",
                            "--no-reuse", "--format", "none", "--json", "-").stdout)
    out = tmp_path / f"runs.{fmt}"
    res = cli(root, "runs", "export", first["run_id"], second["run_id"], "--out", str(out))
    assert res.exit_code == 0, res.output
    if fmt == "csv":
        frame = pd.read_csv(out)
    elif fmt == "jsonl":
        frame = pd.read_json(out, lines=True)
    else:
        frame = pd.read_parquet(out)
    assert len(frame) == 9  # 3 cases x (2 variants + 1 variant), one scorer
    assert frame.groupby("run_id").size().to_dict() == {first["run_id"]: 6,
                                                        second["run_id"]: 3}
    assert set(frame["scorer"]) == {"exact"}
    assert f"9 rows written to {out}" in res.stdout
    # --format wins over the extension.
    named = tmp_path / "runs.data"
    assert cli(root, "runs", "export", first["run_id"], "--out", str(named),
               "--format", "jsonl").exit_code == 0
    assert len(named.read_text().splitlines()) == 6


def test_export_errors_exit_2(
    openai_server: FakeOpenAI, make_project: MakeProject, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=2)
    run_id = json.loads(cli(root, "eval", "qa", "--format", "none", "--json", "-").stdout)[
        "run_id"]
    out = tmp_path / "x.csv"
    bad = cli(root, "runs", "export", run_id, "--out", str(out), "--format", "xlsx")
    assert bad.exit_code == 2 and "unknown export format 'xlsx'" in bad.stderr
    unknown = cli(root, "runs", "export", run_id, "nope", "--out", str(out))
    assert unknown.exit_code == 2 and "nope" in unknown.stderr and not out.exists()
    nowhere = cli(root, "runs", "export", run_id)
    assert nowhere.exit_code == 2 and "--out" in nowhere.stderr
    # Without pandas installed: which extra to install, not a traceback.
    monkeypatch.setitem(sys.modules, "pandas", None)
    res = cli(root, "runs", "export", run_id, "--out", str(out))
    assert res.exit_code == 2, res.output
    assert "llmops-prompts[export]" in res.stderr and "pandas" in res.stderr and not out.exists()


def test_parquet_without_pyarrow_names_the_extra(
    openai_server: FakeOpenAI, make_project: MakeProject, tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=2)
    run_id = json.loads(cli(root, "eval", "qa", "--format", "none", "--json", "-").stdout)[
        "run_id"]
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    out = tmp_path / "runs.parquet"
    res = cli(root, "runs", "export", run_id, "--out", str(out))
    assert res.exit_code == 2, res.output
    assert "pyarrow" in res.stderr and "llmops-prompts[export]" in res.stderr
    assert not out.exists() and not list(tmp_path.glob("runs.parquet*"))
