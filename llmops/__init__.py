"""llmops: versioned LLM prompts, evaluated in every pull request.

The public API is loaded lazily: ``import llmops`` costs almost nothing, and each name
imports its module on first use.

    >>> import llmops
    >>> project = llmops.load_project(".")
    >>> registry = llmops.load_registry(project)
    >>> llmops.render_messages(registry.resolve("support_answer"), {"question": "Hi"})
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from llmops import _compiled

_compiled.install()  # before any module of the guard is imported

__version__ = "0.1.0"

if TYPE_CHECKING:
    from llmops.errors import (
        ConfigError,
        EvalSetError,
        IndexConfigError,
        LlmopsError,
        LogFormatError,
        PromptError,
        RuntimeFailure,
        TemplateError,
        UserError,
    )
    from llmops.eval import EvalOptions, EvalResult, diff, evaluate, evaluate_suites
    from llmops.guard import scan
    from llmops.project import Project, ProjectConfig, load_project
    from llmops.prompts import (
        PromptVersion,
        RagConfig,
        Registry,
        load_registry,
        prompt_variables_check,
        render_messages,
    )
    from llmops.rag import check_index

# public name -> module that defines it
_EXPORTS: dict[str, str] = {
    "load_project": "llmops.project",
    "Project": "llmops.project",
    "ProjectConfig": "llmops.project",
    "evaluate": "llmops.eval",
    "evaluate_suites": "llmops.eval",
    "EvalOptions": "llmops.eval",
    "EvalResult": "llmops.eval",
    "diff": "llmops.eval",
    "scan": "llmops.guard",
    "check_index": "llmops.rag",
    "PromptVersion": "llmops.prompts",
    "RagConfig": "llmops.prompts",
    "Registry": "llmops.prompts",
    "load_registry": "llmops.prompts",
    "render_messages": "llmops.prompts",
    "prompt_variables_check": "llmops.prompts",
    "LlmopsError": "llmops.errors",
    "UserError": "llmops.errors",
    "ConfigError": "llmops.errors",
    "PromptError": "llmops.errors",
    "TemplateError": "llmops.errors",
    "EvalSetError": "llmops.errors",
    "LogFormatError": "llmops.errors",
    "IndexConfigError": "llmops.errors",
    "RuntimeFailure": "llmops.errors",
}

__all__ = [
    "ConfigError",
    "EvalOptions",
    "EvalResult",
    "EvalSetError",
    "IndexConfigError",
    "LlmopsError",
    "LogFormatError",
    "Project",
    "ProjectConfig",
    "PromptError",
    "PromptVersion",
    "RagConfig",
    "Registry",
    "RuntimeFailure",
    "TemplateError",
    "UserError",
    "__version__",
    "check_index",
    "diff",
    "evaluate",
    "evaluate_suites",
    "load_project",
    "load_registry",
    "prompt_variables_check",
    "render_messages",
    "scan",
]


def __getattr__(name: str) -> Any:
    module_name = _EXPORTS.get(name)
    if module_name is None:
        raise AttributeError(f"module 'llmops' has no attribute {name!r}")
    value = getattr(importlib.import_module(module_name), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_EXPORTS})

