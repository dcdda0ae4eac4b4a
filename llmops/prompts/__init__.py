"""Versioned prompts and RAG configs: load, digest, label, lock, render.

Rendering pulls in Jinja2, so :func:`render_messages` and :func:`prompt_variables_check`
are loaded on first use; listing prompts stays cheap.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from llmops.prompts.model import ChromaServer, Chunking, PromptVersion, RagConfig
from llmops.prompts.registry import DEFAULT_LABEL, Registry, load_registry, parse_ref
from llmops.prompts.release import CheckReport, Promotion, check, lock, promote

if TYPE_CHECKING:
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

_RENDER = ("render_messages", "prompt_variables_check")


def __getattr__(name: str) -> Any:
    if name in _RENDER:
        from llmops.prompts import render

        return getattr(render, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
