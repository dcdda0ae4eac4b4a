"""``llmops view`` speed: a store of 1,000 runs x 200 cases (goals: the runs page and a run
page under 300 ms each, a comparison of two 1,000-case variants under 1 s).

The store is written directly with the store API (no model calls), then the pages are
fetched over HTTP from a real uvicorn server, as a browser would. Times are the median of
``--repeat`` fetches after one warm-up fetch.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import shutil
import statistics
import threading
import time
import urllib.request
from pathlib import Path

import yaml

from llmops.store import CaseRecord, ResultRow, ScoreRow, open_store

WORDS = ("refund", "order", "parcel", "delivery", "days", "policy", "customer", "return",
         "label", "warehouse", "please", "thanks", "within", "receipt", "exchange", "size",
         "colour", "store", "online", "account")
SCORERS = ("exact", "similarity")


def _text(rng: random.Random, n: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(n))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def _write_variant(store: object, run_id: str, version: str, role: str, n_cases: int,
                   rng: random.Random) -> None:
    vid = store.add_variant(  # type: ignore[attr-defined]
        run_id, prompt="support_answer", version=version, digest=_digest(version),
        model="bench-model", params={"temperature": 0}, provider="openai", role=role)
    rows = [ResultRow(variant_id=vid, case_id=f"case-{i:05d}", case_digest=_digest(f"c{i}"),
                      repeat_index=0, output=_text(rng, 40) + (" mail bob@example.com"
                                                                if i % 50 == 0 else ""),
                      latency_ms=rng.uniform(200, 900), case_index=i)
            for i in range(n_cases)]
    ids = store.write_results(run_id, rows)  # type: ignore[attr-defined]
    scores = []
    for rid in ids:
        value = rng.random()
        scores.append(ScoreRow(rid, "similarity", "1", {"threshold": 0.5}, value, value >= 0.5,
                               details={"reason": _text(rng, 8)}))
        hit = rng.random() < 0.7
        scores.append(ScoreRow(rid, "exact", "1", {}, float(hit), hit))
    store.write_scores(scores)  # type: ignore[attr-defined]


def _write_run(store: object, run_id: str, suite: str, n_cases: int, versions: list[str],
               rng: random.Random) -> None:
    store.create_run(run_id, suite, evalset_digest=_digest(suite + str(n_cases)),  # type: ignore[attr-defined]
                     n_cases=n_cases, repeat=1, evalset_path=f"evalsets/{suite}.jsonl")
    for k, version in enumerate(versions):
        _write_variant(store, run_id, version, "baseline" if k == 0 else "candidate",
                       n_cases, rng)
    store.finish_run(run_id)  # type: ignore[attr-defined]
    if len(versions) == 2:  # the verdict `llmops eval` keeps: the gate and the comparisons
        passed = rng.random() < 0.8
        comparisons = [{"candidate": f"support_answer@{versions[1]}",
                        "baseline": f"support_answer@{versions[0]}", "scorer": s,
                        "delta": -0.01, "ci_low": -0.05, "ci_high": 0.03,
                        "verdict": "inconclusive", "n_shared": n_cases,
                        "baseline_mean": 0.6, "candidate_mean": 0.59,
                        "description": f"{s}: inconclusive"} for s in SCORERS]
        store.record_verdict(run_id, {  # type: ignore[attr-defined]
            "gate": {"passed": passed, "flags": [],
                     "reasons": [] if passed else ["exact: drop 0.060 > max_regression 0.05"]},
            "comparisons": comparisons, "exit_code": 0 if passed else 1})


def build(root: Path, n_runs: int, n_cases: int, big: int) -> None:
    """A project whose store holds ``n_runs`` runs x ``n_cases`` cases x 2 variants."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    (root / "llmops.yaml").write_text(yaml.safe_dump({
        "provider": {"kind": "openai", "model": "bench-model"},
        "store": "results.db", "suites": {}}))
    rng = random.Random(0)
    with open_store(root / "results.db") as store:
        store.add_cases([CaseRecord(_digest(f"c{i}"), f"case-{i:05d}",
                                    vars={"question": _text(rng, 12)}, expected=_text(rng, 10))
                         for i in range(max(n_cases, big))])
        for r in range(n_runs):
            _write_run(store, f"run-{r:05d}", "support", n_cases, ["v1", f"v{2 + r % 5}"], rng)
        for r in range(2):
            _write_run(store, f"big-{r}", "support-big", big, [f"v{7 + r}"], rng)


def serve(root: Path) -> str:
    import uvicorn

    from llmops.project import load_project
    from llmops.view.app import create_app
    from llmops.view.serve import bind

    sock = bind("127.0.0.1", 0)
    server = uvicorn.Server(uvicorn.Config(create_app(load_project(root)),
                                           log_level="warning", lifespan="off"))
    threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True).start()
    time.sleep(0.5)
    return f"http://127.0.0.1:{sock.getsockname()[1]}"


def fetch(url: str, repeat: int) -> tuple[float, int]:
    """Median seconds of ``repeat`` fetches (after one warm-up) and the page's size."""
    with urllib.request.urlopen(url, timeout=60) as r:
        size = len(r.read())
        assert r.status == 200, url
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        with urllib.request.urlopen(url, timeout=60) as r:
            r.read()
        times.append(time.perf_counter() - start)
    return statistics.median(times), size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--runs", type=int, default=1000)
    ap.add_argument("--cases", type=int, default=200)
    ap.add_argument("--big", type=int, default=1000, help="cases of the compared variants")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--dir", type=Path, default=Path("/tmp/llmops-bench-view"))
    ap.add_argument("--reuse", action="store_true", help="keep an existing store")
    args = ap.parse_args()
    if not (args.reuse and (args.dir / "results.db").exists()):
        start = time.perf_counter()
        build(args.dir, args.runs, args.cases, args.big)
        print(f"store: {args.runs} runs x {args.cases} cases x 2 variants (+2 runs of "
              f"{args.big} cases) written in {time.perf_counter() - start:.1f} s, "
              f"{(args.dir / 'results.db').stat().st_size / 1e6:.0f} MB")
    base = serve(args.dir)
    pages = [
        ("runs page (/)", "/", 0.3),
        ("runs page 10 (/?page=10)", "/?page=10", 0.3),
        ("runs page, prompt filter", "/?prompt=support_answer&since=2000-01-01", 0.3),
        ("runs page, date range", "/?since=2000-01-01&until=2999-12-31", 0.3),
        (f"run page ({args.cases} cases x 2 variants)", f"/runs/run-{args.runs // 2:05d}", 0.3),
        ("run page, failing only", f"/runs/run-{args.runs // 2:05d}?status=fail", 0.3),
        ("run page, text search", f"/runs/run-{args.runs // 2:05d}?q=refund+parcel", 0.3),
        ("/api/runs", "/api/runs", 0.3),
        (f"compare two runs ({args.big} cases each)", "/compare?run_a=big-0&run_b=big-1", 1.0),
        (f"/api/compare ({args.big} cases each)", "/api/compare?run_a=big-0&run_b=big-1", 1.0),
    ]
    print(f"median of {args.repeat} fetches over HTTP (uvicorn, one process); load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores before")
    for name, path, goal in pages:
        seconds, size = fetch(base + path, args.repeat)
        mark = "ok" if seconds < goal else "OVER"
        print(f"  {name:44} {1000 * seconds:7.1f} ms  {size / 1024:6.0f} KB  "
              f"(goal < {1000 * goal:.0f} ms: {mark})")
    print(f"load average {os.getloadavg()[0]:.1f} after")


if __name__ == "__main__":
    main()
