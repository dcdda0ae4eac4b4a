"""``llmops prompts new``: start the next version of a prompt (or a new prompt)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.errors import PromptError

if TYPE_CHECKING:
    from llmops.prompts.registry import Registry

STARTER = """\
description: {description}
variables: [question]
params: {{temperature: 0}}
messages:
  - role: system
    content: Answer in one short sentence.
  - role: user
    content: "{{{{ question }}}}"
"""


def next_version_id(existing: list[str]) -> str:
    """``v1`` for a new prompt; else one more than the highest ``vN``."""
    numbers = [int(m.group(1)) for v in existing if (m := re.fullmatch(r"v(\d+)", v))]
    return f"v{max(numbers, default=0) + 1}"


def new_version(registry: Registry, name: str, source: str | None = None) -> Path:
    """Write ``prompts/NAME/vN.yaml``, a copy of ``source`` (default: the newest version),
    or a starter template for a prompt that does not exist yet; return its path.

    Raises:
        PromptError: an unknown ``source``, or ``source`` for a prompt with no versions.
    """
    if "@" in name or "/" in name or not name.strip():
        raise PromptError(f"{name!r} is not a prompt name", hint="e.g. `prompts new answer`")
    known = name in registry.names()
    if not known and source is not None:
        raise PromptError(f"unknown prompt {name!r}: nothing to copy {source!r} from",
                          hint=f"`llmops prompts new {name}` starts it from a template")
    versions = registry.versions(name) if known else []
    vid = next_version_id([v.version for v in versions])
    path = registry.prompts_dir / name / f"{vid}.yaml"
    if known:
        base = registry.resolve(f"{name}@{source}") if source else versions[-1]
        text = base.path.read_text(encoding="utf-8")
    else:
        text = STARTER.format(description=f"{name}, first version")
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("x", encoding="utf-8") as f:  # never overwrites
        f.write(text)
    return path
