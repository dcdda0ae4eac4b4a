"""Recorded answers: ``provider: {kind: recorded}`` scores the eval set's ``output`` fields.

Nothing is called. Yesterday's production answers (see ``llmops evalsets from-logs``) or
a vendor's outputs get the same scorers, gate and reports as a live model. A case's
``contexts`` are what the answer was given: each string is passed to the judge as a
context passage and to the ``retrieval`` scorer as its source. Every case must have an
``output``: :func:`require_outputs` says which one lacks it before anything runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.errors import EvalSetError
from llmops.project import ProviderConfig
from llmops.providers.base import Completion, Message, ProviderCallError, Unlimited

if TYPE_CHECKING:
    from llmops.evalsets import Case, EvalSet

MODEL = "recorded"


def require_outputs(evalset: EvalSet) -> None:
    """Raise :class:`EvalSetError` naming the file and line of the first case without output."""
    for case in evalset.cases:
        if case.output is None:
            raise EvalSetError(
                f"case {case.id!r} has no `output`, which provider kind recorded scores",
                file=evalset.path,
                line=case.line,
                field="output",
                hint="add the recorded answer as `output`, or use another provider kind",
            )


class RecordedProvider(Unlimited):
    """Answers each case with its own recorded ``output``."""

    _model: str

    def __init__(self, config: ProviderConfig) -> None:
        self._model = config.model or MODEL
        self._params: dict[str, Any] = {}

    @property
    def identity(self) -> str:
        return f"recorded:{self._model}"

    async def complete(
        self, messages: list[Message], params: dict[str, Any], *, case: Case | None = None
    ) -> Completion:
        """The case's recorded answer and contexts.

        Raises:
            ProviderCallError: no case was given (a judge cannot be recorded), or the case
                has no ``output``.
        """
        if case is None:
            raise ProviderCallError("provider kind recorded answers eval cases only, not a judge")
        if case.output is None:
            raise ProviderCallError(f"case {case.id!r} has no recorded `output`")
        contexts = [{"text": c, "source": c} for c in case.contexts] if case.contexts else None
        return Completion(text=case.output, model=self._model, latency_ms=0.0, attempts=0,
                          contexts=contexts)

    async def aclose(self) -> None:
        """Nothing to release."""
