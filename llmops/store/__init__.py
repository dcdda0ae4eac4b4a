"""The results store: every run, variant, result, score and guard scan summary.

Only this package talks to the database. The rest of llmops uses :class:`ResultsStore`
(typed records in and out, see :mod:`llmops.store.records`) and opens it with
:func:`open_store`. Two backends share one set of queries (:mod:`llmops.store.sql`) and
one set of numbered migrations (:mod:`llmops.store.migrations`):

- a SQLite file (``store: .llmops/results.db``, the default): :mod:`llmops.store.sqlite`;
- a PostgreSQL server (``store: postgresql://user@host:port/db``), for a history shared by
  a team and its CI runners: :mod:`llmops.store.postgres`.

``LLMOPS_STORE`` in the environment overrides ``store:`` in ``llmops.yaml``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import urlsplit, urlunsplit

from llmops.errors import ConfigError
from llmops.store.records import (
    CaseRecord,
    ExportRow,
    GuardScanRecord,
    HistoryRow,
    ResultRow,
    ReusableVariant,
    RunInfo,
    ScoreRow,
    StoredResult,
    StoredScore,
    VariantFigures,
    VariantRecord,
    flat,
    percentile,
)
from llmops.store.sql import now_iso, process_alive

__all__ = [
    "CaseRecord",
    "ExportRow",
    "GuardScanRecord",
    "HistoryRow",
    "ResultRow",
    "ResultsStore",
    "ReusableVariant",
    "RunInfo",
    "ScoreRow",
    "StoreLocation",
    "StoredResult",
    "StoredScore",
    "VariantFigures",
    "VariantRecord",
    "flat",
    "locate",
    "now_iso",
    "open_store",
    "percentile",
    "process_alive",
]

ENV = "LLMOPS_STORE"


class ResultsStore(Protocol):
    """What the eval pipeline, reports, CLI and viewer may ask of a results store."""

    backend: str
    where: str  # for messages: the path, or the URL without its password
    batch_rows: int  # results worth one write: fewer on SQLite, more where a round trip costs

    def close(self) -> None: ...
    def has_schema(self) -> bool: ...
    def __enter__(self) -> ResultsStore: ...
    def __exit__(self, *exc: object) -> None: ...

    # runs
    def create_run(self, run_id: str, suite: str, **meta: Any) -> None: ...
    def claim_run(self, run_id: str) -> None: ...
    def finish_run(self, run_id: str, status: str = "finished") -> None: ...
    def record_verdict(self, run_id: str, verdict: Mapping[str, Any]) -> None: ...
    def run(self, run_id: str) -> RunInfo: ...
    def runs(self, limit: int | None = None, *, offset: int = 0, suite: str | None = None,
             prompt: str | None = None, since: str | None = None,
             before: str | None = None) -> list[RunInfo]: ...
    def count_runs(self) -> int: ...

    # variants
    def add_variant(self, run_id: str, *, prompt: str, version: str, digest: str,
                    model: str | None, params: dict[str, Any], provider: str | None,
                    role: str = "candidate", origin: str | None = None) -> int: ...
    def set_reused_from(self, variant_id: int, run_id: str) -> None: ...
    def variants(self, run_id: str) -> list[VariantRecord]: ...
    def prompt_names(self) -> list[str]: ...
    def variants_with_digest(self, digest: str, suite: str | None = None
                             ) -> list[tuple[VariantRecord, str, str | None]]: ...

    # results and scores
    def done_keys(self, run_id: str) -> set[tuple[int, str, int]]: ...
    def write_results(self, run_id: str, rows: Sequence[ResultRow]) -> list[int]: ...
    def write_scores(self, rows: Sequence[ScoreRow]) -> None: ...
    def unscored(self, variant_id: int, scorers: Sequence[str], chunk: int = 500
                 ) -> Iterator[list[StoredResult]]: ...
    def results(self, variant_id: int, chunk: int = 2000) -> Iterator[StoredResult]: ...
    def count_results(self, run_id: str) -> int: ...
    def add_cases(self, cases: Sequence[CaseRecord]) -> None: ...
    def case_inputs(self, variant_id: int) -> dict[str, CaseRecord]: ...
    def scorer_signatures(self, *, variant_id: int | None = None, run_id: str | None = None
                          ) -> dict[str, tuple[str, dict[str, Any]]]: ...

    # aggregates and exports
    def variant_figures(self, variant_id: int, scorer_keys: Sequence[str]
                        ) -> VariantFigures: ...
    def case_outputs(self, variant_id: int) -> tuple[dict[str, str | None], dict[str, str]]: ...
    def export_rows(self, run_id: str) -> Iterator[ExportRow]: ...
    def prompt_history(self, name: str, *, suite: str | None = None, limit: int = 50
                       ) -> list[HistoryRow]: ...

    # baseline reuse
    def find_reusable(self, *, digest: str, evalset_digest: str, model: str | None,
                      params: Mapping[str, Any], n_results: int, provider: str | None = None,
                      exclude_run: str | None = None, repeat: int | None = None
                      ) -> ReusableVariant | None: ...
    def copy_results(self, source: ReusableVariant, *, run_id: str, variant_id: int,
                     scorers: Mapping[str, tuple[str, Mapping[str, Any]]] | None = None,
                     repeat: int | None = None) -> int: ...

    # guard scans
    def add_guard_scan(self, record: GuardScanRecord) -> None: ...
    def guard_scans(self, limit: int = 100) -> list[GuardScanRecord]: ...


@dataclass(frozen=True)
class StoreLocation:
    """Where the results store is: a SQLite file or a PostgreSQL URL."""

    backend: str  # sqlite | postgresql
    target: str  # the path, or the full URL (with its password: never shown)
    source: str = "store"  # what named it, for messages: `store` (llmops.yaml) or LLMOPS_STORE

    @property
    def path(self) -> Path:
        return Path(self.target)

    @property
    def where(self) -> str:
        """The path, or the URL with the password left out: safe to show and store."""
        return self.target if self.backend == "sqlite" else without_password(self.target)

    def exists(self) -> bool:
        """Whether a store is there to read (a server always is: it says otherwise)."""
        return self.backend != "sqlite" or self.path.is_file()

    def __str__(self) -> str:
        return self.where


def without_password(url: str) -> str:
    """``url`` with any password replaced by ``***``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if parts.port is not None:
        host += f":{parts.port}"
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{host}"))


