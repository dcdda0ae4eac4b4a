"""Any OpenAI-compatible endpoint (OpenAI, vLLM, llama.cpp server, gateways) via the SDK.

One client for chat completions and embeddings, with one retry policy and one rate
limiter per endpoint. The SDK's own retries are off (``max_retries=0``): retries follow
:class:`~llmops.providers.retry.RetryPolicy`, so 5xx, timeouts, dropped connections and
malformed bodies are handled the same way everywhere, and 429s go through the endpoint's
:class:`~llmops.providers.limiter.RateLimiter`. ``timeout_s`` bounds each attempt from
the request to the last byte of the answer. Requests go through the SDK's documented raw
``client.post(path, cast_to=Response, body=...)``: the body is sent as built (no per-call
type transform of the messages) and read with orjson rather than the SDK's models. That
costs about 30% less CPU per call than ``chat.completions.create`` and lets a malformed
body be retried.
"""

from __future__ import annotations

import asyncio
import base64
import os
import re
import sys
import time
from array import array
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

import openai
import orjson

try:  # openai >= 3 ships its own httpx fork
    from httpx2 import Response as _Response
except ImportError:  # pragma: no cover - openai 1.x/2.x
    from httpx import Response as _Response  # type: ignore[assignment]

from llmops._credentials import remember_key, without_credentials
from llmops.errors import ConfigError
from llmops.project import ProviderConfig
from llmops.providers._shape import (
    MalformedResponse,
    answer_problem,
    completion_from_dict,
    estimate_tokens,
    request_params,
)
from llmops.providers.base import (
    Completion,
    Configured,
    Message,
    ProviderCallError,
    RateStatus,
)
from llmops.providers.limiter import Slot, limiter_for
from llmops.providers.rate_headers import parse_rate_headers
from llmops.providers.retry import (
    RateLimited,
    RetryPolicy,
    TransientError,
    call_with_retries,
    parse_retry_after,
)

if TYPE_CHECKING:
    from openai._types import RequestOptions

    from llmops.evalsets import Case

T = TypeVar("T")

DEFAULT_BASE_URL = "https://api.openai.com/v1"
NO_KEY = "no-key"  # the SDK needs a key; with api_key_env '' no Authorization is sent
_RETRY_STATUS = frozenset({408, 409})
_EMBED_BATCH = 512
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def resolve_base_url(config: ProviderConfig) -> str:
    """``base_url`` from the config, else ``OPENAI_BASE_URL``, else OpenAI's."""
    url = config.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
    return url.rstrip("/")


def resolve_api_key(config: ProviderConfig) -> str:
    """The key from the env var named by ``api_key_env``; ConfigError when it is unset.

    An empty ``api_key_env`` means the endpoint needs no key (a local server).
    """
    if not config.api_key_env:
        return NO_KEY
    key = os.environ.get(config.api_key_env)
    if not key:
        raise ConfigError(
            f"environment variable {config.api_key_env} is not set",
            field="api_key_env",
            hint=f"export {config.api_key_env}=..., or set api_key_env: '' "
            "for an endpoint that needs no key",
        )
    remember_key(config.api_key_env, key)  # masked wherever text is shown or stored
    return key


def resolve_headers(config: ProviderConfig) -> dict[str, str]:
    """``default_headers`` with every ``${VAR}`` replaced by that environment variable.

    Raises:
        ConfigError: a referenced variable is unset.
    """
    out: dict[str, str] = {}
    for name, value in config.default_headers.items():

        def expand(match: re.Match[str], name: str = name) -> str:
            var = match.group(1)
            if var not in os.environ:
                raise ConfigError(
                    f"environment variable {var} is not set", field=f"default_headers.{name}"
                )
            remember_key(var, os.environ[var])  # masked wherever text is shown or stored
            return os.environ[var]

        out[name] = _ENV_REF.sub(expand, value)
    return out


