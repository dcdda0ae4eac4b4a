"""``guardrails``: the guard detectors (the same ones ``llmops guard scan`` runs) on each output.

Score 1 when clean, 0 when any finding is at or above ``fail_on``. Every finding is kept
in ``details.findings`` with its evidence masked, never the raw value.

Options:
    checks: detector names to run (default: ``guard.checks`` from llmops.yaml, else all).
    fail_on: lowest severity that fails a case: low, medium or high (default:
        ``guard.fail_on``, else low).
    on_input: also scan the rendered input messages (default false).
"""

from __future__ import annotations

import asyncio
from dataclasses import asdict, is_dataclass
from typing import Any

from llmops.errors import UserError
from llmops.scorers.base import Sample, Score, ScorerContext
from llmops.scorers.registry import scorer
from llmops.severity import SEVERITIES, at_least, choices

_KEEP = (
    "detector", "category", "severity", "start", "end", "evidence", "confidence", "fingerprint",
    "suppressed",
)  # fmt: skip


def _finding(f: Any, where: str) -> dict[str, Any]:
    data = asdict(f) if is_dataclass(f) and not isinstance(f, type) else dict(vars(f))
    out = {k: data.get(k) for k in _KEEP if k in data and data.get(k) is not None}
    if not out.get("suppressed"):
        out.pop("suppressed", None)
    out["field"] = where
    return out


class Guardrails:
    def __init__(
        self, checks: list[str] | None, fail_on: str, on_input: bool, config: Any
    ) -> None:
        self.checks = checks
        self.fail_on = fail_on
        self.on_input = on_input
        self.config = config

    def _scan(self, sample: Sample) -> Score:
        from llmops.guard import detect

        found = [
            _finding(f, "output")
            for f in detect(sample.output, checks=self.checks, role="assistant", config=self.config)
        ]
        if self.on_input:
            for i, message in enumerate(sample.messages):
                content = message.get("content")
                if isinstance(content, str):
                    role = str(message.get("role") or "user")
                    hits = detect(content, checks=self.checks, role=role, config=self.config)
                    found += [_finding(f, f"input.messages[{i}]") for f in hits]
        failing = [
            f
            for f in found
            if not f.get("suppressed") and at_least(str(f.get("severity")), self.fail_on)
        ]
        details: dict[str, Any] = {"findings": found} if found else {}
        return Score.boolean(not failing, details)

    async def score(self, samples: list[Sample]) -> list[Score]:
        return await asyncio.to_thread(lambda: [self._scan(s) for s in samples])


@scorer("guardrails", version="1")
def guardrails(
    checks: list[str] | None = None,
    fail_on: str | None = None,
    on_input: bool = False,
    ctx: ScorerContext | None = None,
) -> Guardrails:
    """1 when the guard detectors find nothing at or above `fail_on`, else 0."""
    from llmops.guard import detect

    ctx = ctx or ScorerContext()
    config = ctx.project.config.guard if ctx.project is not None else None
    if checks is None and config is not None:
        checks = config.checks
    if checks is not None and (
        not isinstance(checks, list) or not all(isinstance(c, str) for c in checks)
    ):
        raise UserError("scorer 'guardrails': checks must be a list of detector names")
    if fail_on is None:
        fail_on = config.fail_on if config is not None else "low"
    if fail_on not in SEVERITIES:
        raise UserError(f"scorer 'guardrails': fail_on must be {choices()}, got {fail_on!r}")
    try:
        detect("", checks=checks, config=config)  # unknown detector names fail here, not mid-run
    except UserError as exc:
        raise UserError(f"scorer 'guardrails': {exc}") from None
    return Guardrails(checks, fail_on, bool(on_input), config)
