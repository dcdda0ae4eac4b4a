"""``llmops view`` over HTTP: pages, JSON, masking, escaping and bad input."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from tests.fixtures_view import Viewer, start_viewer

LLMOPS = [sys.executable, "-c", "from llmops.cli import main; main()"]


def get(url: str) -> tuple[int, str, dict[str, str]]:
    try:
        with urllib.request.urlopen(url, timeout=30) as r:
            return r.status, r.read().decode(), dict(r.headers)
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode(), dict(e.headers)


def get_json(url: str) -> Any:
    status, body, _ = get(url)
    assert status == 200, body
    return json.loads(body)


def test_api_runs_lists_both_runs_newest_first(viewer: Viewer) -> None:
    data = get_json(viewer.url + "/api/runs")
    assert [r["run_id"] for r in data["runs"]] == list(reversed(viewer.run_ids))
    first = data["runs"][0]
    assert first["suite"] == "qa" and first["status"] == "finished"
    assert [(v["prompt"], v["version"], v["role"]) for v in first["variants"]] == [
        ("qa", "v1", "baseline"), ("qa", "v2", "candidate")]


def test_runs_filters(viewer: Viewer) -> None:
    assert get_json(viewer.url + "/api/runs?suite=nope")["runs"] == []
    assert len(get_json(viewer.url + "/api/runs?prompt=qa")["runs"]) == 2
    assert len(get_json(viewer.url + "/api/runs?label=staging")["runs"]) == 2
    assert get_json(viewer.url + "/api/runs?label=no-such-label")["runs"] == []
    assert get_json(viewer.url + "/api/runs?since=2999-01-01")["runs"] == []
    assert get_json(viewer.url + "/api/runs?until=2000-01-01")["runs"] == []
    today = datetime.now(UTC).date().isoformat()  # "until" takes in its whole day
    assert len(get_json(f"{viewer.url}/api/runs?since={today}&until={today}")["runs"]) == 2


def test_run_page_puts_failing_cases_first_and_masks(viewer: Viewer) -> None:
    run_id = viewer.run_ids[-1]
    data = get_json(f"{viewer.url}/api/runs/{run_id}")
    assert data["n_cases"] == 12 and data["scorers"] == ["exact", "guardrails", "rubric"]
    cases = data["cases"]
    # v2 shouts, so every case fails exact on v2 while v1 passes: all failing and changed
    assert all(c["failing"] and c["changed"] for c in cases)
    hostile = next(c for c in cases if c["case_id"] == "case-hostile")
    v1 = hostile["outputs"][0]
    assert "alice@example.com" not in json.dumps(hostile)
    assert "a***@example.com" in v1["output"] and "<script>" in v1["output"]
    assert v1["scores"][0]["scorer"] == "exact" and v1["scores"][0]["passed"] is True
    assert hostile["outputs"][1]["scores"][0]["passed"] is False
    assert "a***@example.com" in hostile["vars"]["question"]


def test_runs_list_shows_the_gate_and_the_commit(viewer: Viewer) -> None:
    runs = get_json(viewer.url + "/api/runs")["runs"]
    # max_regression 0.1 and v2 loses every exact match: both runs failed their gate
    assert all(r["gate"]["passed"] is False for r in runs)
    assert any("exact" in reason for reason in runs[0]["gate"]["reasons"])
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=viewer.root, check=True,
                          capture_output=True, text=True).stdout.strip()
    assert [r["git_commit"] for r in runs] == [head, head]
    status, html, _ = get(viewer.url + "/")
    assert status == 200 and html.count('<span class="tag fail"') == 2
    assert "<th>Gate</th>" in html and f"<code>{head[:10]}</code>" in html


def test_run_page_shows_verdict_inputs_and_scorer_details(viewer: Viewer) -> None:
    run_id = viewer.run_ids[-1]
    data = get_json(f"{viewer.url}/api/runs/{run_id}")
    verdict = data["verdict"]
    assert verdict["passed"] is False and verdict["exit_code"] == 1
    exact = next(c for c in verdict["comparisons"] if c["scorer"] == "exact")
    assert exact["verdict"] == "regressed" and exact["ci_high"] == pytest.approx(-1.0)
    case = next(c for c in data["cases"] if c["case_id"] == "case-03")
    assert case["vars"] == {"question": "question number 3"}
    assert case["expected"] == "question number 3"
    v1, v2 = case["outputs"]
    assert v1["output"] == "question number 3" and v2["output"] == "QUESTION NUMBER 3"
    judged = {s["scorer"]: s for s in v1["scores"]}["rubric"]
    assert judged["reason"] == "restates the question; ask c***@example.com"
    assert judged["details"]["judge_prompt"] == "rubric@v1"
    hostile = next(c for c in data["cases"] if c["case_id"] == "case-hostile")
    guard = {s["scorer"]: s for s in hostile["outputs"][0]["scores"]}["guardrails"]
    assert guard["passed"] is False and guard["detectors"] == ["pii.email"]
    assert "carol@example.com" not in json.dumps(data)
    status, html, _ = get(f"{viewer.url}/runs/{run_id}")
    assert status == 200 and "gate failed" in html and 'id="comparisons"' in html
    assert "reason: restates the question; ask c***@example.com" in html
    assert "fired: <code>pii.email</code>" in html and "carol@example.com" not in html


def _write_run(store: Any, run_id: str, n_cases: int) -> None:
    """A run written with the store API alone, as an older llmops left it (no verdict)."""
    from llmops.store import CaseRecord, ResultRow, ScoreRow

    store.create_run(run_id, "qa", n_cases=n_cases, repeat=1)
    vid = store.add_variant(run_id, prompt="qa", version="v1", digest="d" * 64,
                            model="m", params={}, provider="openai")
    store.add_cases([CaseRecord(f"{i:064d}", f"case-{i:03d}", vars={"question": f"q{i}?"},
                                expected=f"a{i}") for i in range(n_cases)])
    ids = store.write_results(run_id, [ResultRow(vid, f"case-{i:03d}", f"{i:064d}", 0, f"a{i}",
                                                 5.0, case_index=i) for i in range(n_cases)])
    store.write_scores([ScoreRow(rid, "exact", "1", {}, 1.0, True) for rid in ids])
    store.finish_run(run_id)


def test_pages_and_a_run_without_a_kept_verdict(tmp_path: Path) -> None:
    from llmops.store import open_store
    from tests.fixtures_eval import build_project

    root = build_project(tmp_path / "p", {"kind": "openai", "model": "m"})
    with open_store(root / ".llmops" / "results.db") as store:
        for k in range(119):
            _write_run(store, f"run-{k:03d}", 1)
        _write_run(store, "old-run", 130)
    url, server, thread = start_viewer(root)
    try:
        pages = [get_json(f"{url}/api/runs?page={n}") for n in (1, 2, 3)]
        assert [len(p["runs"]) for p in pages] == [50, 50, 20]
        assert [(p["has_prev"], p["has_next"]) for p in pages] == [
            (False, True), (True, True), (True, False)]
        seen = [r["run_id"] for p in pages for r in p["runs"]]
        assert len(set(seen)) == 120 and all(r["gate"] is None for r in pages[0]["runs"])
        status, html, _ = get(url + "/?suite=qa&page=2")
        assert status == 200 and 'rel="next"' in html and 'rel="prev"' in html
        # the filters stay on the next page
        assert re.search(r'rel="next" href="\?suite=qa&amp;[^"]*page=3"', html)

        data = get_json(url + "/api/runs/old-run")
        assert data["verdict"] is None and data["n_cases"] == 130
        assert len(data["cases"]) == 100 and data["has_next"]
        assert data["cases"][0]["vars"] == {"question": "q0?"}
        assert get_json(url + "/api/runs/old-run?page=2")["cases"][-1]["case_id"] == "case-129"
        status, html, _ = get(url + "/runs/old-run")
        assert status == 200 and "was not kept for this run" in html
        assert "llmops runs report old-run" in html
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)


def test_failing_cases_then_changed_ones_then_the_rest(tmp_path: Path) -> None:
    from llmops.store import CaseRecord, ResultRow, ScoreRow, open_store
    from tests.fixtures_eval import build_project

    # case 0 the same on both sides, case 1 passes on both with other values (changed),
    # case 2 fails on v2 (failing): shown 2, 1, 0
    values = {"v1": [0.9, 0.9, 0.9], "v2": [0.9, 0.6, 0.1]}
    root = build_project(tmp_path / "p", {"kind": "openai", "model": "m"})
    with open_store(root / ".llmops" / "results.db") as store:
        store.create_run("r", "qa", n_cases=3, repeat=1)
        store.add_cases([CaseRecord(f"{i:064d}", f"case-{i}") for i in range(3)])
        for version, vals in values.items():
            vid = store.add_variant("r", prompt="qa", version=version, digest=version * 32,
                                    model="m", params={}, provider="openai")
            ids = store.write_results("r", [ResultRow(vid, f"case-{i}", f"{i:064d}", 0, "out",
                                                      5.0, case_index=i) for i in range(3)])
            store.write_scores([ScoreRow(rid, "similarity", "1", {}, v, v >= 0.5)
                                for rid, v in zip(ids, vals, strict=True)])
        store.finish_run("r")
    url, server, thread = start_viewer(root)
    try:
        cases = get_json(url + "/api/runs/r")["cases"]
        assert [(c["case_id"], c["failing"], c["changed"]) for c in cases] == [
            ("case-2", True, True), ("case-1", False, True), ("case-0", False, False)]
        assert [c["case_id"] for c in get_json(url + "/api/runs/r?status=changed")[
            "cases"]] == ["case-2", "case-1"]
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)


def test_run_page_filters(viewer: Viewer) -> None:
    base = f"{viewer.url}/api/runs/{viewer.run_ids[0]}"
    # on guardrails only the hostile case fails (an e-mail address): it comes first,
    # though it is the last case of the eval set
    guarded = get_json(base + "?scorer=guardrails")
    assert guarded["shown_scorers"] == ["guardrails"] and guarded["n_matching"] == 12
    assert [c["case_id"] for c in guarded["cases"]][:2] == ["case-hostile", "case-00"]
    assert [c["case_id"] for c in get_json(base + "?scorer=guardrails&status=fail")[
        "cases"]] == ["case-hostile"]
    assert get_json(base + "?scorer=guardrails&status=pass")["n_matching"] == 11
    assert get_json(base + "?status=pass")["n_matching"] == 0
    assert get_json(base + "?status=fail")["n_matching"] == 12
    found = get_json(base + "?q=number+7")
    assert [c["case_id"] for c in found["cases"]] == ["case-07"]
    # a search sees masked text only: the raw address finds nothing
    assert get_json(base + "?q=alice@example.com")["n_matching"] == 0


def test_html_is_escaped_and_locked_down(viewer: Viewer) -> None:
    status, html, headers = get(f"{viewer.url}/runs/{viewer.run_ids[0]}")
    assert status == 200
    assert "<script>window.__pwned" not in html and 'onerror="window' not in html
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in html
    assert "alice@example.com" not in html
    assert "script-src 'self'" in headers["content-security-policy"]
    # nothing loaded from elsewhere: every src, href and form action is a local path
    assert re.findall(r'(?:src|href|action)="(?!/|\?|#)', html) == []
    css = get(viewer.url + "/static/view.css")[1]
    assert "url(" not in css and "@import" not in css and "@font-face" not in css


def test_unknown_run_is_a_404_page(viewer: Viewer) -> None:
    status, html, _ = get(viewer.url + "/runs/no-such-run")
    assert status == 404 and "Not found" in html and "no run &#39;no-such-run&#39;" in html
    assert "Traceback" not in html
    status, body, _ = get(viewer.url + "/api/runs/no-such-run")
    assert status == 404 and json.loads(body)["error"] == "not_found"
    assert get(viewer.url + "/no/such/page")[0] == 404


def test_compare_versions_in_a_run(viewer: Viewer) -> None:
    run_id = viewer.run_ids[0]
    data = get_json(f"{viewer.url}/api/compare?a=qa@v1&b=qa@v2&run={run_id}")
    assert any("upper" in line for line in data["messages"])
    comp = data["results"]["comparisons"][0]
    assert comp["scorer"] == "exact" and comp["verdict"] == "regressed"
    assert comp["delta"] == pytest.approx(-1.0)
    assert len(data["results"]["cases"]) == 12
    case = next(c for c in data["results"]["cases"] if c["case_id"] == "case-03")
    assert {"op": "del", "text": "question"} in case["words"]
    assert {"op": "ins", "text": "QUESTION"} in case["words"]
    # labels name the same versions: production is v1, staging v2
    by_label = get_json(f"{viewer.url}/api/compare?a=qa@production&b=qa@staging&run={run_id}")
    assert by_label["messages"] == data["messages"]
    assert by_label["results"]["comparisons"] == data["results"]["comparisons"]


def test_compare_two_runs_and_bad_compare(viewer: Viewer) -> None:
    a, b = viewer.run_ids
    data = get_json(f"{viewer.url}/api/compare?run_a={a}&run_b={b}")
    assert [c["delta"] for c in data["results"]["comparisons"]] == [0, 0, 0]
    assert data["results"]["cases"] == []
    status, body, _ = get(viewer.url + "/api/compare?a=qa@v1&b=qa@v9")
    assert status == 400 and "v9" in json.loads(body)["message"]
    assert get(viewer.url + "/compare")[0] == 400


def test_history_and_guard_pages(viewer: Viewer) -> None:
    data = get_json(viewer.url + "/api/history/qa")
    assert data["runs"] == viewer.run_ids
    assert {(p["version"], p["mean"]) for p in data["points"] if p["scorer"] == "exact"} == {
        ("v1", 1.0), ("v2", 0.0)}
    status, html, _ = get(viewer.url + "/history/qa")
    assert status == 200 and "<svg" in html and "<polyline" in html
    assert get_json(viewer.url + "/api/guard")["scans"] == []
    assert "No guard scan stored yet" in get(viewer.url + "/guard")[1]


def test_without_a_store_the_page_says_how_to_make_one(tmp_path: Path) -> None:
    from tests.fixtures_eval import build_project

    root = build_project(tmp_path / "p", {"kind": "openai", "model": "m"})
    url, server, thread = start_viewer(root)
    try:
        status, html, _ = get(url + "/")
        assert status == 200 and "llmops eval" in html
        assert not (root / ".llmops" / "results.db").exists()  # read-only: nothing created
    finally:
        server.should_exit = True  # type: ignore[attr-defined]
        thread.join(timeout=10)


def test_cli_port_in_use_exits_2_with_one_line(tmp_path: Path) -> None:
    from tests.fixtures_eval import build_project

    root = build_project(tmp_path / "p", {"kind": "openai", "model": "m"})
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        r = subprocess.run([*LLMOPS, "-C", str(root), "view",
                            "--port", str(port)], capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    assert len(r.stderr.strip().splitlines()) == 1 and str(port) in r.stderr


def listening_on(port: int) -> set[str]:
    """The IPv4 addresses a socket listens on at ``port``, from the kernel's table."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_cli_serves_until_stopped(tmp_path: Path) -> None:
    from tests.fixtures_eval import build_project
    from tests.fixtures_servers import free_port

    root = build_project(tmp_path / "p", {"kind": "openai", "model": "m"})
    port = free_port()
    proc = subprocess.Popen([*LLMOPS, "-C", str(root), "view",
                             "--port", str(port)], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        assert f"http://127.0.0.1:{port}/" in proc.stdout.readline()
        deadline = time.monotonic() + 20
        while True:
            try:
                status, html, _ = get(f"http://127.0.0.1:{port}/api/runs")
                break
            except OSError:
                assert time.monotonic() < deadline
                time.sleep(0.1)
        assert status == 200 and json.loads(html)["error"] == "no_store"
        assert listening_on(port) == {"127.0.0.1"}  # loopback only, unless --host says
        proc.send_signal(signal.SIGINT)  # Ctrl-C: a clean stop, exit 0
        assert proc.wait(timeout=20) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=20)
