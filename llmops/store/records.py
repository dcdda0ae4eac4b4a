"""Typed rows the results store takes and gives: no SQL and no JSON for its callers."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunInfo:
    """One run with its derived status (``interrupted`` when its process is gone)."""

    run_id: str
    suite: str
    status: str
    started_at: str
    finished_at: str | None
    n_done: int
    meta: dict[str, Any]


@dataclass
class VariantRecord:
    """A prompt version as a run evaluated it: digest, model, params, role."""

    variant_id: int
    run_id: str
    prompt: str
    version: str
    digest: str
    model: str | None
    params: dict[str, Any]
    provider: str | None
    role: str = "candidate"
    origin: str | None = None  # where a baseline's prompt came from (git:REF)
    reused_from: str | None = None  # the run whose stored results it copied


@dataclass
class ResultRow:
    """One finished model call (or its error) for one case, variant and repeat."""

    variant_id: int
    case_id: str
    case_digest: str
    repeat_index: int
    output: str | None
    latency_ms: float | None
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    cache_hit: bool = False
    error: str | None = None
    retrieved: list[dict[str, Any]] | None = None
    case_index: int = 0


@dataclass
class ScoreRow:
    """One scorer's verdict on one result."""

    result_id: int
    scorer: str  # the key in this run: the scorer's name, or name#n when repeated
    scorer_version: str
    args: dict[str, Any]
    value: float | None
    passed: bool | None
    error: str | None = None
    details: dict[str, Any] | None = None


@dataclass
class StoredScore:
    """A score as read back: value, verdict, error and the scorer's detail."""

    value: float | None
    passed: bool | None
    error: str | None = None
    version: str = ""
    details: dict[str, Any] | None = None


@dataclass
class StoredResult:
    """A result as read back, with its scores by scorer key. Texts are raw: mask to show."""

    result_id: int
    variant_id: int
    case_id: str
    case_digest: str
    case_index: int
    repeat_index: int
    output: str | None
    error: str | None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cache_hit: bool
    retrieved: list[dict[str, Any]] | None
    scores: dict[str, StoredScore] = field(default_factory=dict)


@dataclass
class CaseRecord:
    """What a case gave the model and expected back, as the run saw it. Raw: mask to show."""

    case_digest: str
    case_id: str
    vars: dict[str, Any] = field(default_factory=dict)
    expected: str | list[str] | None = None
    contexts: list[str] = field(default_factory=list)
    rubric: str | None = None
    tags: list[str] = field(default_factory=list)
    human_score: float | None = None


@dataclass
class ReusableVariant:
    """A finished variant whose results can stand in for a new evaluation."""

    run_id: str
    variant_id: int
    digest: str
    model: str | None
    params: dict[str, Any] = field(default_factory=dict)


@dataclass
class VariantFigures:
    """Counts and raw per-case values of one variant, ready for statistics."""

    n_cases: int = 0
    n_errors: int = 0
    n_passed: int = 0
    cache_hits: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_p50_ms: float | None = None
    latency_p95_ms: float | None = None
    first_error: str | None = None  # raw: mask before showing
    # scorer key -> case id -> values across repeats (None: errored call or scorer error)
    values: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    passed: dict[str, dict[str, list[bool | None]]] = field(default_factory=dict)
    score_errors: dict[str, int] = field(default_factory=dict)


@dataclass
class ExportRow:
    """One (variant, case, repeat, scorer) row of ``runs export``; texts raw."""

    run_id: str
    prompt: str
    version: str
    digest: str
    model: str | None
    case_id: str
    case_digest: str
    repeat_index: int
    output: str | None
    error: str | None
    latency_ms: float | None
    prompt_tokens: int | None
    completion_tokens: int | None
    cache_hit: bool
    scorer: str | None
    scorer_version: str | None
    args: dict[str, Any] | None
    value: float | None
    passed: bool | None
    score_error: str | None
    details: dict[str, Any] | None = None  # the scorer's detail
    vars: dict[str, Any] | None = None  # the case's input variables
    expected: str | list[str] | None = None  # the case's expected answer


@dataclass
class HistoryRow:
    """A variant's mean for one scorer in one run: a point of a prompt's history."""

    run_id: str
    started_at: str
    suite: str
    status: str
    version: str
    digest: str
    role: str
    scorer: str
    mean: float | None
    n: int
    pass_rate: float | None


@dataclass
class GuardScanRecord:
    """The summary of one ``guard scan`` kept for trends."""

    scanned_at: str
    day: str
    paths: list[str]
    records_scanned: int
    bad_records: int
    findings: int
    counts: dict[str, int]
    by_version: dict[str, dict[str, int]]
    records_without_text: int = 0
    by_shape: dict[str, dict[str, int]] = field(default_factory=dict)


def flat(values: dict[str, list[float | None]]) -> list[float]:
    """Every scored value, errors left out."""
    return [v for vs in values.values() for v in vs if v is not None]


def percentile(sorted_values: Sequence[float], q: float) -> float | None:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return None
    rank = max(1, -(-len(sorted_values) * q // 100))  # ceil(n * q / 100)
    return float(sorted_values[int(rank) - 1])
