"""``llmops view`` over a PostgreSQL results store named by ``LLMOPS_STORE``.

A real server (``tests/fixtures_postgres.py``), two real ``evaluate()`` runs against the
fake OpenAI server, and the viewer over HTTP: every page reads the same as on SQLite.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.fixtures_view import HOSTILE, start_viewer
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]


def fetch(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()


def fetch_json(url: str) -> Any:
    status, body = fetch(url)
    assert status == 200, body
    return json.loads(body)


def test_every_page_on_postgres(
    openai_server: FakeOpenAI, make_project: MakeProject, postgres_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from llmops.eval.run import evaluate

    monkeypatch.setenv("LLMOPS_STORE", postgres_url)
    cases = [{"id": f"c{i}", "vars": {"question": f"question {i}"}, "expected": f"question {i}"}
             for i in range(11)]
    cases.append({"id": "hostile", "vars": {"question": HOSTILE}, "expected": HOSTILE})
    root = make_project(openai_server.provider_config(), cases=cases,
                        gate={"max_regression": 0.1}, labels={"production": "v1"})
    run_ids = [evaluate(root, "qa", formats=[]).run_id for _ in range(2)]
    alone = evaluate(root, "qa", prompts=["qa@v1"], formats=[]).run_id  # v1 alone
    assert not (root / ".llmops" / "results.db").exists()  # everything went to PostgreSQL

    url, server, thread = start_viewer(root)
    try:
        runs = [r for r in fetch_json(url + "/api/runs")["runs"] if r["run_id"] != alone]
        assert [r["run_id"] for r in runs] == run_ids[::-1]
        assert all(r["gate"]["passed"] is False for r in runs)
        assert len(fetch_json(url + "/api/runs?label=production&prompt=qa")["runs"]) == 3
        assert fetch_json(url + "/api/runs?suite=other")["runs"] == []

        run = fetch_json(f"{url}/api/runs/{run_ids[0]}")
        assert run["n_cases"] == 12 and run["verdict"]["comparisons"][0]["verdict"] == "regressed"
        hostile = next(c for c in run["cases"] if c["case_id"] == "hostile")
        assert "a***@example.com" in hostile["vars"]["question"]
        assert fetch_json(f"{url}/api/runs/{run_ids[0]}?q=question+3")["n_matching"] == 1

        compared = fetch_json(f"{url}/api/compare?a=qa@v1&b=qa@v2&run={run_ids[0]}")
        assert compared["results"]["comparisons"][0]["delta"] == pytest.approx(-1.0)
        assert len(compared["results"]["cases"]) == 12
        same = fetch_json(f"{url}/api/compare?run_a={run_ids[0]}&run_b={run_ids[1]}")
        assert same["results"]["cases"] == [] and same["messages"] == []
        # two runs of different versions: their template diff, and the stored config's
        two = fetch_json(f"{url}/api/compare?run_a={alone}&run_b={run_ids[0]}")
        assert any("upper" in line for line in two["messages"]), two
        assert two["results"]["comparisons"][0]["delta"] == pytest.approx(-1.0)
        status, html = fetch(f"{url}/compare?run_a={alone}&run_b={run_ids[0]}")
        assert status == 200 and 'id="template-diff"' in html
        assert fetch_json(url + "/api/history/qa")["runs"] == [*run_ids, alone]
        assert fetch_json(url + "/api/guard")["scans"] == []

        for page in ("/", f"/runs/{run_ids[1]}", "/history/qa", "/guard", "/indexes",
                     f"/compare?a=qa@v1&b=qa@v2&run={run_ids[1]}"):
            status, html = fetch(url + page)
            assert status == 200, (page, html)
            assert "<script>window.__pwned" not in html and "alice@example.com" not in html
        status, html = fetch(url + "/runs/nope")
        assert status == 404 and "Not found" in html
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
    with psycopg.connect(postgres_url) as db:  # the viewer wrote nothing
        row = db.execute("select count(*) from runs").fetchone()
        assert row is not None and row[0] == 3
    from llmops.store import open_store

    with open_store(postgres_url, readonly=True) as store:  # as the viewer opens it
        assert len(store.runs()) == 3
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            store.create_run("written-by-the-viewer", "qa")


def test_an_empty_database_says_how_to_fill_it(
    make_project: MakeProject, postgres_url: str, monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("LLMOPS_STORE", postgres_url)
    root = make_project({"kind": "openai", "model": "m"})
    url, server, thread = start_viewer(root)
    try:
        status, html = fetch(url + "/")
        assert status == 200 and "llmops eval" in html
        assert fetch_json(url + "/api/runs")["error"] == "no_store"
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
    with psycopg.connect(postgres_url) as db:  # read-only: no table was created
        row = db.execute("select count(*) from information_schema.tables"
                         " where table_schema = 'public'").fetchone()
        assert row is not None and row[0] == 0
