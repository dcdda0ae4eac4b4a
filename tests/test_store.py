"""The results store: migrations from a blank file, run status, concurrent writers."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from llmops.errors import UserError
from llmops.store import CaseRecord, GuardScanRecord, ResultRow, ScoreRow, now_iso
from llmops.store.migrations import MIGRATIONS
from llmops.store.sqlite import SqliteStore


def test_migrations_from_a_blank_file(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    with SqliteStore(path) as store:
        names = [r[0] for r in store.db.execute("select name from _migrations order by name")]
        assert names == sorted(m.__name__ for m in MIGRATIONS)
        tables = {
            r[0] for r in store.db.execute("select name from sqlite_master where type='table'")
        }
        assert {"runs", "variants", "results", "scores", "guard_scans", "_migrations"} <= tables
        assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("pragma busy_timeout").fetchone()[0] == 30000
    # Opening again applies nothing twice.
    with SqliteStore(path) as store:
        assert store.db.execute("select count(*) from _migrations").fetchone()[0] == len(MIGRATIONS)


def test_a_new_migration_is_applied_on_open(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteStore(path).close()

    def m999_extra(ddl: Callable[[str], None]) -> None:
        ddl("alter table runs add column note text")

    MIGRATIONS.append(m999_extra)
    try:
        with SqliteStore(path) as store:
            cols = {r[1] for r in store.db.execute("pragma table_info(runs)")}
            assert "note" in cols
            assert (
                store.db.execute(
                    "select count(*) from _migrations where name = 'm999_extra'"
                ).fetchone()[0]
                == 1
            )
    finally:
        MIGRATIONS.remove(m999_extra)


def test_a_store_from_a_newer_llmops_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("insert into _migrations values ('m999_future', '2030-01-01')")
    before = path.read_bytes()
    with pytest.raises(UserError, match="upgrade llmops"):
        SqliteStore(path)
    assert path.read_bytes() == before


def test_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a usable results store"):
        SqliteStore(bad)


def _run_with_results(store: SqliteStore, run_id: str, n: int) -> int:
    store.create_run(run_id, "s", repeat=1, evalset_digest="d")
    vid = store.add_variant(
        run_id,
        prompt="p",
        version="v1",
        digest="x" * 64,
        model="m",
        params={"temperature": 0},
        provider="fake",
    )
    rows = [ResultRow(vid, f"c{i}", "d", 0, f"out {i}", 1.0 + i) for i in range(n)]
    ids = store.write_results(run_id, rows)
    store.write_scores([ScoreRow(i, "exact", "1", {}, 1.0, True) for i in ids])
    return vid


def test_results_upsert_never_duplicates(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as store:
        vid = _run_with_results(store, "r1", 3)
        # An errored attempt is replaced by a later success, in place.
        store.write_results("r1", [ResultRow(vid, "c9", "d", 0, None, None, error="boom")])
        assert "c9" not in {k[1] for k in store.done_keys("r1")}
        [rid] = store.write_results("r1", [ResultRow(vid, "c9", "d", 0, "fine", 2.0)])
        assert store.count_results("r1") == 4
        assert (vid, "c9", 0) in store.done_keys("r1")
        unscored = [r.result_id for rows in store.unscored(vid, ["exact"]) for r in rows]
        assert unscored == [rid]


def test_run_status_running_finished_interrupted(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as store:
        store.create_run("mine", "s")
        assert store.run("mine").status == "running"
        store.finish_run("mine")
        assert store.run("mine").status == "finished"
        # A run whose process is gone shows as interrupted.
        proc = subprocess.Popen([sys.executable, "-c", "pass"])
        proc.wait()
        store.create_run("dead", "s")
        store.db.execute(
            "update runs set pid = ?, proc_start = null where run_id = 'dead'", (proc.pid,)
        )
        assert store.run("dead").status == "interrupted"
        # A reused pid (same pid, different start time) is not the run's process.
        store.create_run("reused", "s")
        store.db.execute("update runs set proc_start = 'x' where run_id = 'reused'")
        assert store.run("reused").status == "interrupted"
        assert next(r.run_id for r in store.runs()) == "reused"  # newest first
        with pytest.raises(UserError, match="no run 'nope'"):
            store.run("nope")


WRITER = textwrap.dedent(
    """
    import sys
    from llmops.store import ResultRow, ScoreRow
    from llmops.store.sqlite import SqliteStore
    path, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = SqliteStore(path)
    store.create_run(run_id, "s")
    vid = store.add_variant(run_id, prompt="p", version="v1", digest="d", model="m",
                            params={}, provider="x")
    for i in range(n):
        [rid] = store.write_results(run_id, [ResultRow(vid, f"c{i}", "d", 0, "o", 1.0)])
        store.write_scores([ScoreRow(rid, "exact", "1", {}, 1.0, True)])
    store.finish_run(run_id)
    """
)


def test_two_processes_writing_at_once_lose_nothing(tmp_path: Path) -> None:
    path = tmp_path / "shared.db"  # blank: both processes race to migrate it too
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(path), f"run{i}", "400"],
            env=env,
            stderr=subprocess.PIPE,
        )
        for i in range(2)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with SqliteStore(path) as store:
        for i in range(2):
            assert store.count_results(f"run{i}") == 400
            assert store.run(f"run{i}").status == "finished"
        assert store.db.execute("select count(*) from scores").fetchone()[0] == 800
        assert store.db.execute("select count(*) from _migrations").fetchone()[0] == len(MIGRATIONS)


def test_guard_scan_history(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as store:
        store.add_guard_scan(GuardScanRecord(
            scanned_at="2026-11-25T03:00:00.000+00:00", day="2026-11-25",
            paths=["logs/a.jsonl"], records_scanned=10, bad_records=1, findings=3,
            counts={"pii": 2, "secrets": 1}, by_version={"support@v2": {"pii": 2}},
            records_without_text=4,
            by_shape={"langfuse": {"records": 6, "records_without_text": 4}},
        ))
        store.add_guard_scan(GuardScanRecord(
            scanned_at=now_iso(), day=now_iso()[:10], paths=["logs/b.jsonl"],
            records_scanned=5, bad_records=0, findings=0, counts={}, by_version={},
        ))
        scans = store.guard_scans()
        assert len(scans) == 2
        old = scans[1]
        assert old.day == "2026-11-25" and old.counts == {"pii": 2, "secrets": 1}
        assert old.by_version == {"support@v2": {"pii": 2}} and old.paths == ["logs/a.jsonl"]
        assert old.records_without_text == 4
        assert old.by_shape == {"langfuse": {"records": 6, "records_without_text": 4}}
        assert scans[0].records_without_text == 0 and scans[0].by_shape == {}


def test_case_inputs_are_kept_once_per_case_digest(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as store:
        vid = _run_with_results(store, "r1", 2)
        [digest] = {r.case_digest for r in store.results(vid)}
        case = CaseRecord(case_digest=digest, case_id="c0", vars={"q": "Hi <b>"},
                          expected="Hello", tags=["greet"])
        store.add_cases([case])
        store.add_cases([CaseRecord(case_digest=digest, case_id="c0", vars={"q": "other"})])
        got = store.case_inputs(vid)
        assert got["c0"] == case  # the first one kept: a digest names one content
        assert store.case_inputs(vid + 1) == {}
