"""Versioned prompts and RAG configs: load, digest, label, lock, render.

Rendering (Jinja2) and releasing (check, lock, promote) are loaded on first use, so
listing prompts stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.prompts.model import ChromaServer, Chunking, PromptVersion, RagConfig
from llmops.prompts.registry import DEFAULT_LABEL, Registry, load_registry, parse_ref

if TYPE_CHECKING:
    from llmops.prompts.release import CheckReport, Promotion, check, lock, promote
    from llmops.prompts.render import prompt_variables_check, render_messages

__all__ = [
    "DEFAULT_LABEL",
    "CheckReport",
    "ChromaServer",
    "Chunking",
    "Promotion",
    "PromptVersion",
    "RagConfig",
    "Registry",
    "check",
    "load_registry",
    "lock",
    "parse_ref",
    "promote",
    "prompt_variables_check",
    "render_messages",
]

_LAZY = {
    "render_messages": "render",
    "prompt_variables_check": "render",
    "CheckReport": "release",
    "Promotion": "release",
    "check": "release",
    "lock": "release",
    "promote": "release",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"llmops.prompts.{module}"), name)
