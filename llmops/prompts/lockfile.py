"""``prompts/llmops.lock``: the digest and a snapshot of every released version.

The lock is JSON, written with sorted keys and one entry per version so that a pull
request shows exactly which versions were locked. Each entry keeps a snapshot of the
version's behaviour-defining fields: when a locked file is edited, ``prompts check``
shows a diff against it. A lock that does not parse, or whose snapshot no longer
matches its digest, is an error: it was edited by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from llmops._yaml import YamlDocument, pydantic_error, read_text
from llmops.errors import PromptError
from llmops.prompts.digest import sha256
from llmops.prompts.files import line_of
from llmops.prompts.model import NAME_RE

LOCK_NAME = "llmops.lock"
LOCK_FORMAT = 1
_HEX64 = r"^[0-9a-f]{64}$"
_HINT = "restore it from version control, or delete it and run `llmops prompts lock`"


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    digest: str = Field(pattern=_HEX64)
    content_digest: str = Field(pattern=_HEX64)
    locked_at: str
    snapshot: dict[str, Any]


class _LockModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    llmops_lock: int
    versions: dict[str, _Entry]


@dataclass
class LockEntry:
    """What was recorded when a version was locked."""

    digest: str
    content_digest: str
    locked_at: str
    snapshot: dict[str, Any]


@dataclass
class LockFile:
    """The lock file's content; ``entries`` is keyed by ``name@version``."""

    path: Path
    entries: dict[str, LockEntry] = field(default_factory=dict)
    exists: bool = False

    def to_text(self) -> str:
        data = {
            "llmops_lock": LOCK_FORMAT,
            "versions": {
                ref: {
                    "digest": e.digest,
                    "content_digest": e.content_digest,
                    "locked_at": e.locked_at,
                    "snapshot": e.snapshot,
                }
                for ref, e in sorted(self.entries.items())
            },
        }
        return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def read_lock(path: Path) -> LockFile:
    """Read and validate the lock; a missing file is an empty lock."""
    if not path.exists():
        return LockFile(path)
    text = read_text(path, PromptError)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise PromptError(
            f"lock file is not valid JSON: {exc.msg}", file=path, line=exc.lineno, hint=_HINT
        ) from None
    if not isinstance(data, dict):
        raise PromptError("lock file must be a JSON object", file=path, line=1, hint=_HINT)
    try:
        model = _LockModel.model_validate(data)
    except ValidationError as exc:
        error = pydantic_error(YamlDocument(path, data, None), exc, PromptError)
        error.line = line_of(path, exc.errors()[0]["loc"])
        error.hint = _HINT
        raise error from None
    if model.llmops_lock != LOCK_FORMAT:
        raise PromptError(
            f"unsupported lock format {model.llmops_lock} (this llmops writes {LOCK_FORMAT})",
            file=path,
            line=line_of(path, ["llmops_lock"]),
        )
    entries: dict[str, LockEntry] = {}
    for ref, entry in model.versions.items():
        _check_entry(path, ref, entry)
        entries[ref] = LockEntry(
            entry.digest, entry.content_digest, entry.locked_at, entry.snapshot
        )
    return LockFile(path, entries, exists=True)


def _check_entry(path: Path, ref: str, entry: _Entry) -> None:
    name, sep, version = ref.partition("@")
    problem = None
    if not (sep and NAME_RE.match(name) and NAME_RE.match(version)):
        problem = f"{ref!r} is not NAME@VERSION"
    elif sha256(entry.snapshot) != entry.content_digest:
        problem = f"{ref}: snapshot does not match content_digest"
    elif entry.snapshot.get("kind") not in ("prompt", "rag"):
        problem = f"{ref}: snapshot has no valid kind"
    if problem:
        raise PromptError(
            f"lock file edited by hand: {problem}",
            file=path,
            line=line_of(path, ["versions", ref]),
            hint=_HINT,
        )
