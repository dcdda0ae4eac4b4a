"""Aggregates, exports, history, baseline reuse and guard scans: the reading queries.

The same portable SQL as :mod:`llmops.store.sql`, on top of its tables.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from llmops.store.records import (
    ExportRow,
    GuardScanRecord,
    HistoryRow,
    ResultRow,
    ReusableVariant,
    ScoreRow,
    VariantFigures,
    percentile,
)
from llmops.store.sql import (
    _MAX_REPEAT,
    SqlTables,
    _dumps,
    _float,
    _loads,
    _score,
    canonical,
)


class SqlStore(SqlTables):
    """The results store over any connection: what backends instantiate."""

    # --- aggregates -------------------------------------------------------------------

    def variant_figures(self, variant_id: int, scorer_keys: Sequence[str]) -> VariantFigures:
        """Everything the summary table, the gate and the comparisons need for one variant."""
        f = VariantFigures()
        row = self.conn.query(
            "select count(*) as n, sum(case when error is not null then 1 else 0 end) as e,"
            " sum(cache_hit) as c, coalesce(sum(prompt_tokens), 0) as p,"
            " coalesce(sum(completion_tokens), 0) as t from results where variant_id = ?",
            (variant_id,),
        )[0]
        f.n_cases, f.n_errors = int(row["n"]), int(row["e"] or 0)
        f.cache_hits, f.prompt_tokens = int(row["c"] or 0), int(row["p"])
        f.completion_tokens = int(row["t"])
        err = self.conn.query(
            "select error from results where variant_id = ? and error is not null"
            " order by result_id limit 1", (variant_id,),
        )
        f.first_error = err[0]["error"] if err else None
        latencies = [float(r["latency_ms"]) for r in self.conn.query(
            "select latency_ms from results where variant_id = ? and error is null"
            " and cache_hit = 0 and latency_ms is not null order by latency_ms", (variant_id,),
        )]
        f.latency_p50_ms, f.latency_p95_ms = percentile(latencies, 50), percentile(latencies, 95)
        f.n_passed = int(self.conn.query(
            "select count(*) as n from results r where r.variant_id = ? and r.error is null and"
            " (select count(*) from scores s where s.result_id = r.result_id and s.passed = 1)"
            " = ?", (variant_id, len(scorer_keys)),
        )[0]["n"])
        for key in scorer_keys:
            values: dict[str, list[float | None]] = {}
            passed: dict[str, list[bool | None]] = {}
            n_err = 0
            for r in self.conn.query(
                "select r.case_id, s.value, s.passed, coalesce(s.error, r.error) as error"
                " from results r left join scores s on s.result_id = r.result_id"
                " and s.scorer = ? where r.variant_id = ? order by r.result_id",
                (key, variant_id),
            ):
                value, ok = r["value"], r["passed"]
                if r["error"] is not None and value is None:
                    n_err += 1
                values.setdefault(r["case_id"], []).append(
                    None if value is None else float(value))
                passed.setdefault(r["case_id"], []).append(None if ok is None else bool(ok))
            f.values[key], f.passed[key] = values, passed
            f.score_errors[key] = n_err
        return f

    def case_outputs(self, variant_id: int) -> tuple[dict[str, str | None], dict[str, str]]:
        """Case id → output of its first repeat, and case id → error where it errored."""
        outputs: dict[str, str | None] = {}
        errors: dict[str, str] = {}
        for r in self.conn.query(
            "select case_id, output, error from results where variant_id = ?"
            " order by repeat_index desc, result_id desc", (variant_id,),
        ):  # the first repeat wins: rows arrive last repeat first
            outputs[r["case_id"]] = r["output"]
            if r["error"] is not None:
                errors[r["case_id"]] = r["error"]
        return outputs, errors

    def export_rows(self, run_id: str) -> Iterator[ExportRow]:
        """One row per (variant, case, repeat, scorer) of a run, in eval-set order."""
        for r in self.conn.query(
            "select r.run_id, v.prompt, v.version, v.digest, v.model, r.case_id,"
            " r.case_digest, r.repeat_index, r.output, r.error, r.latency_ms,"
            " r.prompt_tokens, r.completion_tokens, r.cache_hit, s.scorer, s.scorer_version,"
            " s.args, s.value, s.passed, s.error as score_error"
            " from results r join variants v on v.variant_id = r.variant_id"
            " left join scores s on s.result_id = r.result_id"
            " where r.run_id = ? order by r.variant_id, r.case_index, r.repeat_index, s.scorer",
            (run_id,),
        ):
            yield ExportRow(
                **{**r, "cache_hit": bool(r["cache_hit"]), "args": _loads(r["args"]),
                   "passed": None if r["passed"] is None else bool(r["passed"])}
            )

    def prompt_history(self, name: str, *, suite: str | None = None, limit: int = 50
                       ) -> list[HistoryRow]:
        """Per run, variant and scorer of prompt ``name``: the mean, over the last
        ``limit`` runs that evaluated it, oldest first."""
        where = "v.prompt = ?" + (" and u.suite = ?" if suite else "")
        args: list[Any] = [name, suite] if suite else [name]
        runs = [r["run_id"] for r in self.conn.query(
            "select u.run_id, max(u.started_at) as started from runs u join variants v"
            f" on v.run_id = u.run_id where {where} group by u.run_id"
            " order by started desc limit ?", (*args, int(limit)),
        )]
        if not runs:
            return []
        marks = ", ".join("?" for _ in runs)
        rows = self.conn.query(
            "select u.run_id, u.started_at, u.suite, u.status, v.version, v.digest, v.role,"
            " s.scorer, avg(s.value) as mean, count(s.value) as n,"
            " avg(case when s.passed is null then null else s.passed end) as pass_rate"
            " from variants v join runs u on u.run_id = v.run_id"
            " join results r on r.variant_id = v.variant_id and r.error is null"
            " join scores s on s.result_id = r.result_id"
            f" where v.prompt = ? and u.run_id in ({marks})"
            " group by u.run_id, u.started_at, u.suite, u.status, v.variant_id, v.version,"
            " v.digest, v.role, s.scorer order by u.started_at, v.variant_id, s.scorer",
            (name, *runs),
        )
        return [HistoryRow(**{**r, "mean": _float(r["mean"]), "n": int(r["n"]),
                              "pass_rate": _float(r["pass_rate"])}) for r in rows]

    # --- baseline reuse ---------------------------------------------------------------

    def find_reusable(
        self, *, digest: str, evalset_digest: str, model: str | None,
        params: Mapping[str, Any], n_results: int, provider: str | None = None,
        exclude_run: str | None = None, repeat: int | None = None,
    ) -> ReusableVariant | None:
        """The newest stored variant with the same prompt digest, eval set, model and params.

        It counts only when it holds ``n_results`` results without an error (cases ×
        repeats), so a half-finished or failed run is never reused. With ``provider``
        (the provider's identity as stored on variants), the endpoint must match too.
        With ``repeat``, only repeats ``0 .. repeat-1`` count.
        """
        rows = self.conn.query(
            "select v.variant_id, v.run_id, v.model, v.params, v.provider,"
            " (select count(*) from results r where r.variant_id = v.variant_id"
            "  and r.error is null and r.repeat_index < ?) as n_ok"
            " from variants v join runs u on u.run_id = v.run_id"
            " where v.digest = ? and u.evalset_digest = ?"
            " and (v.model = ? or (v.model is null and ? is null))"
            " order by u.started_at desc, v.variant_id desc",
            (_MAX_REPEAT if repeat is None else repeat, digest, evalset_digest, model, model),
        )
        wanted = canonical(params)
        for row in rows:
            if row["run_id"] == exclude_run or row["n_ok"] < n_results:
                continue
            if provider is not None and row["provider"] != provider:
                continue
            if _loads(row["params"], {}) == wanted:
                return ReusableVariant(row["run_id"], int(row["variant_id"]), digest,
                                       row["model"], wanted)
        return None

    def copy_results(
        self, source: ReusableVariant, *, run_id: str, variant_id: int,
        scorers: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
        repeat: int | None = None,
    ) -> int:
        """Copy a stored variant's successful results (and the scores whose scorer
        version and arguments are still ``scorers[key]``) into a new run's variant."""
        rows = self.conn.query(
            "select * from results where variant_id = ? and error is null"
            " and repeat_index < ? order by result_id",
            (source.variant_id, _MAX_REPEAT if repeat is None else repeat),
        )
        if not rows:
            return 0
        new_ids = self.write_results(run_id, [
            ResultRow(
                variant_id=variant_id, case_id=r["case_id"], case_digest=r["case_digest"],
                repeat_index=r["repeat_index"], case_index=r["case_index"], output=r["output"],
                latency_ms=r["latency_ms"], prompt_tokens=r["prompt_tokens"],
                completion_tokens=r["completion_tokens"], cache_hit=True,
                retrieved=_loads(r["retrieved"]),
            )
            for r in rows
        ])
        if scorers:
            by_old = dict(zip((r["result_id"] for r in rows), new_ids, strict=True))
            wanted = {k: (v, canonical(a)) for k, (v, a) in scorers.items()}
            copied = []
            for s in self.conn.query(
                "select s.* from scores s join results r on r.result_id = s.result_id"
                " where r.variant_id = ? and r.error is null", (source.variant_id,),
            ):
                args = _loads(s["args"], {})
                if s["result_id"] in by_old and wanted.get(s["scorer"]) == (
                        s["scorer_version"], args):
                    stored = _score(s)
                    copied.append(ScoreRow(
                        result_id=by_old[s["result_id"]], scorer=s["scorer"],
                        scorer_version=s["scorer_version"], args=args, value=stored.value,
                        passed=stored.passed, error=stored.error, details=stored.details,
                    ))
            self.write_scores(copied)
        return len(new_ids)

    # --- guard scan history -----------------------------------------------------------

    def add_guard_scan(self, record: GuardScanRecord) -> None:
        """Record one `guard scan` summary (trends over days)."""
        self._write(
            "insert into guard_scans (scanned_at, day, paths, records_scanned, bad_records,"
            " findings, counts, by_version, records_without_text, by_shape)"
            " values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [(record.scanned_at, record.day, _dumps(record.paths), record.records_scanned,
              record.bad_records, record.findings, _dumps(record.counts),
              _dumps(record.by_version), record.records_without_text,
              _dumps(record.by_shape))],
        )

    def guard_scans(self, limit: int = 100) -> list[GuardScanRecord]:
        """The latest guard scan summaries, newest first."""
        rows = self.conn.query(
            "select * from guard_scans order by scanned_at desc limit ?", (limit,)
        )
        return [
            GuardScanRecord(
                scanned_at=r["scanned_at"], day=r["day"], paths=_loads(r["paths"], []),
                records_scanned=r["records_scanned"], bad_records=r["bad_records"],
                findings=r["findings"], counts=_loads(r["counts"], {}),
                by_version=_loads(r["by_version"], {}),
                records_without_text=r["records_without_text"],
                by_shape=_loads(r["by_shape"], {}),
            )
            for r in rows
        ]


