"""``max_words``: the output is at most ``limit`` words long.

Options:
    limit: the largest allowed number of words (required).
    min: the smallest allowed number of words (default 0).

Words are runs of non-whitespace characters.
"""

from __future__ import annotations

from llmops.errors import UserError
from llmops.scorers.base import Sample, Score
from llmops.scorers.registry import scorer


class MaxWords:
    def __init__(self, limit: int, minimum: int) -> None:
        self.limit = limit
        self.minimum = minimum

    async def score(self, samples: list[Sample]) -> list[Score]:
        out = []
        for s in samples:
            n = len(s.output.split())
            out.append(Score.boolean(self.minimum <= n <= self.limit, {"words": n}))
        return out


@scorer("max_words", version="1")
def max_words(limit: int, min: int = 0) -> MaxWords:
    """The output has at most `limit` words (and at least `min`)."""
    for label, value in (("limit", limit), ("min", min)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise UserError(f"scorer 'max_words': {label} must be a whole number >= 0")
    if min > limit:
        raise UserError("scorer 'max_words': min is larger than limit")
    return MaxWords(limit, min)
