"""Guardrail detectors shared by the ``guardrails`` scorer and ``llmops guard scan``.

    detect(text, checks=None, role=None, config=None) -> list[Finding]
    scan(records, ...) -> ScanResult            any iterable of log records or strings
    scan_files(paths, workers=N, ...) -> ScanResult
    scan_dataframe(df, columns, ...) -> pandas.DataFrame of findings
    redact(text) -> text with its PII and secrets masked (for reports and exports)

Detectors are registered units (``known()``) with a name such as ``pii.credit_card``,
a version, a category (pii, secret, injection, policy, format) and a severity.
"""

from __future__ import annotations

from collections.abc import Iterable

from llmops.guard.engine import DEFAULT_CHECKS, DEFAULT_ROLES, Guard, cached_guard
from llmops.guard.findings import Finding, fingerprint
from llmops.guard.frames import FINDING_COLUMNS, scan_dataframe
from llmops.guard.redact import redact
from llmops.guard.registry import Detector, known
from llmops.guard.scanner import ScanResult, scan, scan_files
from llmops.project import GuardConfig

__all__ = [
    "DEFAULT_CHECKS",
    "DEFAULT_ROLES",
    "FINDING_COLUMNS",
    "Detector",
    "Finding",
    "Guard",
    "ScanResult",
    "detect",
    "fingerprint",
    "known",
    "redact",
    "scan",
    "scan_dataframe",
    "scan_files",
]


def detect(
    text: str,
    checks: Iterable[str] | None = None,
    role: str | None = None,
    config: GuardConfig | None = None,
) -> list[Finding]:
    """Findings in one text.

    Args:
        text: the text to scan.
        checks: categories (``pii``, ``secrets``, ``injection``, ``policy``, ``format``) or
            detector names; default ``config.checks``, else pii, secrets, injection, policy.
        role: who wrote the text (``user``, ``assistant``, ``system``, ``tool``,
            ``tool_call``): only the detectors configured for that role run. ``None``
            runs every selected detector.
        config: the project's ``guard:`` section (policy terms, roles, JSON schema).

    Raises:
        ConfigError: an unknown check name or an invalid policy pattern.
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    return guard.detect(text, role)
