"""Policy detectors: the user's banned terms (whole words) and banned regexes.

Both come from the ``guard.policy`` section of ``llmops.yaml``. Terms are matched
case-insensitively as whole words through one combined pattern; each banned regex is
compiled once when the configuration is loaded.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from llmops.errors import ConfigError
from llmops.guard.findings import Hit, clip, mask
from llmops.guard.registry import Settings, TextView, detector


def compile_terms(terms: list[str]) -> re.Pattern[str] | None:
    """One case-insensitive whole-word pattern for all banned terms (longest first)."""
    cleaned = sorted({" ".join(t.split()) for t in terms if t.strip()}, key=len, reverse=True)
    if not cleaned:
        return None
    body = "|".join(re.escape(t).replace(r"\ ", r"\s+") for t in cleaned)
    return re.compile(rf"(?<!\w)(?:{body})(?!\w)", re.IGNORECASE)


def compile_patterns(patterns: list[str]) -> list[tuple[str, re.Pattern[str]]]:
    """Compile the banned regexes; a bad one is a config error naming it."""
    out = []
    for i, source in enumerate(patterns):
        try:
            out.append((source, re.compile(source)))
        except re.error as exc:
            raise ConfigError(
                f"not a valid regular expression: {exc}", field=f"guard.policy.banned_patterns[{i}]"
            ) from None
    return out


@detector("policy.banned_term", category="policy", severity="medium")
def banned_term(view: TextView, settings: Settings) -> Iterator[Hit]:
    """A banned term from the policy, as a whole word, any case."""
    if settings.banned is None:
        return
    for m in settings.banned.finditer(view.text):
        term = " ".join(m.group().lower().split())
        yield Hit(m.start(), m.end(), term, clip(m.group(), 60), 1.0, settings.policy_severity)


@detector("policy.banned_pattern", category="policy", severity="medium")
def banned_pattern(view: TextView, settings: Settings) -> Iterator[Hit]:
    """A match of a banned regex from the policy (the match itself is masked)."""
    for source, pattern in settings.banned_patterns:
        for m in pattern.finditer(view.text):
            if m.end() > m.start():
                value = m.group()
                yield Hit(
                    m.start(),
                    m.end(),
                    f"{source}\x00{value}",
                    f"/{clip(source, 40)}/ {mask(value)}",
                    1.0,
                    settings.policy_severity,
                )
