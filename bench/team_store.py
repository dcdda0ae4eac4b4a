"""A PostgreSQL team store: concurrent writers, per-case overhead against SQLite, history.

Starts a throw-away PostgreSQL server (Debian's ``postgresql`` binaries, as in the
tests) and ``tests/openai_server.py`` at 0 ms latency, then:

1. four ``llmops eval`` processes of 200 cases each at once, all on one database:
   results stored, lost and duplicated;
2. llmops's own cost per case with an instant model (``eval_speed.runner_overhead``) on
   SQLite and on PostgreSQL, and their ratio (goal ≤ 1.5×): each measured in a fresh
   process, the two backends alternating, ``--rounds`` times; the medians are compared,
   as this machine's timings drift from one minute to the next;
3. ``runs history`` (the store query and its report model) over 1,000 stored runs, on
   both backends (goal < 1 s).

Prints the figures. Usage: ``python bench/team_store.py [--overhead-cases 5000]
[--rounds 5]``.
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from eval_speed import KEY, LLMOPS, Server, project, runner_overhead  # noqa: E402

from tests.fixtures_postgres import PostgresServer, _bindir, _start, _stop  # noqa: E402
from tests.fixtures_servers import free_port  # noqa: E402


def concurrent_evals(tmp: Path, url: str, base_url: str, n: int = 200, k: int = 4) -> str:
    roots = [project(tmp, f"writer{i}", base_url, n) for i in range(k)]
    env = {**os.environ, "BENCH_KEY": KEY, "LLMOPS_STORE": url}
    start = time.perf_counter()
    procs = [subprocess.Popen([LLMOPS, "--project", str(r), "eval", "qa", "--no-cache",
                               "--concurrency", "32", "--format", "none"], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
             for r in roots]
    codes = [p.wait() for p in procs]
    wall = time.perf_counter() - start
    import psycopg

    with psycopg.connect(url) as db:
        def one(sql: str) -> int:
            row = db.execute(sql).fetchone()
            return int(row[0]) if row else 0

        stored = one("select count(*) from results where error is null")
        runs = one("select count(*) from runs where status = 'finished'")
        dupes = one("select count(*) from (select 1 from results group by variant_id,"
                    " case_id, repeat_index having count(*) > 1) d")
    lost = k * n - stored
    return (f"{k} concurrent evals x {n} cases on one PostgreSQL: exit codes {codes}, "
            f"{runs} runs finished, {stored} results stored, {lost} lost, {dupes} duplicated"
            f" ({wall:.1f} s)")


def fill(url_or_path: str, n_runs: int = 1000, n_cases: int = 10) -> None:
    from llmops.store import ResultRow, ScoreRow, locate, open_store

    with open_store(locate(url_or_path, Path.cwd(), environ={})) as store:
        for i in range(n_runs):
            run_id = f"run{i:05d}"
            store.create_run(run_id, "qa", evalset_digest="d")
            vid = store.add_variant(run_id, prompt="qa", version=f"v{i % 7}", digest="x",
                                    model="m", params={}, provider="p")
            ids = store.write_results(run_id, [ResultRow(vid, f"c{j}", "d", 0, "o", 1.0)
                                               for j in range(n_cases)])
            store.write_scores([ScoreRow(r, "exact", "1", {}, 1.0, True) for r in ids])
            store.finish_run(run_id)


def history_s(where: str) -> float:
    from llmops.reports.history import history_from_store
    from llmops.store import locate, open_store

    best = 1e9
    for _ in range(3):
        start = time.perf_counter()
        with open_store(locate(where, Path.cwd(), environ={})) as store:
            points = history_from_store(store, "qa", limit=1000).points
        best = min(best, time.perf_counter() - start)
    assert len(points) == 1000, len(points)
    return best


def overhead_ms(tmp: Path, n: int, store_url: str | None) -> float:
    """``runner_overhead`` in a fresh process, on SQLite or on ``store_url``."""
    env = {k: v for k, v in os.environ.items() if k != "LLMOPS_STORE"}
    if store_url is not None:
        env["LLMOPS_STORE"] = store_url
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # compiled once, as an installed package is
    done = subprocess.run([sys.executable, __file__, "--overhead-once", str(tmp), str(n)],
                          env=env, capture_output=True, text=True, check=True)
    return float(done.stdout.strip().splitlines()[-1])


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--overhead-cases", type=int, default=5000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--overhead-once", nargs=2, metavar=("DIR", "CASES"),
                    help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.overhead_once:
        # A short run first: what loads on first use (templates, scorers, the driver's
        # statements) is not the per-case cost.
        where = Path(args.overhead_once[0])
        runner_overhead(where / "warm-up", 200, run_id="warm-up")
        print(runner_overhead(where / "measured", int(args.overhead_once[1])))
        return 0
    bindir = _bindir()
    if bindir is None:
        raise SystemExit("PostgreSQL binaries not found: apt-get install postgresql")
    datadir = Path(tempfile.mkdtemp(prefix="llmops-pg-bench-"))
    if os.geteuid() == 0:
        shutil.chown(datadir, "postgres", "postgres")
    pg = PostgresServer(bindir, datadir, free_port(), itertools.count())
    _start(bindir, datadir, pg.port)
    server = Server(0)
    try:
        with tempfile.TemporaryDirectory() as tmp_dir:
            tmp = Path(tmp_dir)
            print(concurrent_evals(tmp, pg.create_database(), server.base_url), flush=True)
            sqlite_runs, pg_runs = [], []
            for i in range(args.rounds):
                sqlite_runs.append(overhead_ms(tmp / f"sqlite{i}", args.overhead_cases, None))
                pg_runs.append(overhead_ms(tmp / f"pg{i}", args.overhead_cases,
                                           pg.create_database()))
            sqlite_ms, pg_ms = statistics.median(sqlite_runs), statistics.median(pg_runs)
            print(f"per-case overhead ({args.overhead_cases} cases, instant model, median of "
                  f"{args.rounds} alternating runs): SQLite {sqlite_ms:.3f} ms, PostgreSQL "
                  f"{pg_ms:.3f} ms: {pg_ms / sqlite_ms:.2f}x (runs: SQLite "
                  f"{', '.join(f'{x:.3f}' for x in sqlite_runs)}; PostgreSQL "
                  f"{', '.join(f'{x:.3f}' for x in pg_runs)})", flush=True)
            db = str(tmp / "history.db")
            url = pg.create_database()
            for where in (db, url):
                fill(where)
            print(f"runs history over 1,000 runs: SQLite {history_s(db):.3f} s, "
                  f"PostgreSQL {history_s(url):.3f} s", flush=True)
    finally:
        server.stop()
        _stop(bindir, datadir)
        shutil.rmtree(datadir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