class OpenAIProvider(Configured):
    """Chat completions and embeddings from one OpenAI-compatible endpoint."""

    def __init__(self, config: ProviderConfig, *, retry: RetryPolicy | None = None) -> None:
        self.config = config
        self.base_url = resolve_base_url(config)
        self._api_key = resolve_api_key(config)
        self._headers = resolve_headers(config)
        self._query = dict(config.default_query)
        # No key, no Authorization header (unless default_headers set one): an endpoint
        # that takes its key in another header must not see a made-up bearer token.
        self._options: RequestOptions = {}
        if not config.api_key_env and not _has(self._headers, "authorization"):
            self._options = {"headers": {"Authorization": openai.Omit()}}
        self._model = config.model
        self._params = dict(config.params)
        self.retry = retry or RetryPolicy(max_retries=config.max_retries)
        self.limiter = limiter_for(self.base_url, config)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._client: openai.AsyncOpenAI | None = None
        self._sem = asyncio.Semaphore(config.max_concurrency)

    @property
    def identity(self) -> str:
        query = f"?{urlencode(sorted(self._query.items()))}" if self._query else ""
        url = without_credentials(self.base_url + query)  # a key in the query: ***
        return f"openai:{url}:{self._model or ''}"

    def rate_status(self) -> RateStatus:
        return self.limiter.status()

    def _session(self) -> tuple[openai.AsyncOpenAI, asyncio.Semaphore]:
        # The HTTP connection pool and the semaphore belong to one event loop; a new
        # loop (a second asyncio.run) gets fresh ones.
        loop = asyncio.get_running_loop()
        if self._loop is not loop or self._client is None:
            self._client = openai.AsyncOpenAI(
                api_key=self._api_key,
                base_url=self.base_url,
                max_retries=0,
                timeout=self.config.timeout_s,
                default_headers=self._headers or None,
                default_query=self._query or None,
            )
            self._sem = asyncio.Semaphore(self.config.max_concurrency)
            self._loop = loop
        return self._client, self._sem

    def _model_of(self, body: dict[str, Any]) -> str:
        model = body.pop("model", None) or self._model
        if not model:
            raise ConfigError(
                "no model to call",
                field="model",
                hint="set model under provider in llmops.yaml or in the prompt's params",
            )
        return str(model)

    async def complete(
        self, messages: list[Message], params: dict[str, Any], *, case: Case | None = None
    ) -> Completion:
        """One chat completion, retried per the policy (``case`` is not sent).

        Raises:
            ProviderCallError: a non-retryable HTTP error, a filtered answer, or retries
                spent; :class:`RateLimitExhausted` when the endpoint answers only 429s.
        """
        body = request_params(self._params, params)
        model = self._model_of(body)
        body["model"] = model
        body["messages"] = messages
        what = f"{without_credentials(self.base_url)}/chat/completions model {model}"

        def read(content: bytes, latency_ms: float) -> Completion:
            data = orjson.loads(content)
            completion = completion_from_dict(data, latency_ms=latency_ms, fallback_model=model)
            problem = answer_problem(data)
            if problem is not None:
                reason, retry = problem
                if retry:
                    raise TransientError(reason)
                raise ProviderCallError(f"{what}: {reason}")
            return completion

        completion, attempts = await self._call(
            "/chat/completions", body, read, what=what, tokens=estimate_tokens(body)
        )
        completion.attempts = attempts
        return completion

    async def embed(
        self, texts: list[str], model: str | None = None, *, batch_size: int | None = None
    ) -> list[list[float]]:
        """Embeddings of ``texts`` (in order) from ``/embeddings``, batched and retried."""
        name = model or self._model
        if not name:
            raise ConfigError("no embedding model to call", field="model")
        size = batch_size or _EMBED_BATCH
        what = f"{without_credentials(self.base_url)}/embeddings model {name}"

        async def batch(chunk: list[str]) -> list[list[float]]:
            body = {"model": name, "input": chunk, "encoding_format": "base64"}

            def read(content: bytes, latency_ms: float) -> list[list[float]]:
                return _embeddings_from(orjson.loads(content), len(chunk))

            tokens = sum(len(t) for t in chunk) / 4
            vectors, _ = await self._call("/embeddings", body, read, what=what, tokens=tokens)
            return vectors

        chunks = [texts[i : i + size] for i in range(0, len(texts), size)]
        parts = await asyncio.gather(*(batch(c) for c in chunks))
        return [v for part in parts for v in part]

    async def _call(
        self,
        path: str,
        body: dict[str, Any],
        read: Callable[[bytes, float], T],
        *,
        what: str,
        tokens: float,
    ) -> tuple[T, int]:
        """POST ``body`` to ``path`` through the limiter and the retry policy."""
        client, sem = self._session()

        async def attempt() -> T:
            async with sem, self.limiter.slot(tokens) as slot:
                start = time.perf_counter()
                response = await self._send(client, path, body, slot)
                content = response.content
                latency_ms = (time.perf_counter() - start) * 1000
                slot.answered(parse_rate_headers(response.headers), _usage_tokens(content))
            try:
                return read(content, latency_ms)
            except orjson.JSONDecodeError:
                reason = f"malformed JSON in the response ({_snippet(content)})"
                raise TransientError(reason) from None
            except (MalformedResponse, KeyError, TypeError, ValueError) as exc:
                detail = str(exc) or type(exc).__name__
                raise TransientError(f"{detail} ({_snippet(content)})") from None

        return await call_with_retries(attempt, self.retry, what=what, limiter=self.limiter)

    async def _send(
        self, client: openai.AsyncOpenAI, path: str, body: dict[str, Any], slot: Slot
    ) -> _Response:
        """One POST, its whole body read within ``timeout_s``; errors sorted for retrying."""
        timeout = self.config.timeout_s
        try:
            async with asyncio.timeout(timeout):
                response: _Response = await client.post(
                    path, cast_to=_Response, body=body, options=self._options
                )
                await response.aread()
                return response
        except (TimeoutError, openai.APITimeoutError):
            raise TransientError(f"timed out after {timeout:g} s") from None
        except openai.APIConnectionError as exc:
            cause = exc.__cause__ or exc
            raise TransientError(f"connection failed: {_describe(cause)}") from None
        except openai.APIStatusError as exc:
            status = exc.status_code
            message = f"HTTP {status}: {_error_message(exc)}"
            headers = exc.response.headers
            if status == 429:
                rate = parse_rate_headers(headers)
                slot.rate_limited(rate)
                raise RateLimited(message, rate) from None
            if status in _RETRY_STATUS or status >= 500:
                raise TransientError(message, parse_retry_after(headers)) from None
            raise ProviderCallError(f"{without_credentials(self.base_url)}: {message}") from None

    async def aclose(self) -> None:
        if self._client is not None and self._loop is asyncio.get_running_loop():
            await self._client.close()
        self._client = None
        self._loop = None


