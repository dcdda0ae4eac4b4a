"""The results store's tables: runs, variants, results, scores and case inputs, in SQL
that SQLite and PostgreSQL both run.

:class:`SqlTables` writes and reads the rows (:class:`llmops.store.queries.SqlStore` adds
the aggregates on top); a backend (:mod:`llmops.store.sqlite`,
:mod:`llmops.store.postgres`) gives it a :class:`Connection`: placeholders, transactions,
the migration lock and the spelling of the few types that differ. Callers get typed
records (:mod:`llmops.store.records`), never rows or JSON text.
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol, Self

from llmops.errors import UserError
from llmops.store.migrations import MIGRATIONS
from llmops.store.records import (
    CaseRecord,
    ResultRow,
    RunInfo,
    ScoreRow,
    StoredResult,
    StoredScore,
    VariantRecord,
)

_MAX_REPEAT = 2**62  # "every repeat" in the repeat filters below
_IN_CHUNK = 500  # ids per `in (...)` list


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


def _dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False, sort_keys=True, default=str)


def _loads(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


def canonical(data: Mapping[str, Any]) -> dict[str, Any]:
    """``data`` as it reads back from the store (JSON round trip, keys sorted)."""
    loaded: dict[str, Any] = json.loads(_dumps(dict(data)))
    return loaded


class Connection(Protocol):
    """What a backend gives :class:`SqlStore`: rows as dicts, ``?`` placeholders."""

    where: str  # the store's location for messages, without credentials

    def query(self, sql: str, args: Sequence[Any] = ()) -> list[dict[str, Any]]: ...

    def execute(self, sql: str, args: Sequence[Any] = ()) -> None: ...

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None: ...

    def insert_many(self, insert: Insert, rows: Sequence[Sequence[Any]]) -> list[tuple[Any, ...]]:
        """Insert ``rows``, all or none, and return each row's ``returning`` values as a
        tuple (in the clause's order); batched as suits the backend."""
        ...

    def transaction(self) -> AbstractContextManager[Any]: ...

    def migration_lock(self) -> AbstractContextManager[Any]: ...

    def ddl(self, sql: str) -> None: ...

    def has_table(self, name: str) -> bool: ...

    def close(self) -> None: ...


@dataclass(frozen=True)
class Insert:
    """An insert of many rows: the table, its columns, and what follows ``values``
    (the conflict handling and ``returning``). Each backend batches it its own way."""

    table: str
    columns: tuple[str, ...]
    tail: str = ""

    @property
    def column_list(self) -> str:
        return ", ".join(self.columns)


_INSERT_SCORES = Insert(
    "scores",
    ("result_id", "scorer", "scorer_version", "args", "value", "passed", "error", "details"),
    "on conflict (result_id, scorer) do update set scorer_version ="
    " excluded.scorer_version, args = excluded.args, value = excluded.value,"
    " passed = excluded.passed, error = excluded.error, details = excluded.details",
)
_INSERT_RESULTS = Insert(
    "results",
    ("run_id", "variant_id", "case_id", "case_digest", "case_index", "repeat_index", "output",
     "latency_ms", "prompt_tokens", "completion_tokens", "cache_hit", "error", "retrieved",
     "created_at"),
    "on conflict (variant_id, case_id, repeat_index) do update set"
    " case_digest = excluded.case_digest, output = excluded.output,"
    " latency_ms = excluded.latency_ms, prompt_tokens = excluded.prompt_tokens,"
    " completion_tokens = excluded.completion_tokens, cache_hit = excluded.cache_hit,"
    " error = excluded.error, retrieved = excluded.retrieved,"
    " created_at = excluded.created_at"
    " returning result_id, variant_id, case_id, repeat_index",
)


class SqlTables:
    """Runs, variants, results and scores over any :class:`Connection`; migrations on open.

    Aggregates, exports, baseline reuse and guard scans are in
    :class:`llmops.store.queries.SqlStore`, the class backends use.
    """

    backend = "sql"
    batch_rows = 64

    def __init__(self, conn: Connection, *, readonly: bool = False) -> None:
        self.conn = conn
        self.readonly = readonly
        self.where = conn.where
        self.migrate()

    # --- lifecycle --------------------------------------------------------------------

    def migrate(self) -> list[str]:
        """Apply the migrations this store lacks; refuse a schema newer than this llmops."""
        known = [m.__name__ for m in MIGRATIONS]
        applied = self._applied()
        newer = applied - set(known)
        if newer:
            raise UserError(
                f"the results store was written by a newer llmops (schema {max(newer)})",
                file=self.where, hint="upgrade llmops",
            )
        if all(name in applied for name in known) or self.readonly:
            return []
        ran: list[str] = []
        with self.conn.migration_lock():
            self.conn.execute(
                "create table if not exists _migrations"
                " (name text primary key, applied_at text not null)"
            )
            applied = self._applied()
            for m in MIGRATIONS:
                if m.__name__ in applied:
                    continue
                with self.conn.transaction():
                    m(self.conn.ddl)
                    self.conn.execute(
                        "insert into _migrations (name, applied_at) values (?, ?)",
                        (m.__name__, datetime.now(UTC).isoformat(timespec="seconds")),
                    )
                ran.append(m.__name__)
        return ran

    def _applied(self) -> set[str]:
        if not self.conn.has_table("_migrations"):
            return set()
        return {r["name"] for r in self.conn.query("select name from _migrations")}

    def has_schema(self) -> bool:
        """Whether any migration was applied: false for an empty database opened read-only."""
        return bool(self._applied())

    def close(self) -> None:
        self.conn.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _write(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        with self.conn.transaction():
            self.conn.executemany(sql, rows)

    # --- runs -------------------------------------------------------------------------

    def create_run(self, run_id: str, suite: str, **meta: Any) -> None:
        """Record a new run as running by this process."""
        cols = ["run_id", "suite", "status", "started_at", "pid", "host", "proc_start"]
        vals: list[Any] = [run_id, suite, "running", now_iso(), *self._me()]
        for key, value in meta.items():
            cols.append(key)
            vals.append(int(value) if isinstance(value, bool) else value)
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

    def record_verdict(self, run_id: str, verdict: Mapping[str, Any]) -> None:
        """Keep the run's verdict (gate, comparisons, exit code) as ``llmops eval`` decided it."""
        self._write("update runs set verdict = ? where run_id = ?",
                    [(_dumps(dict(verdict)), run_id)])

    def run(self, run_id: str) -> RunInfo:
        """One run; :class:`UserError` naming the known runs when it does not exist."""
        rows = self.conn.query("select * from runs where run_id = ?", (run_id,))
        if not rows:
            raise UserError(f"no run {run_id!r} in the store", file=self.where,
                            hint="see `llmops runs list`")
        return self._run_infos(rows)[0]

    def runs(
        self, limit: int | None = None, *, offset: int = 0, suite: str | None = None,
        prompt: str | None = None, since: str | None = None, before: str | None = None,
    ) -> list[RunInfo]:
        """Runs newest first, optionally of one suite, one prompt, or started since a date
        (and before another)."""
        where, args = ["1 = 1"], []
        if suite:
            where.append("u.suite = ?")
            args.append(suite)
        if prompt:
            where.append("u.run_id in (select run_id from variants where prompt = ?)")
            args.append(prompt)
        if since:
            where.append("u.started_at >= ?")
            args.append(since)
        if before:
            where.append("u.started_at < ?")
            args.append(before)
        sql = (f"select u.* from runs u where {' and '.join(where)}"
               " order by u.started_at desc, u.run_id desc")
        if limit:
            sql += f" limit {int(limit)} offset {int(offset)}"
        return self._run_infos(self.conn.query(sql, args))

    def count_runs(self) -> int:
        return int(self.conn.query("select count(*) as n from runs")[0]["n"])

    def _run_infos(self, rows: list[dict[str, Any]]) -> list[RunInfo]:
        done: dict[str, int] = {}
        ids = [r["run_id"] for r in rows]
        for part in _chunks(ids):
            marks = ", ".join("?" for _ in part)
            for r in self.conn.query(
                "select run_id, count(*) as n from results where error is null"
                f" and run_id in ({marks}) group by run_id", part,
            ):
                done[r["run_id"]] = int(r["n"])
        out = []
        for row in rows:
            meta = dict(row)
            meta["verdict"] = _loads(meta.get("verdict"))
            status = meta["status"]
            if status == "running" and not process_alive(meta["pid"], meta["host"],
                                                          meta["proc_start"]):
                status = "interrupted"
            out.append(RunInfo(
                run_id=meta.pop("run_id"), suite=meta.pop("suite"), status=status,
                started_at=meta.pop("started_at"), finished_at=meta.pop("finished_at"),
                n_done=done.get(row["run_id"], 0), meta=meta,
            ))
        return out

    # --- variants ---------------------------------------------------------------------

    def add_variant(
        self, run_id: str, *, prompt: str, version: str, digest: str, model: str | None,
        params: dict[str, Any], provider: str | None, role: str = "candidate",
        origin: str | None = None,
    ) -> int:
        """Record a variant of a run; returns its id."""
        with self.conn.transaction():
            rows = self.conn.query(
                "insert into variants (run_id, prompt, version, digest, model, params,"
                " provider, role, origin) values (?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " returning variant_id",
                (run_id, prompt, version, digest, model, _dumps(params), provider, role, origin),
            )
        return int(rows[0]["variant_id"])

    def set_reused_from(self, variant_id: int, run_id: str) -> None:
        """Note that a variant's results were copied from the stored run ``run_id``."""
        self._write("update variants set reused_from = ? where variant_id = ?",
                    [(run_id, variant_id)])

    def variants(self, run_id: str) -> list[VariantRecord]:
        rows = self.conn.query(
            "select * from variants where run_id = ? order by variant_id", (run_id,)
        )
        return [_variant(r) for r in rows]

    def prompt_names(self) -> list[str]:
        """Every prompt name some run evaluated, sorted."""
        rows = self.conn.query("select distinct prompt from variants order by prompt")
        return [str(r["prompt"]) for r in rows]

    def variants_with_digest(self, digest: str, suite: str | None = None
                             ) -> list[tuple[VariantRecord, str, str | None]]:
        """Every variant that evaluated ``digest``, newest run first, with its run's
        suite and eval set digest."""
        sql = ("select v.*, u.suite as run_suite, u.evalset_digest as run_evalset"
               " from variants v join runs u on u.run_id = v.run_id where v.digest = ?")
        args: list[Any] = [digest]
        if suite is not None:
            sql += " and u.suite = ?"
            args.append(suite)
        sql += " order by u.started_at desc, v.variant_id desc"
        return [(_variant(r), r["run_suite"], r["run_evalset"])
                for r in self.conn.query(sql, args)]

    # --- results ----------------------------------------------------------------------

    def done_keys(self, run_id: str) -> set[tuple[int, str, int]]:
        """(variant, case, repeat) of every result without an error: skipped on resume."""
        rows = self.conn.query(
            "select variant_id, case_id, repeat_index from results"
            " where run_id = ? and error is null", (run_id,),
        )
        return {(r["variant_id"], r["case_id"], r["repeat_index"]) for r in rows}

    def write_results(self, run_id: str, rows: Sequence[ResultRow]) -> list[int]:
        """Insert results, all or none; a row replaces an earlier errored attempt.

        Batched as suits the backend (:meth:`Connection.insert_many`). The ids come back
        keyed by (variant, case, repeat), so their order in the answer does not matter; a
        key given twice keeps its last row. The store keeps what it is given: the runner
        masks secrets before writing.
        """
        created = now_iso()
        latest = {(r.variant_id, r.case_id, r.repeat_index): r for r in rows}
        ids: dict[tuple[int, str, int], int] = {}
        args = [
            (
                run_id, r.variant_id, r.case_id, r.case_digest, r.case_index,
                r.repeat_index, r.output, r.latency_ms, r.prompt_tokens,
                r.completion_tokens, int(r.cache_hit), r.error,
                None if r.retrieved is None else _dumps(r.retrieved), created,
            )
            for r in latest.values()
        ]
        for result_id, variant_id, case_id, repeat_index in self.conn.insert_many(
            _INSERT_RESULTS, args
        ):
            ids[(int(variant_id), case_id, int(repeat_index))] = int(result_id)
        return [ids[(r.variant_id, r.case_id, r.repeat_index)] for r in rows]

    def write_scores(self, rows: Sequence[ScoreRow]) -> None:
        """Insert scores, all or none; a score replaces the same scorer's earlier one."""
        latest = {(s.result_id, s.scorer): s for s in rows}  # a key given twice: the last
        # A scorer's arguments are one object for all its scores: encoded once.
        encoded: dict[int, str] = {}
        args = [
            (
                s.result_id, s.scorer, s.scorer_version,
                encoded.get(id(s.args)) or encoded.setdefault(id(s.args), _dumps(s.args)),
                s.value, None if s.passed is None else int(s.passed), s.error,
                None if s.details is None else _dumps(s.details),
            )
            for s in latest.values()
        ]
        self.conn.insert_many(_INSERT_SCORES, args)

    def unscored(
        self, variant_id: int, scorers: Sequence[str], chunk: int = 500
    ) -> Iterator[list[StoredResult]]:
        """Successful results of a variant lacking a score from any of ``scorers``, in chunks."""
        if not scorers:
            return
        marks = ", ".join("?" for _ in scorers)
        last = 0
        while True:
            rows = self.conn.query(
                "select r.* from results r where r.variant_id = ? and r.error is null"
                " and r.result_id > ? and (select count(*) from scores s where"
                f" s.result_id = r.result_id and s.scorer in ({marks})) < ?"
                " order by r.result_id limit ?",
                (variant_id, last, *scorers, len(scorers), chunk),
            )
            if not rows:
                return
            last = rows[-1]["result_id"]
            yield [_result(r) for r in rows]

    def results(self, variant_id: int, chunk: int = 2000) -> Iterator[StoredResult]:
        """Every result of a variant with its scores, in eval set order, streamed."""
        last = (-1, -1)
        while True:
            rows = self.conn.query(
                "select * from results where variant_id = ?"
                " and (case_index > ? or (case_index = ? and repeat_index > ?))"
                " order by case_index, repeat_index limit ?",
                (variant_id, last[0], last[0], last[1], chunk),
            )
            if not rows:
                return
            last = (rows[-1]["case_index"], rows[-1]["repeat_index"])
            results = [_result(r) for r in rows]
            by_id = {r.result_id: r for r in results}
            for part in _chunks(list(by_id)):
                marks = ", ".join("?" for _ in part)
                for s in self.conn.query(
                    f"select * from scores where result_id in ({marks})", part
                ):
                    by_id[s["result_id"]].scores[s["scorer"]] = _score(s)
            yield from results

    def count_results(self, run_id: str) -> int:
        rows = self.conn.query("select count(*) as n from results where run_id = ?", (run_id,))
        return int(rows[0]["n"])

    def scorer_signatures(self, *, variant_id: int | None = None, run_id: str | None = None
                          ) -> dict[str, tuple[str, dict[str, Any]]]:
        """Scorer key → (version, args) of the scores of a variant (or of a whole run)."""
        column, value = ("r.variant_id", variant_id) if variant_id is not None else (
            "r.run_id", run_id)
        out: dict[str, tuple[str, dict[str, Any]]] = {}
        for r in self.conn.query(
            "select distinct s.scorer, s.scorer_version, s.args from scores s"
            f" join results r on r.result_id = s.result_id where {column} = ?"
            " order by s.scorer", (value,),
        ):
            out.setdefault(r["scorer"], (r["scorer_version"], _loads(r["args"], {})))
        return out

    def add_cases(self, cases: Sequence[CaseRecord]) -> None:
        """Keep what each case asked and expected (once per case digest)."""
        self._write(
            "insert into case_inputs (case_digest, case_id, data) values (?, ?, ?)"
            " on conflict (case_digest) do nothing",
            [(c.case_digest, c.case_id, _dumps({
                "vars": c.vars, "expected": c.expected, "contexts": c.contexts,
                "rubric": c.rubric, "tags": c.tags, "human_score": c.human_score,
            })) for c in cases],
        )

    def case_inputs(self, variant_id: int) -> dict[str, CaseRecord]:
        """Case id → what the case asked and expected, for the cases of a variant."""
        out: dict[str, CaseRecord] = {}
        for r in self.conn.query(
            "select c.case_digest, c.case_id, c.data from case_inputs c where c.case_digest in"
            " (select case_digest from results where variant_id = ?)", (variant_id,),
        ):
            out[r["case_id"]] = CaseRecord(case_digest=r["case_digest"], case_id=r["case_id"],
                                           **_loads(r["data"], {}))
        return out


def _chunks(ids: list[Any]) -> Iterator[list[Any]]:
    for i in range(0, len(ids), _IN_CHUNK):
        yield ids[i : i + _IN_CHUNK]


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _variant(r: Mapping[str, Any]) -> VariantRecord:
    return VariantRecord(
        variant_id=int(r["variant_id"]), run_id=r["run_id"], prompt=r["prompt"],
        version=r["version"], digest=r["digest"], model=r["model"],
        params=_loads(r["params"], {}) or {}, provider=r["provider"], role=r["role"],
        origin=r.get("origin"), reused_from=r.get("reused_from"),
    )


def _result(r: Mapping[str, Any]) -> StoredResult:
    return StoredResult(
        result_id=int(r["result_id"]), variant_id=int(r["variant_id"]), case_id=r["case_id"],
        case_digest=r["case_digest"], case_index=r["case_index"],
        repeat_index=r["repeat_index"], output=r["output"], error=r["error"],
        latency_ms=_float(r["latency_ms"]), prompt_tokens=r["prompt_tokens"],
        completion_tokens=r["completion_tokens"], cache_hit=bool(r["cache_hit"]),
        retrieved=_loads(r["retrieved"]),
    )


def _score(s: Mapping[str, Any]) -> StoredScore:
    return StoredScore(
        value=_float(s["value"]), passed=None if s["passed"] is None else bool(s["passed"]),
        error=s["error"], version=s["scorer_version"], details=_loads(s["details"]),
    )
