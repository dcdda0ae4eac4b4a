"""The severity scale of guard findings, lowest first: ``low``, ``medium``, ``high``.

One scale for the detectors, ``guard scan --fail-on``, the ``guardrails`` scorer's
``fail_on`` and the ``guard:`` section of ``llmops.yaml``.
"""

from __future__ import annotations

from typing import Literal, get_args

Severity = Literal["low", "medium", "high"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
SEVERITY_RANK: dict[str, int] = {name: rank for rank, name in enumerate(SEVERITIES)}


def at_least(severity: str, threshold: str) -> bool:
    """Whether ``severity`` is at or above ``threshold``; an unknown severity counts as
    the highest, so that a finding never passes for want of a known label."""
    top = len(SEVERITIES) - 1
    return SEVERITY_RANK.get(severity, top) >= SEVERITY_RANK[threshold]


def choices() -> str:
    """The scale as words for a message: ``low, medium or high``."""
    return ", ".join(SEVERITIES[:-1]) + " or " + SEVERITIES[-1]
