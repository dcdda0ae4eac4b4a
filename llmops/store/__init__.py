"""The results store: one SQLite file (WAL, busy timeout) holding every run.

Runs, their variants (prompt version + digest + model + params), one row per case
result (keyed on variant, case and repeat, so a resumed run cannot duplicate rows) and
one row per score. Several processes may write the same file at once: every write is a
short ``begin immediate`` transaction and readers never block writers.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from llmops.errors import RuntimeFailure, UserError
from llmops.store.migrations import migrate

__all__ = ["ResultRow", "RunInfo", "ScoreRow", "Store", "now_iso", "process_alive"]

BUSY_TIMEOUT_MS = 30_000


def now_iso() -> str:
    """Current UTC time, ISO 8601 with milliseconds; sorts as text."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _proc_start(pid: int) -> str | None:
    """The kernel's start time of ``pid`` (Linux), so a reused pid is told apart."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # Field 22 (starttime) counted after the parenthesised command name.
    return stat.rsplit(")", 1)[1].split()[19]


def process_alive(pid: int | None, host: str | None, proc_start: str | None) -> bool:
    """Whether the process that wrote a run is still running (only knowable on its host)."""
    if pid is None:
        return False
    if host != socket.gethostname():
        return True  # cannot look at another machine's processes: assume it still runs
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    if proc_start is not None:
        current = _proc_start(pid)
        if current is not None and current != proc_start:
            return False
    return True


@dataclass
class RunInfo:
    """One row of ``runs`` with its derived status."""

    run_id: str
    suite: str
    status: str
    started_at: str
    finished_at: str | None
    n_done: int
    meta: dict[str, Any]


@dataclass
class ResultRow:
    """One finished model call (or its error) for one case, variant and repeat."""

    variant_id: int
    case_id: str
    case_digest: str
    repeat_index: int
    output: str | None
    latency_ms: float | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cache_hit: bool = False
    error: str | None = None
    retrieved: list[dict[str, Any]] | None = None
    case_index: int = 0


@dataclass
class ScoreRow:
    """One scorer's verdict on one result."""

    result_id: int
    scorer: str  # the key in this run: the scorer's name, or name#n when repeated
    scorer_version: str
    args: dict[str, Any]
    value: float | None
    passed: bool | None
    error: str | None = None
    details: dict[str, Any] | None = None


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