def _has(headers: dict[str, Any], name: str) -> bool:
    return any(k.lower() == name for k in headers)


def _usage_tokens(content: bytes) -> float | None:
    # Cheap: only the usage block matters to the limiter, and only when there is one.
    at = content.rfind(b'"total_tokens"')
    if at < 0:
        return None
    digits = re.match(rb'"total_tokens"\s*:\s*(\d+)', content[at:])
    return float(digits.group(1)) if digits else None


def _embeddings_from(data: dict[str, Any], expected: int) -> list[list[float]]:
    rows = sorted(data["data"], key=lambda r: r.get("index", 0))
    if len(rows) != expected:
        raise ValueError(f"{len(rows)} embeddings for {expected} inputs")
    out = []
    for row in rows:
        emb = row["embedding"]
        if isinstance(emb, str):
            vec = array("f", base64.b64decode(emb))
            if sys.byteorder != "little":
                vec.byteswap()
            out.append(vec.tolist())
        else:
            out.append([float(x) for x in emb])
    return out


def _error_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:300]
        if isinstance(inner, str):
            return inner[:300]
    text = exc.response.text.strip()
    return text[:300] if text else exc.response.reason_phrase or "error"


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def _snippet(content: bytes) -> str:
    text = content[:80].decode("utf-8", "replace")
    return repr(text) + ("..." if len(content) > 80 else "")
