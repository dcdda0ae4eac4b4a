"""``json_valid``: the output parses as JSON.

Options:
    strip_fences: accept JSON wrapped in a Markdown code block (default true).
"""

from __future__ import annotations

import json

from llmops.scorers._common import strip_fences
from llmops.scorers.base import Sample, Score
from llmops.scorers.registry import scorer


def parse_json(text: str, fences: bool) -> tuple[object, str | None]:
    """The parsed value and None, or None and why it is not JSON."""
    body = strip_fences(text) if fences else text
    try:
        return json.loads(body), None
    except json.JSONDecodeError as exc:
        return None, f"{exc.msg} at line {exc.lineno} column {exc.colno}"


class JsonValid:
    def __init__(self, fences: bool) -> None:
        self.fences = fences

    async def score(self, samples: list[Sample]) -> list[Score]:
        out = []
        for s in samples:
            _, problem = parse_json(s.output, self.fences)
            out.append(Score.boolean(problem is None, {"reason": problem} if problem else {}))
        return out


@scorer("json_valid", version="1")
def json_valid(strip_fences: bool = True) -> JsonValid:
    """The output is valid JSON."""
    return JsonValid(bool(strip_fences))