def locate(configured: str, root: Path, environ: Mapping[str, str] | None = None
           ) -> StoreLocation:
    """The store named by ``LLMOPS_STORE`` or else by ``store:`` (relative to ``root``).

    Raises:
        ConfigError: a URL of another scheme, or a PostgreSQL URL without a database
            (exit 2, naming ``store`` or ``LLMOPS_STORE``).
    """
    env = os.environ if environ is None else environ
    value, source = (env[ENV], ENV) if env.get(ENV) else (configured, "store")
    if "://" not in value:
        path = Path(value).expanduser()
        return StoreLocation("sqlite", str(path if path.is_absolute() else root / path), source)
    scheme = value.split("://", 1)[0].lower()
    shown = without_password(value)
    if scheme not in ("postgresql", "postgres"):
        raise ConfigError(
            f"unknown store URL scheme {scheme!r} in {shown}",
            field=source, hint="use a SQLite path or postgresql://user@host:port/db",
        )
    if not urlsplit(value).path.strip("/"):
        raise ConfigError(f"the URL names no database: {shown}", field=source,
                          hint="postgresql://user@host:port/DBNAME")
    return StoreLocation("postgresql", value, source)


def open_store(location: StoreLocation | str | Path, *, readonly: bool | None = None
               ) -> ResultsStore:
    """Open (creating and migrating) the store at ``location``.

    A SQLite file that cannot be written opens read-only (``readonly=None``); reading
    commands work on it and a write names the file.
    """
    if not isinstance(location, StoreLocation):
        location = locate(str(location), Path.cwd(), environ={})
    if location.backend == "postgresql":
        from llmops.store.postgres import PostgresStore

        return PostgresStore(location.target, readonly=bool(readonly))
    from llmops.store.sqlite import SqliteStore

    return SqliteStore(location.path, readonly=readonly)
