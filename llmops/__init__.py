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
import sys
import types
from typing import TYPE_CHECKING, Any

__version__ = "0.1.0"

if TYPE_CHECKING:
    from llmops.diff import diff
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
    from llmops.evaluate import evaluate
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
    "evaluate": "llmops.evaluate",
    "diff": "llmops.diff",
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


class _Package(types.ModuleType):
    """Keeps ``llmops.evaluate`` and ``llmops.diff`` the functions.

    Importing the submodule ``llmops.diff`` would otherwise replace the attribute
    ``llmops.diff`` with the module; the modules stay reachable through ``sys.modules``
    and ``from llmops.diff import ...``.
    """

    def __setattr__(self, name: str, value: Any) -> None:
        if isinstance(value, types.ModuleType) and _EXPORTS.get(name) == f"llmops.{name}":
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
