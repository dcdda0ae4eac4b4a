"""The results store on both backends: migrations, run status, concurrent writers.

Every test that takes ``backend`` runs on a SQLite file and on a real PostgreSQL server
(``tests/fixtures_postgres.py``).
"""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import UserError
from llmops.store import (
    CaseRecord,
    GuardScanRecord,
    ResultRow,
    ScoreRow,
    StoreLocation,
    now_iso,
    open_store,
)
from llmops.store.migrations import MIGRATIONS
from llmops.store.queries import SqlStore
from llmops.store.sqlite import SqliteStore


@pytest.fixture(params=["sqlite", "postgresql"])
def location(request: pytest.FixtureRequest, tmp_path: Path) -> StoreLocation:
    """A blank store's location on each backend."""
    if request.param == "sqlite":
        return StoreLocation("sqlite", str(tmp_path / "r.db"))
    url: str = request.getfixturevalue("postgres_url")
    return StoreLocation("postgresql", url)


def _open(location: StoreLocation) -> SqlStore:
    store = open_store(location)
    assert isinstance(store, SqlStore)
    return store


@pytest.fixture
def store(location: StoreLocation) -> Iterator[SqlStore]:
    with _open(location) as opened:
        yield opened


def _one(store: SqlStore, sql: str, args: tuple[Any, ...] = ()) -> Any:
    return next(iter(store.conn.query(sql, args)[0].values()))


def test_migrations_from_a_blank_store(location: StoreLocation) -> None:
    with _open(location) as store:
        names = [r["name"] for r in store.conn.query("select name from _migrations")]
        assert sorted(names) == sorted(m.__name__ for m in MIGRATIONS)
        for table in ("runs", "variants", "results", "scores", "guard_scans", "case_inputs"):
            assert store.conn.has_table(table), table
    # Opening again applies nothing twice.
    with _open(location) as store:
        assert _one(store, "select count(*) from _migrations") == len(MIGRATIONS)


def test_sqlite_store_is_wal_with_a_busy_timeout(tmp_path: Path) -> None:
    with SqliteStore(tmp_path / "r.db") as store:
        assert store.db.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert store.db.execute("pragma busy_timeout").fetchone()[0] == 30000


def test_a_new_migration_is_applied_on_open(location: StoreLocation) -> None:
    _open(location).close()

    def m999_extra(ddl: Callable[[str], None]) -> None:
        ddl("alter table runs add column note text")

    MIGRATIONS.append(m999_extra)
    try:
        with _open(location) as store:
            store.conn.execute("update runs set note = 'x' where run_id = 'none'")
            assert _one(store, "select count(*) from _migrations where name = 'm999_extra'") == 1
    finally:
        MIGRATIONS.remove(m999_extra)


def test_a_store_from_a_newer_llmops_is_refused_and_left_alone(location: StoreLocation) -> None:
    with _open(location) as store:
        store.conn.execute("insert into _migrations values ('m999_future', '2030-01-01')")
        before = sorted(r["name"] for r in store.conn.query("select name from _migrations"))
    with pytest.raises(UserError, match="upgrade llmops"):
        _open(location)
    if location.backend == "sqlite":
        db = sqlite3.connect(location.path)
        after = sorted(r[0] for r in db.execute("select name from _migrations"))
        db.close()
    else:
        import psycopg

        with psycopg.connect(location.target) as db:
            after = sorted(r[0] for r in db.execute("select name from _migrations"))
    assert after == before


def test_a_newer_schema_file_is_not_touched(tmp_path: Path) -> None:
    path = tmp_path / "r.db"
    SqliteStore(path).close()
    with sqlite3.connect(path) as db:
        db.execute("insert into _migrations values ('m999_future', '2030-01-01')")
    db.close()
    before = path.read_bytes()
    with pytest.raises(UserError, match="upgrade llmops"):
        SqliteStore(path)
    assert path.read_bytes() == before


def test_not_a_database_is_a_user_error(tmp_path: Path) -> None:
    bad = tmp_path / "r.db"
    bad.write_text("this is not sqlite" * 100)
    with pytest.raises(UserError, match="not a usable results store"):
        SqliteStore(bad)


def _run_with_results(store: SqlStore, run_id: str, n: int) -> int:
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


