"""The embedder of an index, by the model name its RAG config gives.

``hash-<dim>`` (for instance ``hash-256``) is a feature-hashing bag of words: each
lower-cased word adds ±1 to one of ``dim`` buckets chosen by its CRC-32, and rows are
scaled to unit length. It has no weights, costs microseconds per chunk and retrieves
by word overlap only; it is meant for tests, demos and benchmarks of the index
bookkeeping, not for semantic retrieval. Every other name goes to the project's
embedder (:func:`llmops.embeddings.get_embedder`), with the RAG config's model name.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from llmops.embeddings import Embedder
    from llmops.project import Project

_HASH_MODEL = re.compile(r"^hash-(\d{1,5})$")
_WORD = re.compile(r"\w+")


@dataclass
class HashEmbedder:
    """Feature-hashed bag of words; deterministic across processes and machines."""

    dim: int

    @property
    def identity(self) -> str:
        spec = f"llmops-hash-embedder v1 crc32 lower-words dim={self.dim}"
        return "hash:" + hashlib.sha256(spec.encode()).hexdigest()[:16]

    def embed(self, texts: list[str]) -> np.ndarray:
        import numpy as np

        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            vec = out[row]
            for word in _WORD.findall(text.lower()):
                h = zlib.crc32(word.encode())
                vec[h % self.dim] += 1.0 if h & 0x80000000 else -1.0
            norm = float(np.linalg.norm(vec))
            if norm == 0.0:
                vec[0] = 1.0
            else:
                vec /= norm
        return out


_cache: dict[tuple[str, str], Any] = {}


def get_index_embedder(project: Project, model: str) -> Embedder:
    """The embedder for a RAG config's ``embedder`` name (cached per process)."""
    match = _HASH_MODEL.match(model)
    if match:
        dim = int(match.group(1))
        if dim < 2:
            from llmops.errors import IndexConfigError

            raise IndexConfigError(f"embedder {model!r}: the dimension must be at least 2")
        return HashEmbedder(dim)
    key = (str(project.root), model)
    if key not in _cache:
        from llmops.embeddings import get_embedder

        config = project.config.embedder.model_copy(update={"model": model})
        # No embedding cache: the collection itself holds every chunk's vector.
        _cache[key] = get_embedder(config, None, root=project.root)
    embedder: Embedder = _cache[key]
    return embedder


def embedder_identity(project: Project, model: str) -> str:
    """The identity of the embedder named ``model`` without loading the model.

    A local model's identity is the digest of its files; the digest of each file is
    remembered by path, size and mtime under ``.llmops/``, so a check does not re-read
    the weights every time.
    """
    if _HASH_MODEL.match(model) or project.config.embedder.kind != "local":
        return get_index_embedder(project, model).identity
    from llmops.embeddings import EmbeddingCache, model_identity, resolve_model_dir

    model_dir = resolve_model_dir(model, project.root)
    key = ("identity", str(model_dir))
    if key not in _cache:
        digests = EmbeddingCache(project.state_dir / "model-digests.db")
        _cache[key] = model_identity(model_dir, digests)
    identity: str = _cache[key]
    return identity
