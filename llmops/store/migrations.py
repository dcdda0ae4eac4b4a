"""Numbered schema migrations of the results store, the same for SQLite and PostgreSQL.

Each migration is a function ``mNNN_what(ddl)`` appended to :data:`MIGRATIONS` in order;
``ddl(sql)`` runs one statement after replacing the words ``{id}`` (an auto-numbered key)
and ``{real}`` (a double) with the backend's spelling. The backend applies the ones not
yet recorded in ``_migrations`` under a lock, so two processes opening a blank store at
once apply each exactly once (:meth:`llmops.store.sql.SqlStore.migrate`). Never edit a
released migration: add a new one.
"""

from __future__ import annotations

from collections.abc import Callable

Ddl = Callable[[str], None]
Migration = Callable[[Ddl], None]

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append


@migration
def m001_initial(ddl: Ddl) -> None:
    ddl(
        """
        create table runs (
            run_id text primary key,
            suite text not null,
            status text not null,            -- running | finished (interrupted is derived)
            started_at text not null,
            finished_at text,
            git_commit text,
            git_dirty integer,
            config_digest text,
            package_version text,
            evalset_path text,
            evalset_digest text,
            n_cases integer,                 -- cases in the eval set
            repeat integer not null default 1,
            pid integer,
            host text,
            proc_start text,                 -- process start time, so a reused pid is not alive
            baseline text                    -- the baseline variant's ref, if any
        )
        """
    )
    ddl("create index runs_started on runs(started_at)")
    ddl(
        """
        create table variants (
            variant_id {id},
            run_id text not null references runs(run_id),
            prompt text not null,
            version text not null,
            digest text not null,
            model text,
            params text not null default '{}',
            provider text,
            role text not null default 'candidate',   -- candidate | baseline
            unique (run_id, prompt, version)
        )
        """
    )
    ddl(
        """
        create table results (
            result_id {id},
            run_id text not null,
            variant_id integer not null references variants(variant_id),
            case_id text not null,
            case_digest text not null,
            case_index integer not null default 0,   -- position in the eval set
            repeat_index integer not null default 0,
            output text,
            latency_ms {real},
            prompt_tokens integer,
            completion_tokens integer,
            cache_hit integer not null default 0,
            error text,
            retrieved text,                  -- RAG: JSON list of {text, source, score}
            created_at text not null,
            unique (variant_id, case_id, repeat_index)
        )
        """
    )
    ddl("create index results_run on results(run_id)")
    ddl("create index results_order on results(variant_id, case_index, repeat_index)")
    ddl(
        """
        create table scores (
            score_id {id},
            result_id integer not null references results(result_id) on delete cascade,
            scorer text not null,
            scorer_version text not null,
            args text not null default '{}',
            value {real},
            passed integer,
            error text,
            details text,
            unique (result_id, scorer)
        )
        """
    )


@migration
def m002_guard_scans(ddl: Ddl) -> None:
    ddl(
        """
        create table guard_scans (
            scan_id {id},
            scanned_at text not null,
            day text not null,               -- YYYY-MM-DD of scanned_at, for daily trends
            paths text not null default '[]',
            records_scanned integer not null default 0,
            bad_records integer not null default 0,
            findings integer not null default 0,
            counts text not null default '{}',       -- JSON {detector: n}
            by_version text not null default '{}'    -- JSON {prompt_version: {detector: n}}
        )
        """
    )
    ddl("create index guard_scans_day on guard_scans(day)")


@migration
def m003_variant_source(ddl: Ddl) -> None:
    # Where a variant's results came from when they were not produced by this run:
    # the run whose stored results were reused, and the baseline's origin (git:REF).
    ddl("alter table variants add column reused_from text")
    ddl("alter table variants add column origin text")


@migration
def m004_guard_scan_shapes(ddl: Ddl) -> None:
    # Records of a known log shape that gave no text to scan, in all and per shape.
    ddl("alter table guard_scans add column records_without_text integer not null default 0")
    ddl("alter table guard_scans add column by_shape text not null default '{}'")


@migration
def m005_runs_listing(ddl: Ddl) -> None:
    # `runs list`, `runs history` and the viewer filter runs by suite and prompt.
    ddl("create index variants_prompt on variants(prompt, digest)")
    ddl("create index runs_suite on runs(suite, started_at)")


@migration
def m006_case_inputs(ddl: Ddl) -> None:
    # What each case asked and expected, keyed by the case's digest (the results' own
    # case_digest), so reports and the viewer can show it long after the eval set changed.
    ddl(
        """
        create table case_inputs (
            case_digest text primary key,
            case_id text not null,
            data text not null default '{}'  -- JSON: vars, expected, contexts, rubric, ...
        )
        """
    )


@migration
def m007_run_verdict(ddl: Ddl) -> None:
    # The run's verdict as `llmops eval` decided it: the gate (passed, reasons, flags), the
    # comparisons with the baseline and the exit code, as JSON; null for older runs.
    ddl("alter table runs add column verdict text")
