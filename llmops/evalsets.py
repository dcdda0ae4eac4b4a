"""Eval sets: JSONL, YAML or CSV files of cases, validated before any model call."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Case:
    """One evaluation case."""

    id: str
    vars: dict[str, Any]
    expected: str | list[str] | None = None
    contexts: list[str] = field(default_factory=list)
    rubric: str | None = None
    tags: list[str] = field(default_factory=list)
    human_score: float | None = None
    line: int | None = None  # where the case starts in its file, for error messages
    digest: str = ""  # sha256 of the case's canonical JSON
