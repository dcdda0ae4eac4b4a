"""Endpoints that stall or answer nothing, and caches that a crash or a bad copy broke.

The real command line in a child process against the local OpenAI-compatible test server
(scripted per request), and real SQLite files damaged on disk. Attack → answer:

- a server that sends its headers at once and then its body one byte every 0.5 s, with
  ``timeout_s: 2`` → that attempt is cut off at 2 s ("timed out after 2 s"), the case is
  an error and the other cases complete; the command does not run for minutes;
- a run that would take longer than the CI job allows → ``--max-time`` stops it: exit 3
  saying the budget ran out and how to resume, finished results kept, ``--resume``
  completes the rest without calling them again;
- a 200 whose answer a content filter withheld (``content: null``,
  ``finish_reason: content_filter``) → that case's error with the reason, not retried,
  never an empty output scored as an answer;
- a 200 with ``content: null`` and ``finish_reason: stop`` every time → retried, then
  that case's error ("empty answer");
- a truncated ``.llmops/cache.db`` or ``.llmops/embeddings.db`` → moved aside as
  ``NAME.corrupt-<time>`` with one ``warning:`` line, and the run goes on with an empty
  cache (exit 0, every case answered and scored).
"""

from __future__ import annotations

import json
import sqlite3
import subprocess
import time
from pathlib import Path
from typing import Any

from tests.fixtures_eval import build_project
from tests.hostile._measure import LLMOPS
from tests.openai_server import FakeOpenAI, Reply

ONE_VERSION = {"v1": {"variables": ["question"], "params": {"temperature": 0},
                      "messages": [{"role": "user", "content": "{{ question }}"}]}}


def _eval(root: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LLMOPS, "--project", str(root), "eval", *args],
                          capture_output=True, text=True, timeout=timeout)


def _cases(res: subprocess.CompletedProcess[str]) -> dict[str, dict[str, Any]]:
    data = json.loads(res.stdout)
    return {c["id"]: c for c in data["variants"][0]["cases"]}


def _project(tmp_path: Path, server: FakeOpenAI, n_cases: int = 4, **provider: Any) -> Path:
    config = server.provider_config(max_concurrency=1, **provider)
    return build_project(tmp_path / "p", config, n_cases=n_cases, versions=ONE_VERSION)


