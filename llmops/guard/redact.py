"""Mask the PII and secrets in a text before it is shown or exported.

Reports, JSON results and CSV exports show model outputs; the project standard is that
whatever the PII and secrets detectors find is masked wherever it is shown or stored
outside the results store. :func:`redact` replaces each finding's span by the finding's
own masked evidence (``j***@example.com``, ``4111********1111``), so a reader still sees
what kind of value was there. The results store keeps the raw text: rescoring and the
``guardrails`` scorer need it.
"""

from __future__ import annotations

from llmops._credentials import mask_credentials
from llmops.guard.engine import cached_guard

__all__ = ["REDACT_CHECKS", "redact"]

REDACT_CHECKS = ("pii", "secrets")


def redact(text: str | None) -> str | None:
    """``text`` with every PII and secret finding replaced by its masked evidence.

    First the credentials no detector can know are masked: the values of the project's
    key variables and passwords in URLs (:func:`llmops._credentials.mask_credentials`).

    Every PII and secrets detector runs, whatever the role (``role=None``). Findings are
    replaced right to left. Overlapping findings (the engine already drops most) are
    replaced once: the longest one's evidence stands for their joint span, and the others
    are skipped, so no raw character of any of them is left. ``None`` and the empty
    string come back unchanged, as does a text with no finding.
    """
    if not text:
        return text
    text = mask_credentials(text)
    assert text is not None
    findings = cached_guard(list(REDACT_CHECKS), None).detect(text, None)
    if not findings:
        return text
    spans: list[tuple[int, int, str, int]] = []  # start, end, evidence, its finding's length
    for f in sorted(findings, key=lambda f: (f.start, -f.end)):
        if f.start >= f.end:
            continue
        if spans and f.start < spans[-1][1]:  # overlaps the previous span: join them
            start, end, evidence, size = spans[-1]
            if f.end - f.start > size:
                evidence, size = f.evidence, f.end - f.start
            spans[-1] = (start, max(end, f.end), evidence, size)
        else:
            spans.append((f.start, f.end, f.evidence, f.end - f.start))
    parts: list[str] = []
    pos = len(text)
    for start, end, evidence, _ in reversed(spans):
        parts.append(text[end:pos])
        parts.append(evidence)
        pos = start
    parts.append(text[:pos])
    return "".join(reversed(parts))