class Store:
    """A connection to the results database; migrations run on open."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(
                self.path, isolation_level=None, timeout=BUSY_TIMEOUT_MS / 1000
            )
        except (OSError, sqlite3.Error) as exc:
            raise UserError(f"cannot open the results store: {exc}", file=self.path) from None
        self.db.row_factory = sqlite3.Row
        try:
            self.db.execute(f"pragma busy_timeout = {BUSY_TIMEOUT_MS}")
            self.db.execute("pragma journal_mode = wal")
            # WAL + NORMAL: a committed transaction survives the process being killed.
            self.db.execute("pragma synchronous = normal")
            self.db.execute("pragma foreign_keys = on")
            migrate(self.db)
        except sqlite3.DatabaseError as exc:
            self.db.close()
            raise UserError(
                f"not a usable results store: {exc}", file=self.path, hint="move it aside"
            ) from None

    def close(self) -> None:
        self.db.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        self.db.execute("begin immediate")
        try:
            self.db.executemany(sql, rows)
            self.db.execute("commit")
        except BaseException:
            self.db.execute("rollback")
            raise

    # --- runs -------------------------------------------------------------------------

    def create_run(self, run_id: str, suite: str, **meta: Any) -> None:
        """Record a new run as running by this process."""
        cols = ["run_id", "suite", "status", "started_at", "pid", "host", "proc_start"]
        vals: list[Any] = [run_id, suite, "running", now_iso(), *self._me()]
        for key, value in meta.items():
            cols.append(key)
            vals.append(value)
        marks = ", ".join("?" for _ in cols)
        self._write(f"insert into runs ({', '.join(cols)}) values ({marks})", [vals])

    def _me(self) -> tuple[int, str, str | None]:
        pid = os.getpid()
        return pid, socket.gethostname(), _proc_start(pid)

    def claim_run(self, run_id: str) -> None:
        """Mark a run as running again, by this process (resume)."""
        self._write(
            "update runs set status = 'running', finished_at = null, pid = ?, host = ?,"
            " proc_start = ? where run_id = ?",
            [(*self._me(), run_id)],
        )

    def finish_run(self, run_id: str, status: str = "finished") -> None:
        self._write(
            "update runs set status = ?, finished_at = ? where run_id = ?",
            [(status, now_iso(), run_id)],
        )

    def run(self, run_id: str) -> RunInfo:
        """One run; :class:`UserError` naming the known runs when it does not exist."""
        row = self.db.execute("select * from runs where run_id = ?", (run_id,)).fetchone()
        if row is None:
            raise UserError(f"no run {run_id!r} in the store", file=self.path,
                            hint="see `llmops runs list`")
        return self._run_info(row)

    def runs(self, limit: int | None = None) -> list[RunInfo]:
        """Every run, newest first."""
        sql = "select * from runs order by started_at desc, run_id desc"
        if limit:
            sql += f" limit {int(limit)}"
        return [self._run_info(r) for r in self.db.execute(sql).fetchall()]

    def _run_info(self, row: sqlite3.Row) -> RunInfo:
        meta = dict(row)
        status = meta["status"]
        if status == "running" and not process_alive(meta["pid"], meta["host"],
                                                      meta["proc_start"]):
            status = "interrupted"
        n_done = self.db.execute(
            "select count(*) from results where run_id = ? and error is null", (row["run_id"],)
        ).fetchone()[0]
        return RunInfo(
            run_id=meta.pop("run_id"),
            suite=meta.pop("suite"),
            status=status,
            started_at=meta.pop("started_at"),
            finished_at=meta.pop("finished_at"),
            n_done=n_done,
            meta=meta,
        )

    # --- variants ---------------------------------------------------------------------

    def add_variant(
        self,
        run_id: str,
        *,
        prompt: str,
        version: str,
        digest: str,
        model: str | None,
        params: dict[str, Any],
        provider: str | None,
        role: str = "candidate",
        origin: str | None = None,
    ) -> int:
        """Record a variant of a run; returns its id.

        ``origin`` says where a baseline's prompt came from when not the working tree
        (``git:REF``).
        """
        self._write(
            "insert into variants (run_id, prompt, version, digest, model, params, provider,"
            " role, origin) values (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(run_id, prompt, version, digest, model, _dumps(params), provider, role, origin)],
        )
        row = self.db.execute(
            "select variant_id from variants where run_id = ? and prompt = ? and version = ?",
            (run_id, prompt, version),
        ).fetchone()
        return int(row[0])

    def set_reused_from(self, variant_id: int, run_id: str) -> None:
        """Note that a variant's results were copied from the stored run ``run_id``."""
        self._write("update variants set reused_from = ? where variant_id = ?",
                    [(run_id, variant_id)])

    def variants(self, run_id: str) -> list[dict[str, Any]]:
        rows = self.db.execute(
            "select * from variants where run_id = ? order by variant_id", (run_id,)
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            d["params"] = json.loads(d["params"] or "{}")
            out.append(d)
        return out

    # --- results ----------------------------------------------------------------------

    def done_keys(self, run_id: str) -> set[tuple[int, str, int]]:
        """(variant, case, repeat) of every result without an error: skipped on resume."""
        rows = self.db.execute(
            "select variant_id, case_id, repeat_index from results"
            " where run_id = ? and error is null",
            (run_id,),
        )
        return {(r[0], r[1], r[2]) for r in rows}

    def write_results(self, run_id: str, rows: Sequence[ResultRow]) -> list[int]:
        """Insert results in one transaction; a row replaces an earlier errored attempt."""
        ids: list[int] = []
        created = now_iso()
        self.db.execute("begin immediate")
        try:
            for r in rows:
                cur = self.db.execute(
                    "insert into results (run_id, variant_id, case_id, case_digest,"
                    " case_index, repeat_index, output, latency_ms, prompt_tokens,"
                    " completion_tokens, cache_hit, error, retrieved, created_at)"
                    " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                    " on conflict (variant_id, case_id, repeat_index) do update set"
                    " case_digest = excluded.case_digest, output = excluded.output,"
                    " latency_ms = excluded.latency_ms, prompt_tokens = excluded.prompt_tokens,"
                    " completion_tokens = excluded.completion_tokens,"
                    " cache_hit = excluded.cache_hit, error = excluded.error,"
                    " retrieved = excluded.retrieved, created_at = excluded.created_at"
                    " returning result_id",
                    (
                        run_id, r.variant_id, r.case_id, r.case_digest, r.case_index,
                        r.repeat_index,
                        r.output, r.latency_ms, r.prompt_tokens, r.completion_tokens,
                        int(r.cache_hit), r.error,
                        None if r.retrieved is None else _dumps(r.retrieved), created,
                    ),
                )
                ids.append(int(cur.fetchone()[0]))
            self.db.execute("commit")
        except BaseException:
            self.db.execute("rollback")
            raise
        return ids

    def write_scores(self, rows: Sequence[ScoreRow]) -> None:
        self._write(
            "insert into scores (result_id, scorer, scorer_version, args, value, passed,"
            " error, details) values (?, ?, ?, ?, ?, ?, ?, ?)"
            " on conflict (result_id, scorer) do update set scorer_version ="
            " excluded.scorer_version, args = excluded.args, value = excluded.value,"
            " passed = excluded.passed, error = excluded.error, details = excluded.details",
            [
                (
                    s.result_id, s.scorer, s.scorer_version, _dumps(s.args), s.value,
                    None if s.passed is None else int(s.passed), s.error,
                    None if s.details is None else _dumps(s.details),
                )
                for s in rows
            ],
        )

    def unscored(
        self, variant_id: int, scorers: Sequence[str], chunk: int = 500
    ) -> Iterator[list[sqlite3.Row]]:
        """Successful results of a variant lacking a score from any of ``scorers``, in chunks."""
        if not scorers:
            return
        marks = ", ".join("?" for _ in scorers)
        last = 0
        while True:
            rows = self.db.execute(
                "select r.result_id, r.case_id, r.repeat_index, r.output, r.retrieved"
                " from results r where r.variant_id = ? and r.error is null"
                " and r.result_id > ? and (select count(*) from scores s where"
                f" s.result_id = r.result_id and s.scorer in ({marks})) < ?"
                " order by r.result_id limit ?",
                (variant_id, last, *scorers, len(scorers), chunk),
            ).fetchall()
            if not rows:
                return
            last = rows[-1]["result_id"]
            yield rows

    def results(self, variant_id: int, chunk: int = 2000) -> Iterator[sqlite3.Row]:
        """Every result of a variant with its scores as JSON, in eval set order, streamed."""
        last = (-1, -1)
        while True:
            rows = self.db.execute(
                "select r.*, (select json_group_object(s.scorer, json_object("
                "'value', s.value, 'passed', s.passed, 'error', s.error,"
                " 'version', s.scorer_version))"
                " from scores s where s.result_id = r.result_id) as scores"
                " from results r where r.variant_id = ? and (r.case_index, r.repeat_index) > (?, ?)"
                " order by r.case_index, r.repeat_index limit ?",
                (variant_id, *last, chunk),
            ).fetchall()
            if not rows:
                return
            last = (rows[-1]["case_index"], rows[-1]["repeat_index"])
            yield from rows

    def count_results(self, run_id: str) -> int:
        return int(
            self.db.execute("select count(*) from results where run_id = ?", (run_id,))
            .fetchone()[0]
        )

    # --- guard scan history -----------------------------------------------------------

    def add_guard_scan(
        self,
        *,
        paths: Sequence[str],
        records_scanned: int,
        bad_records: int,
        findings: int,
        counts: dict[str, int],
        by_version: dict[str, dict[str, int]] | None = None,
        scanned_at: str | None = None,
    ) -> None:
        """Record one `guard scan` summary (trends over days)."""
        at = scanned_at or now_iso()
        self._write(
            "insert into guard_scans (scanned_at, day, paths, records_scanned, bad_records,"
            " findings, counts, by_version) values (?, ?, ?, ?, ?, ?, ?, ?)",
            [(at, at[:10], _dumps(list(paths)), records_scanned, bad_records, findings,
              _dumps(counts), _dumps(by_version or {}))],
        )

    def guard_scans(self, limit: int = 100) -> list[dict[str, Any]]:
        """The latest guard scan summaries, newest first."""
        rows = self.db.execute(
            "select * from guard_scans order by scanned_at desc limit ?", (limit,)
        ).fetchall()
        out = []
        for r in rows:
            d = dict(r)
            for key in ("paths", "counts", "by_version"):
                d[key] = json.loads(d[key])
            out.append(d)
        return out


def open_store(path: str | Path) -> Store:
    """Open (creating and migrating) the store at ``path``."""
    try:
        return Store(path)
    except sqlite3.Error as exc:  # pragma: no cover - disk full, permissions
        raise RuntimeFailure(f"results store failed: {exc}", file=path) from None
