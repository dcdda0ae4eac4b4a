"""A prompt's scores over runs, read from the results store (``llmops runs history``)."""

from __future__ import annotations

from dataclasses import asdict
from typing import TYPE_CHECKING

from pydantic import BaseModel, Field

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.store import ResultsStore


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
    if not project.store.exists():
        return PromptHistory(name=name, suite=suite)
    from llmops.store import open_store

    with open_store(project.store) as store:
        return history_from_store(store, name, suite=suite, limit=limit)


def history_from_store(
    store: ResultsStore, name: str, *, suite: str | None = None, limit: int = 50
) -> PromptHistory:
    """:func:`history` on an open store."""
    points = [HistoryPoint(**asdict(row))
              for row in store.prompt_history(name, suite=suite, limit=limit)]
    return PromptHistory(name=name, suite=suite, points=points)
