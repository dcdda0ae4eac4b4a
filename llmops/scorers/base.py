"""The scorer protocol: batch-first, async, self-describing.

A scorer factory is registered with :func:`llmops.scorers.scorer`; calling the factory
with options returns a :class:`Scorer` that remembers its name, version and arguments,
so every stored score says exactly which scorer made it and it can be rebuilt later.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
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
    def failed(cls, error: str, details: dict[str, Any] | None = None) -> Score:
        return cls(value=None, passed=None, error=error, details=details or {})

    @classmethod
    def of(cls, value: float, threshold: float, details: dict[str, Any] | None = None) -> Score:
        """A score whose pass/fail is ``value >= threshold``."""
        return cls(value=value, passed=value >= threshold, details=details or {})

    @classmethod
    def boolean(cls, ok: bool, details: dict[str, Any] | None = None) -> Score:
        """1.0 and passed when ``ok``, else 0.0 and failed."""
        return cls(value=1.0 if ok else 0.0, passed=ok, details=details or {})


def range_error(value: Any) -> str | None:
    """Why ``value`` cannot be stored as a score, or None when it is a number in 0..1."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"score value must be a number in 0..1, got {type(value).__name__} {value!r}"
    if math.isnan(value):
        return "score value is NaN"
    if not 0.0 <= value <= 1.0:
        return f"score value {value!r} is outside 0..1"
    return None


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
    """What a scorer factory may need from the project (judge, embedder, guard config).

    ``evalset`` is the eval set's path, used to name the file in validation errors;
    ``cache_dir`` overrides where the embedding and judge caches live (default: the
    project's ``.llmops/``; no caches without a project). ``no_cache`` means: do not
    answer judge calls from the response cache. Embeddings are keyed on the model's
    weights digest and always cached.
    """

    project: Project | None = None
    no_cache: bool = False
    extras: dict[str, Any] = field(default_factory=dict)
    evalset: Path | None = None
    cache_dir: Path | None = None

    def cache_path(self, filename: str) -> Path | None:
        """Where a cache file lives, or None when there is no place for it."""
        base = self.cache_dir
        if base is None and self.project is not None:
            base = self.project.state_dir
        return base / filename if base is not None else None


ScorerFactory = Callable[..., Scorer]