def test_results_upsert_never_duplicates(store: SqlStore) -> None:
    vid = _run_with_results(store, "r1", 3)
    # An errored attempt is replaced by a later success, in place.
    store.write_results("r1", [ResultRow(vid, "c9", "d", 0, None, None, error="boom")])
    assert "c9" not in {k[1] for k in store.done_keys("r1")}
    [rid] = store.write_results("r1", [ResultRow(vid, "c9", "d", 0, "fine", 2.0)])
    assert store.count_results("r1") == 4
    assert (vid, "c9", 0) in store.done_keys("r1")
    unscored = [r.result_id for rows in store.unscored(vid, ["exact"]) for r in rows]
    assert unscored == [rid]


def test_a_large_batch_gets_each_rows_id_in_order(store: SqlStore) -> None:
    vid = _run_with_results(store, "r1", 0)
    # Over one statement's worth of rows, given out of case order, one key twice.
    rows = [ResultRow(vid, f"c{i}", "d", 0, f"out {i}", 1.0) for i in reversed(range(1203))]
    rows.append(ResultRow(vid, "c7", "d", 0, "out 7, again", 2.0))
    ids = store.write_results("r1", rows)
    assert len(ids) == 1204 and len(set(ids)) == 1203 and ids[-1] == ids[1203 - 1 - 7]
    stored = {r.result_id: r for r in store.results(vid)}
    assert all(stored[i].case_id == row.case_id for i, row in zip(ids, rows, strict=True))
    assert stored[ids[-1]].output == "out 7, again"  # the last of a key given twice wins
    assert store.count_results("r1") == 1203


def test_a_rescore_replaces_the_score_in_place(store: SqlStore) -> None:
    vid = _run_with_results(store, "r1", 2)
    first, second = (r.result_id for r in store.results(vid))
    # A scorer's later score replaces its earlier one; given twice, the last one stays.
    store.write_scores([ScoreRow(first, "exact", "2", {"k": 1}, 0.25, False, None, {"why": "a"}),
                        ScoreRow(first, "exact", "2", {"k": 2}, 0.5, False, None, None),
                        ScoreRow(second, "judge", "1", {}, None, None, "judge down")])
    scores = {r.result_id: r.scores for r in store.results(vid)}
    assert scores[first]["exact"].value == 0.5 and scores[first]["exact"].details is None
    assert scores[second]["exact"].value == 1.0  # untouched
    assert scores[second]["judge"].error == "judge down"
    assert _one(store, "select count(*) from scores") == 3


def test_a_batch_that_fails_writes_nothing_and_the_next_one_only_its_own(
    store: SqlStore,
) -> None:
    vid = _run_with_results(store, "r1", 2)
    first, second = (r.result_id for r in store.results(vid))
    bad = [ScoreRow(first, "judge", "1", {}, 0.5, True),
           ScoreRow(second, "judge", None, {}, 0.5, True)]  # type: ignore[arg-type]
    with pytest.raises(Exception, match=r"(?i)null"):  # scorer_version may not be null
        store.write_scores(bad)
    assert _one(store, "select count(*) from scores where scorer = 'judge'") == 0
    store.write_scores([ScoreRow(second, "judge", "1", {}, 1.0, True)])
    rows = store.conn.query("select result_id, value from scores where scorer = 'judge'")
    assert [(r["result_id"], r["value"]) for r in rows] == [(second, 1.0)]


def test_results_and_figures_read_back(store: SqlStore) -> None:
    vid = _run_with_results(store, "r1", 4)
    got = list(store.results(vid))
    assert [r.case_id for r in got] == ["c0", "c1", "c2", "c3"]
    assert [r.output for r in got] == ["out 0", "out 1", "out 2", "out 3"]
    figures = store.variant_figures(vid, ["exact"])
    assert figures is not None
    [variant] = store.variants("r1")
    assert variant.params == {"temperature": 0} and variant.model == "m"
    assert len(list(store.export_rows("r1"))) == 4
    history = store.prompt_history("p")
    assert [h.run_id for h in history] == ["r1"]


def test_run_status_running_finished_interrupted(store: SqlStore) -> None:
    store.create_run("mine", "s")
    assert store.run("mine").status == "running"
    store.finish_run("mine")
    assert store.run("mine").status == "finished"
    # A run whose process is gone shows as interrupted.
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    store.create_run("dead", "s")
    store.conn.execute(
        "update runs set pid = ?, proc_start = null where run_id = 'dead'", (proc.pid,)
    )
    assert store.run("dead").status == "interrupted"
    # A reused pid (same pid, different start time) is not the run's process.
    store.create_run("reused", "s")
    store.conn.execute("update runs set proc_start = 'x' where run_id = 'reused'")
    assert store.run("reused").status == "interrupted"
    assert next(r.run_id for r in store.runs()) == "reused"  # newest first
    assert store.count_runs() == 3
    with pytest.raises(UserError, match="no run 'nope'"):
        store.run("nope")


