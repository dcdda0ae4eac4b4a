"""Content digests: what a version does, reduced to one sha256.

The digest covers only what changes behaviour. A description or a YAML comment can be
edited freely; a message, a parameter, a declared variable or the RAG config behind a
``rag:`` reference cannot be changed without the digest changing.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import yaml

from llmops.prompts.model import PromptFile, RagFile


def canonical_json(payload: Any) -> bytes:
    """Sorted keys, no whitespace, UTF-8: the same data always gives the same bytes."""
    return json.dumps(
        payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sha256(payload: Any) -> str:
    return hashlib.sha256(canonical_json(payload)).hexdigest()


def content_payload(name: str, spec: PromptFile | RagFile) -> dict[str, Any]:
    """The behaviour-defining fields of one file, the ``rag:`` reference as written.

    This is what the lock file snapshots: editing any of it makes a locked version
    "edited". Variable order carries no meaning, so it is sorted.
    """
    if isinstance(spec, RagFile):
        config = spec.config(name)
        return {
            "kind": "rag",
            "sources": list(config.sources),
            "chunking": {"size": config.chunking.size, "overlap": config.chunking.overlap},
            "embedder": config.embedder,
            "top_k": config.top_k,
            "collection": config.collection,
            # which files may be read is behaviour; absent when empty, so older digests hold
            **({"allowed_roots": list(config.allowed_roots)} if config.allowed_roots else {}),
        }
    return {
        "kind": "prompt",
        "variables": sorted(spec.variables),
        "rag": spec.rag,
        "params": spec.params,
        "messages": [{"role": m.role, "content": m.content} for m in spec.messages],
    }


def version_digest(content: dict[str, Any], rag_digest: str | None) -> str:
    """The version's identity: its content with the ``rag:`` reference resolved.

    Two prompts that reference the same RAG config through different labels get the same
    digest; moving a label to another RAG config changes the digest of the prompt.
    """
    if content.get("kind") != "prompt" or content.get("rag") is None:
        return sha256(content)
    return sha256({**content, "rag": {"digest": rag_digest}})


class _ReadableDumper(yaml.SafeDumper):
    """Multi-line strings as literal blocks, so a diff shows template lines."""


def _str_representer(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    style = "|" if "\n" in data else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


_ReadableDumper.add_representer(str, _str_representer)


_ORDER = ("kind", "description", "variables", "rag", "params", "messages", "role", "content")


def _ordered(value: Any) -> Any:
    # One key order for the lock's snapshot and the file, so a diff shows only changes.
    if isinstance(value, dict):
        keys = sorted(value, key=lambda k: (_ORDER.index(k) if k in _ORDER else len(_ORDER), k))
        return {k: _ordered(value[k]) for k in keys}
    if isinstance(value, list):
        return [_ordered(v) for v in value]
    return value


def readable(payload: dict[str, Any]) -> list[str]:
    """The payload as YAML lines, for a unified diff of what changed."""
    shown = {k: v for k, v in payload.items() if v is not None}
    text = yaml.dump(
        _ordered(shown), Dumper=_ReadableDumper, sort_keys=False, allow_unicode=True, width=100
    )
    return text.splitlines(keepends=True)
