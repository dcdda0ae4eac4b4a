"""Credentials followed through every way text leaves a project.

A gateway key of a shape no detector knows is in the environment of the run only (as in
CI: the viewer and the exports run without it); it is quoted back by the gateway in its
401 body, it is in a case's input (so the echoing model answers with it), a password is
in ``base_url`` and in an expected answer, and a signature in ``default_query``. Attack
→ answer: not one of them in any file llmops writes (the store, with its case inputs;
reports; ``runs report``; ``runs export`` as CSV, JSONL and Parquet; an MLflow tracking
store's params and tags), on any page or ``/api/`` answer of ``llmops view``, in the
output of ``evalsets from-logs`` (with or without ``--keep-pii``), or on the terminal.
"""

from __future__ import annotations

import json
import os
import subprocess
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fixtures_eval import build_project
from tests.fixtures_view import start_viewer
from tests.hostile._measure import LLMOPS
from tests.openai_server import FakeOpenAI, Reply

KEY_ENV = "LLMOPS_EVERYWHERE_KEY"
KEY = "ew4Lq9Zt2Rk7Xv1Hn6Mb3"  # no detector knows this shape
PASSWORD = "Pw-8Xk2q-Lm4z"
SIGNATURE = "sig9Vd3Kx7Qp2Lw"
SECRETS = (KEY, PASSWORD, SIGNATURE)


@pytest.fixture
def gateway() -> Iterator[FakeOpenAI]:
    server = FakeOpenAI().start()
    try:
        yield server
    finally:
        server.stop()


def _cli(root: Path, *args: str, key: bool = False) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != KEY_ENV}
    if key:
        env[KEY_ENV] = KEY
    res = subprocess.run([LLMOPS, "--project", str(root), *args], capture_output=True,
                         text=True, timeout=180, env=env)
    for secret in SECRETS:
        assert secret not in res.stdout + res.stderr, (args, secret)
    return res


def _project(tmp_path: Path, gateway: FakeOpenAI) -> Path:
    url = gateway.base_url.replace("http://", f"http://admin:{PASSWORD}@")
    config = gateway.provider_config(base_url=url, api_key_env=KEY_ENV, max_retries=0,
                                     default_query={"sig": SIGNATURE})
    # The first call gets the scripted 401; the echoing model answers the leaky case.
    cases = [{"id": f"case-{i}", "vars": {"question": f"question {i}"}, "expected": "x"}
             for i in range(3)]
    cases.append({"id": "leaky", "vars": {"question": f"my key {KEY} is refused, why?"},
                  "expected": f"use http://admin:{PASSWORD}@proxy.example/v1"})
    return build_project(tmp_path / "p", config, cases=cases)


def _written(*folders: Path, skip: tuple[str, ...] = ()) -> dict[Path, bytes]:
    return {p: p.read_bytes() for folder in folders for p in sorted(folder.rglob("*"))
            if p.is_file() and not any(part in skip for part in p.parts)}


def _get(url: str) -> str:
    with urllib.request.urlopen(url, timeout=10) as page:
        body: bytes = page.read()
    return body.decode()


def test_no_credential_leaves_by_any_way(
    gateway: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = _project(tmp_path, gateway)
    gateway.script(Reply.error(401, f"rejected 'Authorization: Bearer {KEY}'"))
    res = _cli(root, "eval", "qa", "--prompt", "qa@v1", "--concurrency", "1",
               "--json", str(root / "out.json"), key=True)
    assert res.returncode in (0, 1), res.stderr
    run_id = json.loads((root / "out.json").read_text())["run_id"]
    assert any(KEY in json.dumps(b) for b in gateway.requests.bodies)  # the model got it
    out = tmp_path / "out"
    out.mkdir()
    assert _cli(root, "runs", "show", run_id).returncode == 0
    assert _cli(root, "runs", "report", run_id, "--format", "md,json,junit,html").returncode == 0
    for fmt in ("csv", "jsonl", "parquet"):
        done = _cli(root, "runs", "export", run_id, "--format", fmt, "--out", str(out / f"x.{fmt}"))
        assert done.returncode == 0, done.stderr
    monkeypatch.chdir(out)  # MLflow puts its artifacts beside the cwd
    mlflow = _cli(root, "runs", "export", run_id, "--mlflow", f"sqlite:///{out / 'mlflow.db'}",
                  "--experiment", "leaks")
    assert mlflow.returncode == 0, mlflow.stderr
    logs = tmp_path / "logs.jsonl"
    logs.write_text(json.dumps({"id": "r1", "input": f"token {KEY} and http://u:{PASSWORD}@h/",
                                "output": "ok"}) + "\n")
    for extra in ((), ("--keep-pii",)):
        made = _cli(root, "evalsets", "from-logs", str(logs), "--sample", "1",
                    "--out", str(out / f"from-logs{len(extra)}.jsonl"), *extra, key=True)
        assert made.returncode == 0, made.stderr
    monkeypatch.delenv(KEY_ENV, raising=False)
    url, server, thread = start_viewer(root)
    try:
        pages = [_get(url + path) for path in
                 ("/", f"/runs/{run_id}", "/api/runs", f"/api/runs/{run_id}",
                  f"/runs/{run_id}?status=failed", "/history", "/api/history/qa")]
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)
    assert any("refused" in page for page in pages)  # the leaky case is shown, masked
    files = _written(root, out, skip=("llmops.yaml", "evalsets"))
    assert any(p.suffix == ".parquet" for p in files) and (out / "mlflow.db").exists()
    for secret in SECRETS:
        for path, data in files.items():
            assert secret.encode() not in data, (secret, path)
        for page in pages:
            assert secret not in page
    assert f"[${KEY_ENV}]".encode() in (out / "x.csv").read_bytes()
    assert b"http://***@" in (out / "from-logs1.jsonl").read_bytes()
