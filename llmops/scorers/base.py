"""The scorer protocol: batch-first, async, self-describing.

A scorer factory is registered with :func:`scorer`; calling the factory with options
returns a :class:`Scorer` that remembers its name, version and arguments, so every
stored score says exactly which scorer made it and it can be rebuilt later.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

if TYPE_CHECKING:
    from llmops.evalsets import Case
    from llmops.project import Project


@dataclass
class Sample:
    """One model output for one case, as scorers see it."""

    case: Case
    output: str
    messages: list[dict[str, Any]] = field(default_factory=list)  # the rendered input
    retrieved: list[dict[str, Any]] | None = None  # RAG: [{text, source, score}]


@dataclass
class Score:
    """A scorer's verdict on one sample. ``value`` is in 0..1; ``error`` is never a pass."""

    value: float | None
    passed: bool | None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def failed(cls, error: str) -> Score:
        return cls(value=None, passed=None, error=error)


@runtime_checkable
class Scorer(Protocol):
    """Scores a batch of samples. ``name``, ``version`` and ``args`` identify it."""

    name: str
    version: str
    args: dict[str, Any]

    def validate(self, cases: list[Case]) -> None:
        """Raise a user error before any model call if the cases cannot be scored."""
        ...

    async def score(self, samples: list[Sample]) -> list[Score]:
        """One score per sample, in order."""
        ...


@dataclass
class ScorerContext:
    """What a scorer factory may need from the project (judge, embedder, guard config)."""

    project: Project | None = None
    no_cache: bool = False
    extras: dict[str, Any] = field(default_factory=dict)


ScorerFactory = Callable[..., Scorer]
