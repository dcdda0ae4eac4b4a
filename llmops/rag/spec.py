"""What an index is built from, and the digest that names its collection.

The digest covers everything that changes the stored vectors or which documents they
come from: the source globs, the chunking, the chunker's own version, the embedder's
name and its identity (the weights digest). Two configs with equal digests share a
collection; any difference, including new weights of the same dimension, gets a
collection of its own, so vectors of two models never mix.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import IndexConfigError
from llmops.rag.chunking import check_chunking

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.prompts import PromptVersion

CHUNKER_VERSION = "1"


@dataclass(frozen=True)
class IndexSpec:
    """A ``kind: rag`` version, reduced to what indexing needs."""

    ref: str  # name@version of the RAG config
    name: str  # the logical index: the config's ``collection``
    origin: Path  # the config file, for error messages
    sources: tuple[str, ...]
    size: int
    overlap: int
    embedder: str
    top_k: int
    chroma: tuple[str, int] | None
    allowed_roots: tuple[str, ...] = ()  # where sources may come from besides the project

    def config(self, identity: str) -> dict[str, Any]:
        """The digested config; ``identity`` is the embedder's weights digest."""
        return {
            "sources": sorted(self.sources),
            "chunking": {"size": self.size, "overlap": self.overlap},
            "chunker": CHUNKER_VERSION,
            "embedder": self.embedder,
            "embedder_identity": identity,
        }

    def digest(self, identity: str) -> str:
        text = json.dumps(self.config(identity), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(text.encode()).hexdigest()

    def chroma_name(self, digest: str) -> str:
        """Chroma's collection name: the index name and the digest's first 16 hex digits."""
        base = re.sub(r"[^A-Za-z0-9._-]", "-", self.name)[:200].strip("._-") or "index"
        return f"{base}-{digest[:16]}"

    def location(self, project: Project) -> str:
        """Where the collection lives: the embedded store's folder or the server's URL."""
        if self.chroma is not None:
            return f"http://{self.chroma[0]}:{self.chroma[1]}"
        return "embedded:" + str(project.state_dir / "chroma")


def spec_of(project: Project, version: PromptVersion) -> IndexSpec:
    """The index spec of a RAG config, or of the RAG config a prompt refers to.

    Raises:
        IndexConfigError: the version is not a RAG config and has no ``rag:`` reference,
            or its chunking is invalid.
    """
    if version.kind != "rag" or version.rag_config is None:
        if version.rag:
            from llmops.prompts import load_registry

            return spec_of(project, load_registry(project).resolve(version.rag))
        raise IndexConfigError(
            f"{version.ref} is not a RAG config (expected `kind: rag`)", file=version.path
        )
    rag = version.rag_config
    try:
        check_chunking(rag.chunking.size, rag.chunking.overlap)
    except IndexConfigError as exc:
        exc.file = str(version.path)
        raise
    chroma = (rag.chroma.host, rag.chroma.port) if rag.chroma is not None else None
    return IndexSpec(
        ref=version.ref,
        name=rag.collection,
        origin=version.path,
        sources=tuple(rag.sources),
        size=rag.chunking.size,
        overlap=rag.chunking.overlap,
        embedder=rag.embedder,
        top_k=rag.top_k,
        chroma=chroma,
        allowed_roots=tuple(rag.allowed_roots),
    )
