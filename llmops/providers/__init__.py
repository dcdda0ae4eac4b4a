"""Model endpoints behind one protocol: an OpenAI-compatible server, or the embedded model.

``make_provider`` is the one way in: it checks the config (a missing API key is a
``ConfigError`` at once, before any call), builds the provider, and puts the response
cache in front of it. The SDK and llama.cpp are imported only here, on demand.
"""

from __future__ import annotations

from pathlib import Path

from llmops.project import ProviderConfig
from llmops.providers.base import (
    Completion,
    EmbeddingProvider,
    Provider,
    ProviderCallError,
    TokenLogprob,
)
from llmops.providers.retry import RetryPolicy

__all__ = [
    "Completion",
    "EmbeddingProvider",
    "Provider",
    "ProviderCallError",
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
        ConfigError: the API key variable is unset, or the local model is missing.
    """
    provider: Provider
    if config.kind == "openai":
        from llmops.providers.openai import OpenAIProvider

        provider = OpenAIProvider(config, retry=retry)
    else:
        from llmops.providers.local import LocalProvider

        provider = LocalProvider(config, root=root)
    if cache_path is None:
        return provider
    from llmops.providers.cache import CachedProvider, ResponseCache

    return CachedProvider(provider, ResponseCache(cache_path), no_cache=no_cache)
