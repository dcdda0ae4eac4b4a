"""What every model endpoint offers the runner and the rubric judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from llmops.errors import RuntimeFailure

Message = dict[str, Any]  # {"role": ..., "content": ...}, OpenAI chat shape


@dataclass
class TokenLogprob:
    """One generated token with its log probability and the top alternatives."""

    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)


@dataclass
class Completion:
    """One chat completion as the runner records it."""

    text: str
    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    cached: bool = False
    logprobs: list[TokenLogprob] | None = None
    attempts: int = 1  # calls made for this answer (retries + 1); 0 when served from cache


class ProviderCallError(RuntimeFailure):
    """A call that failed for good (after retries); recorded as the case's error."""


@runtime_checkable
class Provider(Protocol):
    """An async chat-completion endpoint."""

    @property
    def identity(self) -> str:
        """Endpoint and model, e.g. ``openai:http://127.0.0.1:8000/v1:gpt-4o-mini``."""
        ...

    async def complete(self, messages: list[Message], params: dict[str, Any]) -> Completion:
        """One chat completion; raises :class:`ProviderCallError` once retries are spent."""
        ...

    async def aclose(self) -> None:
        """Release connections or the loaded model."""
        ...


@runtime_checkable
class EmbeddingProvider(Protocol):
    """An endpoint that also serves ``/embeddings`` (the openai provider)."""

    async def embed(self, texts: list[str], model: str | None = None) -> list[list[float]]:
        """One vector per text, in order; :class:`ProviderCallError` once retries are spent."""
        ...
