"""``regex``: the output matches a regular expression (Python syntax).

Options:
    pattern: the regular expression (required).
    ignore_case: match case-insensitively (default false).
    full_match: the whole output must match, not just a part (default false).
    invert: pass when the pattern does NOT match (default false).
"""

from __future__ import annotations

import re

from llmops.errors import UserError
from llmops.scorers.base import Sample, Score
from llmops.scorers.registry import scorer


class Regex:
    def __init__(self, pattern: re.Pattern[str], full_match: bool, invert: bool) -> None:
        self.pattern = pattern
        self.full_match = full_match
        self.invert = invert

    async def score(self, samples: list[Sample]) -> list[Score]:
        out = []
        for s in samples:
            find = self.pattern.fullmatch if self.full_match else self.pattern.search
            m = find(s.output)
            details = {"match": m.group(0)[:200]} if m else {}
            out.append(Score.boolean(bool(m) != self.invert, details))
        return out


@scorer("regex", version="1")
def regex(
    pattern: str, ignore_case: bool = False, full_match: bool = False, invert: bool = False
) -> Regex:
    """The output matches `pattern` (or, with `invert`, does not)."""
    if not isinstance(pattern, str) or not pattern:
        raise UserError("scorer 'regex': pattern must be a non-empty string")
    try:
        compiled = re.compile(pattern, re.IGNORECASE if ignore_case else 0)
    except re.error as exc:
        raise UserError(f"scorer 'regex': invalid pattern {pattern!r}: {exc}") from None
    return Regex(compiled, bool(full_match), bool(invert))
