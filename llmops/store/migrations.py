"""Numbered schema migrations for the results store.

Each migration is a function ``mNNN_what(db)`` appended to :data:`MIGRATIONS` in order.
:func:`migrate` runs on every open, applies the ones not yet recorded in the
``_migrations`` table, and records each by name. Never edit a released migration:
add a new one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from datetime import UTC, datetime

Migration = Callable[[sqlite3.Connection], None]

MIGRATIONS: list[Migration] = []
migration = MIGRATIONS.append


@migration
def m001_initial(db: sqlite3.Connection) -> None:
    db.execute(
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
    db.execute("create index runs_started on runs(started_at)")
    db.execute(
        """
        create table variants (
            variant_id integer primary key,
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
    db.execute(
        """
        create table results (
            result_id integer primary key,
            run_id text not null,
            variant_id integer not null references variants(variant_id),
            case_id text not null,
            case_digest text not null,
            case_index integer not null default 0,   -- position in the eval set
            repeat_index integer not null default 0,
            output text,
            latency_ms real,
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
    db.execute("create index results_run on results(run_id)")
    db.execute("create index results_order on results(variant_id, case_index, repeat_index)")
    db.execute(
        """
        create table scores (
            score_id integer primary key,
            result_id integer not null references results(result_id) on delete cascade,
            scorer text not null,
            scorer_version text not null,
            args text not null default '{}',
            value real,
            passed integer,
            error text,
            details text,
            unique (result_id, scorer)
        )
        """
    )


@migration
def m002_guard_scans(db: sqlite3.Connection) -> None:
    db.execute(
        """
        create table guard_scans (
            scan_id integer primary key,
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
    db.execute("create index guard_scans_day on guard_scans(day)")


@migration
def m003_variant_source(db: sqlite3.Connection) -> None:
    # Where a variant's results came from when they were not produced by this run:
    # the run whose stored results were reused, and the baseline's origin (git:REF).
    db.execute("alter table variants add column reused_from text")
    db.execute("alter table variants add column origin text")


def applied(db: sqlite3.Connection) -> set[str]:
    """Names of the migrations already recorded in this database."""
    db.execute(
        "create table if not exists _migrations (name text primary key, applied_at text not null)"
    )
    return {row[0] for row in db.execute("select name from _migrations")}


def migrate(db: sqlite3.Connection) -> list[str]:
    """Apply every migration not yet applied, each in its own transaction; return their names.

    The connection must be in autocommit mode (``isolation_level=None``). ``begin
    immediate`` takes the write lock first, so two processes opening a blank store at
    once apply each migration exactly once.
    """
    done = applied(db)
    if all(m.__name__ in done for m in MIGRATIONS):
        return []
    ran: list[str] = []
    for m in MIGRATIONS:
        db.execute("begin immediate")
        try:
            exists = db.execute("select 1 from _migrations where name = ?", (m.__name__,))
            if exists.fetchone() is None:
                m(db)
                db.execute(
                    "insert into _migrations (name, applied_at) values (?, ?)",
                    (m.__name__, datetime.now(UTC).isoformat(timespec="seconds")),
                )
                ran.append(m.__name__)
            db.execute("commit")
        except BaseException:
            db.execute("rollback")
            raise
    return ran
