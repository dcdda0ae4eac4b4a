"""``exact``: the output equals the expected answer (or one of them).

Options:
    ignore_case: compare case-insensitively (default false).
    strip: ignore leading and trailing whitespace (default true).
    collapse_whitespace: treat runs of whitespace as one space (default false).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from llmops.scorers._common import expected_texts, require_expected
from llmops.scorers.base import Sample, Score, ScorerContext
from llmops.scorers.registry import scorer

if TYPE_CHECKING:
    from llmops.evalsets import Case


class Exact:
    def __init__(
        self, ignore_case: bool, strip: bool, collapse_whitespace: bool, ctx: ScorerContext
    ) -> None:
        self.ignore_case = ignore_case
        self.strip = strip
        self.collapse_whitespace = collapse_whitespace
        self.ctx = ctx

    def _norm(self, text: str) -> str:
        if self.collapse_whitespace:
            text = " ".join(text.split())
        elif self.strip:
            text = text.strip()
        return text.casefold() if self.ignore_case else text

    def validate(self, cases: list[Case]) -> None:
        require_expected(cases, "exact", self.ctx)

    async def score(self, samples: list[Sample]) -> list[Score]:
        out = []
        for s in samples:
            got = self._norm(s.output)
            out.append(Score.boolean(any(got == self._norm(e) for e in expected_texts(s.case))))
        return out


@scorer("exact", version="1")
def exact(
    ignore_case: bool = False,
    strip: bool = True,
    collapse_whitespace: bool = False,
    ctx: ScorerContext | None = None,
) -> Exact:
    """The output equals `expected` (or one of several expected answers)."""
    return Exact(bool(ignore_case), bool(strip), bool(collapse_whitespace), ctx or ScorerContext())