def test_a_body_sent_one_byte_at_a_time_is_cut_off_at_timeout_s(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = _project(tmp_path, openai_server, timeout_s=2, max_retries=0)
    # The first case's answer trickles in: ~300 bytes at 0.5 s each would take minutes.
    openai_server.script(Reply.trickle(0.5))
    start = time.perf_counter()
    res = _eval(root, "qa", "--json", "-", "--format", "none", "--no-cache", timeout=90)
    took = time.perf_counter() - start
    cases = _cases(res)
    assert cases["case-00000"]["error"].endswith("timed out after 2 s (gave up after 1 attempt)")
    assert all(cases[f"case-{i:05d}"]["output"] == f"question number {i}" for i in (1, 2, 3))
    assert took < 40, f"the trickled answer held the run for {took:.0f} s"


def test_max_time_stops_the_run_keeps_its_results_and_resume_finishes(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = _project(tmp_path, openai_server, n_cases=50)
    openai_server.set_latency(400)  # 50 calls one at a time: 20 s, over the budget
    res = _eval(root, "qa", "--format", "none", "--max-time", "10")
    assert res.returncode == 3, res.stderr
    assert "the run's time budget of 10 s (--max-time) ran out" in res.stderr
    assert "internal error" not in res.stderr
    listed = json.loads(subprocess.run([LLMOPS, "--project", str(root), "runs", "list",
                                        "--json", "-"], capture_output=True, text=True).stdout)
    run = listed[0]
    assert run["status"] == "interrupted" and 0 < run["n_cases_done"] < 50
    assert f"{run['n_cases_done']} results kept; finish with `llmops eval --resume " \
           f"{run['run_id']}`" in res.stderr
    openai_server.set_latency(0)
    before = openai_server.requests.count("/v1/chat/completions")
    again = _eval(root, "--resume", run["run_id"], "--json", "-", "--format", "none",
                  "--no-cache")
    assert again.returncode == 0, again.stderr
    summary = json.loads(again.stdout)["variants"][0]["summary"]
    assert (summary["n_cases"], summary["n_errors"]) == (50, 0)
    # Only what was not finished is called again.
    called = openai_server.requests.count("/v1/chat/completions") - before
    assert called == 50 - run["n_cases_done"]


def test_a_content_filtered_answer_is_that_cases_error_with_its_reason(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = _project(tmp_path, openai_server)
    openai_server.script(Reply.filtered())
    res = _eval(root, "qa", "--json", "-", "--format", "none", "--no-cache")
    cases = _cases(res)
    first = cases["case-00000"]
    assert first["output"] is None
    assert not any(s.get("passed") for s in first["scores"].values())
    assert "the endpoint filtered the answer (finish_reason content_filter)" in first["error"]
    assert openai_server.requests.count("/v1/chat/completions") == 4  # not retried
    assert all(cases[f"case-{i:05d}"]["error"] is None for i in (1, 2, 3))


def test_content_null_every_time_is_an_error_after_retries(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = _project(tmp_path, openai_server, max_retries=2)
    openai_server.script(*[Reply(null_content=True)] * 3)
    res = _eval(root, "qa", "--json", "-", "--format", "none", "--no-cache")
    first = _cases(res)["case-00000"]
    assert first["output"] is None
    assert "empty answer (finish_reason stop)" in first["error"]
    assert "gave up after 3 attempts" in first["error"]


def _damage(db: Path) -> None:
    sqlite3.connect(db).execute("pragma wal_checkpoint(truncate)").close()
    with db.open("r+b") as f:
        f.truncate(db.stat().st_size // 3)


def test_a_truncated_response_cache_is_moved_aside_and_the_run_goes_on(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = _project(tmp_path, openai_server, n_cases=120)
    assert _eval(root, "qa", "--format", "none").returncode == 0
    db = root / ".llmops" / "cache.db"
    _damage(db)
    res = _eval(root, "qa", "--json", "-", "--format", "none")
    assert res.returncode == 0, res.stderr
    assert "internal error" not in res.stderr
    warned = [line for line in res.stderr.splitlines() if line.startswith("warning: ")]
    assert any("cache.db is corrupt" in line and "moved it to cache.db.corrupt-" in line
               for line in warned), res.stderr
    assert len(_cases(res)) == 120 and all(c["error"] is None for c in _cases(res).values())
    assert list(db.parent.glob("cache.db.corrupt-*"))
    assert sqlite3.connect(db).execute("select count(*) from completions").fetchone()[0] > 0


def test_a_truncated_embedding_cache_is_moved_aside_and_the_run_goes_on(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    cases = [{"id": f"c{i}", "vars": {"question": f"the answer is number {i} of many"},
              "expected": f"the answer is number {i} of many"} for i in range(150)]
    config = openai_server.provider_config(max_concurrency=4)
    root = build_project(tmp_path / "p", config, cases=cases, versions=ONE_VERSION,
                         scorers=[{"similarity": {}}])
    text = (root / "llmops.yaml").read_text()
    embedder = {"kind": "openai", "base_url": openai_server.base_url,
                "api_key_env": openai_server.api_key_env, "model": "text-embedding-3-small"}
    (root / "llmops.yaml").write_text(text + "embedder: " + json.dumps(embedder) + "\n")
    assert _eval(root, "qa", "--format", "none").returncode == 0
    db = root / ".llmops" / "embeddings.db"
    _damage(db)
    res = _eval(root, "qa", "--json", "-", "--format", "none", "--no-cache")
    assert res.returncode == 0, res.stderr
    assert "internal error" not in res.stderr
    assert any(line.startswith("warning: ") and "embeddings.db is corrupt" in line
               for line in res.stderr.splitlines()), res.stderr
    scores = [c["scores"]["similarity"] for c in _cases(res).values()]
    assert len(scores) == 150 and all(s["value"] > 0.99 for s in scores)
    assert list(db.parent.glob("embeddings.db.corrupt-*"))
