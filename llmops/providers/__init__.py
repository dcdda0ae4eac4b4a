"""What answers the cases, behind one protocol: an OpenAI-compatible endpoint, the embedded
model, your own Python function, or answers recorded in the eval set.

``make_provider`` is the one way in: it checks the config (a missing API key or a target
that cannot be imported is a ``ConfigError`` at once, before any call), builds the
provider, and puts the response cache in front of it (endpoints always; a Python target
only with ``cache: true``; recorded answers never). The SDK and llama.cpp are imported
only here, on demand.
"""

from __future__ import annotations

from pathlib import Path

from llmops.project import ProviderConfig
from llmops.providers.base import (
    Completion,
    EmbeddingProvider,
    Provider,
    ProviderCallError,
    RateLimitExhausted,
    RateStatus,
    TokenLogprob,
)
from llmops.providers.retry import RetryPolicy

__all__ = [
    "Completion",
    "EmbeddingProvider",
    "Provider",
    "ProviderCallError",
    "RateLimitExhausted",
    "RateStatus",
    "RetryPolicy",
    "TokenLogprob",
    "make_provider",
]


def make_provider(
    config: ProviderConfig,
    *,
    cache_path: Path | None,
    no_cache: bool = False,
    root: Path | None = None,
    retry: RetryPolicy | None = None,
) -> Provider:
    """The provider ``config`` describes, behind the response cache at ``cache_path``.

    Args:
        config: ``provider:`` or ``judge:`` from llmops.yaml.
        cache_path: the SQLite cache file; None for no cache at all.
        no_cache: do not read the cache (answers are still written to it).
        root: the project root, against which a relative ``model_path`` is resolved.
        retry: the retry policy; default: exponential backoff from 0.5 s, ``max_retries``.

    Raises:
        ConfigError: the API key variable is unset, the local model is missing, or the
            Python target cannot be imported.
    """
    provider = _build(config, root=root, retry=retry)
    cached = config.cache if config.cache is not None else config.kind in ("openai", "local")
    if cache_path is None or not cached or config.kind == "recorded":
        return provider
    from llmops.providers.cache import CachedProvider, ResponseCache

    return CachedProvider(provider, ResponseCache(cache_path), no_cache=no_cache,
                          case_in_key=config.kind == "python")


def _build(config: ProviderConfig, *, root: Path | None, retry: RetryPolicy | None) -> Provider:
    if config.kind == "openai":
        from llmops.providers.openai import OpenAIProvider

        return OpenAIProvider(config, retry=retry)
    if config.kind == "python":
        from llmops.providers.python import PythonProvider

        return PythonProvider(config, root=root)
    if config.kind == "recorded":
        from llmops.providers.recorded import RecordedProvider

        return RecordedProvider(config)
    from llmops.providers.local import LocalProvider

    return LocalProvider(config, root=root)
