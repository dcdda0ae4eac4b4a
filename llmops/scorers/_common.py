"""Small helpers shared by the built-in scorers."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from llmops.errors import EvalSetError

if TYPE_CHECKING:
    from llmops.evalsets import Case
    from llmops.scorers.base import ScorerContext

_FENCE = re.compile(r"^\s*```[\w-]*\s*\n(.*?)\n?\s*```\s*$", re.DOTALL)


def expected_texts(case: Case) -> list[str]:
    """The case's acceptable answers as a list (empty when it has none)."""
    expected = case.expected
    if expected is None:
        return []
    if isinstance(expected, str):
        return [expected] if expected.strip() else []
    return [e for e in expected if isinstance(e, str) and e.strip()]


def require_expected(cases: Iterable[Case], scorer_name: str, ctx: ScorerContext | None) -> None:
    """Raise an eval-set error naming the first case without ``expected``."""
    for case in cases:
        if not expected_texts(case):
            raise EvalSetError(
                f"case {case.id!r} has no `expected`, which the {scorer_name} scorer compares with",
                file=ctx.evalset if ctx is not None else None,
                line=case.line,
                hint=f"add `expected` to the case or drop {scorer_name} from the suite",
            )


def strip_fences(text: str) -> str:
    """The body of a Markdown code block if ``text`` is one, else ``text`` unchanged."""
    match = _FENCE.match(text)
    return match.group(1) if match else text
