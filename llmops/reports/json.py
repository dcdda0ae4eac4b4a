"""results.json: the evaluation's stable machine-readable form (see DESIGN.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.eval_result import EvalResult


def results_json(result: EvalResult) -> dict[str, Any]:
    """The JSON document ``--json`` and ``results.json`` carry."""
    return result.to_json()
