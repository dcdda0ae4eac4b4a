"""What a prompt version file may contain, and the record it becomes once loaded.

Two kinds of versioned artifacts live under ``prompts/<name>/<version>.yaml``:
prompts (messages rendered with Jinja2) and RAG configs (``kind: rag``: where the
documents are, how they are chunked and embedded). Both are validated with pydantic so
that a wrong key or type is reported with its path, then turned into a frozen
:class:`PromptVersion`.
"""

from __future__ import annotations

import keyword
import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
COLLECTION_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{1,510}[A-Za-z0-9]$")
ROLES = ("system", "developer", "user", "assistant")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Message(_Strict):
    """One chat message; ``content`` is a Jinja2 template."""

    role: Literal["system", "developer", "user", "assistant"]
    content: str


class Chunking(_Strict):
    """How source documents are cut into chunks, in characters."""

    size: int = Field(default=800, gt=0)
    overlap: int = Field(default=0, ge=0)

    @model_validator(mode="after")
    def _overlap_below_size(self) -> Chunking:
        if self.overlap >= self.size:
            raise ValueError(f"overlap ({self.overlap}) must be smaller than size ({self.size})")
        return self


class ChromaServer(_Strict):
    """A Chroma server to use instead of the embedded store."""

    host: str = Field(min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)


class RagConfig(_Strict):
    """The retrieval settings of a ``kind: rag`` version."""

    sources: list[str] = Field(min_length=1)
    allowed_roots: list[str] = Field(default_factory=list)
    chunking: Chunking = Field(default_factory=Chunking)
    embedder: str = Field(default="all-MiniLM-L6-v2", min_length=1)
    top_k: int = Field(default=4, ge=1, le=1000)
    collection: str
    chroma: ChromaServer | None = None

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _source_list(value)


class PromptFile(_Strict):
    """Schema of a prompt version file."""

    kind: Literal["prompt"] = "prompt"
    description: str = ""
    variables: list[str] = Field(default_factory=list)
    rag: str | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    messages: list[Message] = Field(min_length=1)

    @field_validator("variables")
    @classmethod
    def _identifiers(cls, value: list[str]) -> list[str]:
        seen: set[str] = set()
        for name in value:
            if not name.isidentifier() or keyword.iskeyword(name):
                raise ValueError(f"{name!r} is not a valid variable name")
            if name in seen:
                raise ValueError(f"{name!r} is listed twice")
            seen.add(name)
        return value

    @field_validator("params")
    @classmethod
    def _json_values(cls, value: dict[str, Any]) -> dict[str, Any]:
        _require_json(value, "params")
        return value

    @field_validator("rag")
    @classmethod
    def _reference(cls, value: str | None) -> str | None:
        if value is not None and split_ref(value) is None:
            raise ValueError(f"{value!r} is not NAME, NAME@VERSION or NAME@LABEL")
        return value

    @model_validator(mode="after")
    def _context_is_retrieved(self) -> PromptFile:
        if self.rag is not None and "context" in self.variables:
            raise ValueError(
                "variables: 'context' is filled by retrieval when `rag:` is set; remove it"
            )
        return self


class RagFile(_Strict):
    """Schema of a ``kind: rag`` version file."""

    kind: Literal["rag"]
    description: str = ""
    sources: list[str] = Field(min_length=1)
    # folders outside the project root that sources may come from (links and globs)
    allowed_roots: list[str] = Field(default_factory=list)
    chunking: Chunking = Field(default_factory=Chunking)
    embedder: str = Field(default="all-MiniLM-L6-v2", min_length=1)
    top_k: int = Field(default=4, ge=1, le=1000)
    collection: str | None = None
    chroma: ChromaServer | None = None

    @field_validator("sources", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return _source_list(value)

    @field_validator("collection")
    @classmethod
    def _chroma_name(cls, value: str | None) -> str | None:
        if value is not None and not COLLECTION_RE.match(value):
            raise ValueError(
                f"{value!r} is not a valid collection name "
                "(3-512 characters: letters, digits, '.', '_', '-'; starts and ends alphanumeric)"
            )
        return value

    def config(self, name: str) -> RagConfig:
        """The retrieval settings, with the collection defaulting to the config's name."""
        return RagConfig(
            sources=self.sources,
            allowed_roots=self.allowed_roots,
            chunking=self.chunking,
            embedder=self.embedder,
            top_k=self.top_k,
            collection=self.collection or name,
            chroma=self.chroma,
        )


def split_ref(ref: str) -> tuple[str, str | None] | None:
    """``NAME`` / ``NAME@X`` → (name, X or None); None when malformed."""
    name, sep, tail = ref.strip().partition("@")
    if not NAME_RE.match(name) or (sep and not NAME_RE.match(tail)):
        return None
    return name, (tail if sep else None)


def _source_list(value: Any) -> Any:
    # `sources: corpus/**/*.md` and a list of globs mean the same; empty globs are mistakes.
    if isinstance(value, str):
        value = [value]
    if isinstance(value, list):
        for glob in value:
            if isinstance(glob, str) and not glob.strip():
                raise ValueError("a source glob is empty")
    return value


def _require_json(value: Any, where: str) -> None:
    """Params go into the digest as JSON: refuse YAML-only types such as dates."""
    if value is None or isinstance(value, str | bool | int):
        return
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"{where}: {value} is not a finite number")
        return
    if isinstance(value, list):
        for i, item in enumerate(value):
            _require_json(item, f"{where}[{i}]")
        return
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise ValueError(f"{where}: key {key!r} is not a string")
            _require_json(item, f"{where}.{key}")
        return
    raise ValueError(f"{where}: {type(value).__name__} values are not allowed (quote it)")


@dataclass(frozen=True)
class PromptVersion:
    """One loaded version of a prompt or RAG config.

    ``digest`` identifies what the version does: sha256 over a canonical JSON of its
    messages, params, variables and, for a prompt with ``rag:``, the digest of the RAG
    config the reference resolves to. Results are stored under it.
    """

    name: str
    version: str
    digest: str
    kind: Literal["prompt", "rag"]
    path: Path
    description: str = ""
    variables: list[str] = field(default_factory=list)
    params: dict[str, Any] = field(default_factory=dict)
    messages: list[dict[str, str]] = field(default_factory=list)
    rag: str | None = None
    rag_digest: str | None = None
    rag_config: RagConfig | None = None
    locked: bool = False
    edited: bool = False  # locked, but the file no longer matches the lock
    content_digest: str = ""  # digest of the file alone (rag reference as written)

    def __hash__(self) -> int:
        return hash((self.name, self.version, self.digest))

    @property
    def ref(self) -> str:
        """``name@version``."""
        return f"{self.name}@{self.version}"

    @property
    def short_digest(self) -> str:
        return self.digest[:12]