WRITER = textwrap.dedent(
    """
    import sys
    from llmops.store import ResultRow, ScoreRow
    from pathlib import Path
    from llmops.store import locate, open_store
    where, run_id, n = sys.argv[1], sys.argv[2], int(sys.argv[3])
    store = open_store(locate(where, Path.cwd(), environ={}))
    store.create_run(run_id, "s")
    vid = store.add_variant(run_id, prompt="p", version="v1", digest="d", model="m",
                            params={}, provider="x")
    for i in range(n):
        [rid] = store.write_results(run_id, [ResultRow(vid, f"c{i}", "d", 0, "o", 1.0)])
        store.write_scores([ScoreRow(rid, "exact", "1", {}, 1.0, True)])
    store.finish_run(run_id)
    """
)


def test_processes_writing_at_once_lose_nothing(location: StoreLocation) -> None:
    # A blank store: the processes race to migrate it too.
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, location.target, f"run{i}", "400"],
            env=env,
            stderr=subprocess.PIPE,
        )
        for i in range(3)
    ]
    for p in procs:
        _, err = p.communicate(timeout=120)
        assert p.returncode == 0, err.decode()
    with _open(location) as store:
        for i in range(3):
            assert store.count_results(f"run{i}") == 400
            assert store.run(f"run{i}").status == "finished"
        assert _one(store, "select count(*) from scores") == 1200
        assert _one(store, "select count(*) from _migrations") == len(MIGRATIONS)


def test_guard_scan_history(location: StoreLocation) -> None:
    with _open(location) as store:
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


def test_case_inputs_are_kept_once_per_case_digest(location: StoreLocation) -> None:
    with _open(location) as store:
        vid = _run_with_results(store, "r1", 2)
        [digest] = {r.case_digest for r in store.results(vid)}
        case = CaseRecord(case_digest=digest, case_id="c0", vars={"q": "Hi <b>"},
                          expected="Hello", tags=["greet"])
        store.add_cases([case])
        store.add_cases([CaseRecord(case_digest=digest, case_id="c0", vars={"q": "other"})])
        got = store.case_inputs(vid)
        assert got["c0"] == case  # the first one kept: a digest names one content
        assert store.case_inputs(vid + 1) == {}


def test_where_the_store_is_llmops_store_wins_and_empty_counts_as_unset(tmp_path: Path) -> None:
    from llmops.errors import ConfigError
    from llmops.store import locate

    url = "postgresql://team:pw-123456789@db.example.com:5433/llmops"
    assert locate(".llmops/results.db", tmp_path, environ={}) == StoreLocation(
        "sqlite", str(tmp_path / ".llmops/results.db"), "store")
    from_yaml = locate(url, tmp_path, environ={})
    assert (from_yaml.backend, from_yaml.target, from_yaml.source) == ("postgresql", url,
                                                                       "store")
    from_env = locate(".llmops/results.db", tmp_path, environ={"LLMOPS_STORE": url})
    assert (from_env.backend, from_env.source) == ("postgresql", "LLMOPS_STORE")
    assert from_env.where == "postgresql://team:***@db.example.com:5433/llmops"
    assert str(from_env) == from_env.where and "pw-123456789" not in repr(from_env.where)
    # An unset secret in CI expands to "": the file named in llmops.yaml.
    assert locate("r.db", tmp_path, environ={"LLMOPS_STORE": ""}).backend == "sqlite"
    env_file = locate(url, tmp_path, environ={"LLMOPS_STORE": "/data/team.db"})
    assert (env_file.backend, env_file.target) == ("sqlite", "/data/team.db")
    assert locate("postgres://u@h/db", tmp_path, environ={}).backend == "postgresql"
    with pytest.raises(ConfigError, match=r"^LLMOPS_STORE: unknown store URL scheme 'mysql'"):
        locate("r.db", tmp_path, environ={"LLMOPS_STORE": "mysql://u:pw-123456789@h/db"})
    with pytest.raises(ConfigError, match=r"^store: the URL names no database") as exc:
        locate("postgresql://u:pw-123456789@h:5432/", tmp_path, environ={})
    assert "pw-123456789" not in str(exc.value)


def test_without_psycopg_a_postgresql_store_names_the_extra(monkeypatch: pytest.MonkeyPatch
                                                            ) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)
    with pytest.raises(UserError, match=r"psycopg.*llmops-prompts\[postgres\]") as exc:
        open_store(StoreLocation("postgresql", "postgresql://u@127.0.0.1:1/db"))
    assert exc.value.exit_code == 2
