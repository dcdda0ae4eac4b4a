"""The eval pipeline: options → preflight → plan → runner → result → gate and comparisons.

- :mod:`~llmops.eval.options`: :class:`EvalOptions`, every choice a run takes;
- :mod:`~llmops.eval.preflight`: everything the user can get wrong, checked before any
  call or write;
- :mod:`~llmops.eval.plan`: which prompt versions run, and the provenance a run records;
- :mod:`~llmops.eval.baselines`: what candidates are compared with (``git:``, ``run:``)
  and reuse of stored baseline results;
- :mod:`~llmops.eval.runner`: variants × cases → results, bounded concurrency, resume;
- :mod:`~llmops.eval.result`: the typed :class:`EvalResult` built from the store;
- :mod:`~llmops.eval.stats` and :mod:`~llmops.eval.gate`: paired comparisons and the gate;
- :mod:`~llmops.eval.prompt_diff`: ``llmops diff``;
- :mod:`~llmops.eval.run`: :func:`evaluate`, which ties them together.

Names are imported lazily so that ``import llmops.eval`` stays cheap.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.eval.options import EvalOptions, Progress
    from llmops.eval.prompt_diff import PromptDiff, diff
    from llmops.eval.result import EvalResult
    from llmops.eval.run import StaleIndexError, evaluate, evaluate_suites

_EXPORTS = {
    "EvalOptions": "llmops.eval.options",
    "EvalResult": "llmops.eval.result",
    "Progress": "llmops.eval.options",
    "PromptDiff": "llmops.eval.prompt_diff",
    "StaleIndexError": "llmops.eval.run",
    "diff": "llmops.eval.prompt_diff",
    "evaluate": "llmops.eval.run",
    "evaluate_suites": "llmops.eval.run",
}

__all__ = [
    "EvalOptions",
    "EvalResult",
    "Progress",
    "PromptDiff",
    "StaleIndexError",
    "diff",
    "evaluate",
    "evaluate_suites",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'llmops.eval' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
