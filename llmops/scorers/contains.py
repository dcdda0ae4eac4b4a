"""``contains``: the output contains a piece of text.

Options:
    text: a string or a list of strings to look for; default: the case's `expected`.
    match: ``any`` (default) or ``all`` of the strings must appear.
    ignore_case: compare case-insensitively (default true).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from llmops.errors import UserError
from llmops.scorers._common import expected_texts, require_expected
from llmops.scorers.base import Sample, Score, ScorerContext
from llmops.scorers.registry import scorer

if TYPE_CHECKING:
    from llmops.evalsets import Case


class Contains:
    def __init__(
        self, text: list[str] | None, match: str, ignore_case: bool, ctx: ScorerContext
    ) -> None:
        self.text = text
        self.match = match
        self.ignore_case = ignore_case
        self.ctx = ctx

    def validate(self, cases: list[Case]) -> None:
        if self.text is None:
            require_expected(cases, "contains", self.ctx)

    async def score(self, samples: list[Sample]) -> list[Score]:
        out = []
        for s in samples:
            needles = self.text if self.text is not None else expected_texts(s.case)
            hay = s.output.casefold() if self.ignore_case else s.output
            found = [n for n in needles if (n.casefold() if self.ignore_case else n) in hay]
            ok = len(found) == len(needles) if self.match == "all" else bool(found)
            missing = [n for n in needles if n not in found]
            out.append(Score.boolean(ok, {"missing": missing} if missing else {}))
        return out


@scorer("contains", version="1")
def contains(
    text: str | list[str] | None = None,
    match: Literal["any", "all"] = "any",
    ignore_case: bool = True,
    ctx: ScorerContext | None = None,
) -> Contains:
    """The output contains `text` (or `expected`); any or all of several strings."""
    if match not in ("any", "all"):
        raise UserError(f"scorer 'contains': match must be 'any' or 'all', got {match!r}")
    needles: list[str] | None
    if text is None:
        needles = None
    elif isinstance(text, str):
        needles = [text]
    elif isinstance(text, list) and text and all(isinstance(t, str) for t in text):
        needles = list(text)
    else:
        raise UserError("scorer 'contains': text must be a string or a list of strings")
    return Contains(needles, match, bool(ignore_case), ctx or ScorerContext())
