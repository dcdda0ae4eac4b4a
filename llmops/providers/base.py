"""What every model endpoint offers the runner and the rubric judge."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from llmops.errors import RunStopped, RuntimeFailure

if TYPE_CHECKING:
    from llmops.evalsets import Case

Message = dict[str, Any]  # {"role": ..., "content": ...}, OpenAI chat shape


@dataclass
class TokenLogprob:
    """One generated token with its log probability and the top alternatives."""

    token: str
    logprob: float
    top: dict[str, float] = field(default_factory=dict)


@dataclass
class Completion:
    """One answer as the runner records it.

    ``contexts`` are the passages an application target (or a recorded case) says it
    answered from, as ``[{"text", "source"}]``; they are scored like a RAG prompt's
    retrieved chunks. A model endpoint leaves them None.
    """

    text: str
    model: str
    latency_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    finish_reason: str | None = None
    cached: bool = False
    logprobs: list[TokenLogprob] | None = None
    attempts: int = 1  # calls made for this answer (retries + 1); 0 when served from cache
    contexts: list[dict[str, Any]] | None = None


@dataclass(frozen=True)
class RateStatus:
    """How an endpoint's rate limiter stands, for the progress line.

    Attributes:
        concurrency: requests the endpoint is allowed in flight now (lowered after a 429).
        max_concurrency: the configured ceiling.
        in_flight: requests holding a slot now.
        rate_limited: HTTP 429 answers received so far in this process.
        paused_s: seconds until the paused pool may send again (0 when not paused).
    """

    concurrency: int
    max_concurrency: int
    in_flight: int
    rate_limited: int
    paused_s: float


class ProviderCallError(RuntimeFailure):
    """A call that failed for good (after retries); recorded as the case's error."""


class RateLimitExhausted(ProviderCallError, RunStopped):
    """The endpoint answered only HTTP 429 for longer than its wait budget.

    Unlike other call errors this stops the run: every other case would wait as long.
    Finished results stay in the store for ``--resume``.
    """


@runtime_checkable
class Provider(Protocol):
    """An async chat-completion endpoint, an application target or recorded answers."""

    @property
    def identity(self) -> str:
        """Endpoint and model, e.g. ``openai:http://127.0.0.1:8000/v1:gpt-4o-mini``."""
        ...

    @property
    def default_model(self) -> str | None:
        """The model asked for when the params name none."""
        ...

    @property
    def default_params(self) -> dict[str, Any]:
        """Params sent with every call, under the call's own params."""
        ...

    async def complete(
        self, messages: list[Message], params: dict[str, Any], *, case: Case | None = None
    ) -> Completion:
        """One answer to ``messages``; raises :class:`ProviderCallError` once retries are spent.

        ``case`` is the eval case being answered: an application target receives its
        variables, a recorded provider reads its ``output``. Endpoints ignore it.
        """
        ...

    def rate_status(self) -> RateStatus | None:
        """The endpoint's rate limiter, or None when calls are not rate limited."""
        ...

    async def aclose(self) -> None:
        """Release connections or the loaded model."""
        ...


class Configured:
    """What every provider shares: the model and params it was configured with."""

    _model: str | None
    _params: dict[str, Any]

    @property
    def default_model(self) -> str | None:
        return self._model

    @property
    def default_params(self) -> dict[str, Any]:
        return self._params


class Unlimited(Configured):
    """A provider that is no rate-limited endpoint (a local model, a Python target,
    recorded answers): no rate limiter to show."""

    def rate_status(self) -> RateStatus | None:
        return None


@runtime_checkable
class EmbeddingProvider(Protocol):
    """An endpoint that also serves ``/embeddings`` (the openai provider)."""

    async def embed(
        self, texts: list[str], model: str | None = None, *, batch_size: int | None = None
    ) -> list[list[float]]:
        """One vector per text, in order; :class:`ProviderCallError` once retries are spent."""
        ...
