"""A prompt's scores over runs, read from the results store (``llmops runs history``)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.store import Store


class HistoryPoint(BaseModel):
    """One scorer's mean for one version of the prompt in one run."""

    run_id: str
    started_at: str
    suite: str
    status: str
    version: str
    digest: str
    role: str
    scorer: str
    mean: float | None
    n: int = Field(description="scored results (errors excluded)")
    pass_rate: float | None = None


class PromptHistory(BaseModel):
    """Every stored evaluation of a prompt, oldest run first."""

    name: str
    suite: str | None = None
    points: list[HistoryPoint] = Field(default_factory=list)

    @property
    def runs(self) -> list[str]:
        """Run ids, oldest first."""
        return list(dict.fromkeys(p.run_id for p in self.points))

    @property
    def scorers(self) -> list[str]:
        return sorted({p.scorer for p in self.points})


def history(
    project: Project, name: str, *, suite: str | None = None, limit: int = 50
) -> PromptHistory:
    """The last ``limit`` runs that evaluated prompt ``name`` (any version), oldest first."""
    if not project.store_path.is_file():
        return PromptHistory(name=name, suite=suite)
    from llmops.store import open_store

    with open_store(project.store_path) as store:
        return history_from_store(store, name, suite=suite, limit=limit)


def history_from_store(
    store: Store, name: str, *, suite: str | None = None, limit: int = 50
) -> PromptHistory:
    """:func:`history` on an open store."""
    where = "v.prompt = ?" + (" and u.suite = ?" if suite else "")
    args: list[object] = [name, suite] if suite else [name]
    runs = [r[0] for r in store.db.execute(
        "select distinct u.run_id, u.started_at from runs u join variants v"
        f" on v.run_id = u.run_id where {where} order by u.started_at desc limit ?",
        (*args, int(limit)),
    )]
    if not runs:
        return PromptHistory(name=name, suite=suite)
    marks = ", ".join("?" for _ in runs)
    rows = store.db.execute(
        "select u.run_id, u.started_at, u.suite, u.status, v.version, v.digest, v.role,"
        " s.scorer, avg(s.value) as mean, count(s.value) as n,"
        " avg(case when s.passed is null then null else s.passed end) as pass_rate"
        " from variants v join runs u on u.run_id = v.run_id"
        " join results r on r.variant_id = v.variant_id and r.error is null"
        " join scores s on s.result_id = r.result_id"
        f" where v.prompt = ? and u.run_id in ({marks})"
        " group by v.variant_id, s.scorer order by u.started_at, v.variant_id, s.scorer",
        (name, *runs),
    ).fetchall()
    points = [HistoryPoint(**dict(r)) for r in rows]
    return PromptHistory(name=name, suite=suite, points=points)
