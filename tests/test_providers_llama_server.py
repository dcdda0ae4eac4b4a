"""The openai provider against a real OpenAI-compatible server: llama.cpp's, on SmolLM2."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from llmops.project import ProviderConfig
from llmops.providers import Completion, ProviderCallError, RetryPolicy, make_provider
from llmops.providers.openai import OpenAIProvider
from tests.fixtures_servers import LlamaServer

pytestmark = [pytest.mark.slow, pytest.mark.llama]

QUESTION = [{"role": "user", "content": "What is the capital of France? One word."}]
SCORE_SCHEMA = {"type": "object", "properties": {"score": {"type": "integer"}},
                "required": ["score"]}


def ask(server: LlamaServer, messages: list[dict[str, Any]], params: dict[str, Any],
        **conf: Any) -> Completion:
    p = OpenAIProvider(ProviderConfig.model_validate(server.provider_config(**conf)),
                       retry=RetryPolicy(max_retries=1, base_s=0.01))

    async def go() -> Completion:
        try:
            return await p.complete(messages, params)
        finally:
            await p.aclose()

    return asyncio.run(go())


def test_completion_with_usage(llama_server: LlamaServer) -> None:
    c = ask(llama_server, QUESTION, {"max_tokens": 12, "temperature": 0})
    assert "paris" in c.text.lower()
    assert c.model == "smollm2" and c.attempts == 1
    assert c.prompt_tokens and c.prompt_tokens > 10
    assert c.completion_tokens and 0 < c.completion_tokens <= 12
    again = ask(llama_server, QUESTION, {"max_tokens": 12, "temperature": 0})
    assert again.text == c.text


def test_logprobs_from_the_real_server(llama_server: LlamaServer) -> None:
    c = ask(llama_server, QUESTION,
            {"max_tokens": 6, "temperature": 0, "logprobs": True, "top_logprobs": 5})
    assert c.logprobs is not None and len(c.logprobs) == c.completion_tokens
    assert "".join(t.token for t in c.logprobs) == c.text
    for t in c.logprobs:
        assert t.logprob <= 0 and len(t.top) >= 5
        # greedy decoding: the chosen token is the most likely alternative
        assert max(t.top.values()) == pytest.approx(t.logprob)


def test_json_object_with_schema_is_valid_json(llama_server: LlamaServer) -> None:
    prompt = [{"role": "user", "content": "Rate 1 to 5 how polite this is: 'Thanks a lot!'"}]
    fmt = {"type": "json_object", "schema": SCORE_SCHEMA}
    c = ask(llama_server, prompt, {"max_tokens": 20, "temperature": 0, "response_format": fmt})
    assert isinstance(json.loads(c.text)["score"], int)


def test_unsupported_response_format_is_reported(llama_server: LlamaServer) -> None:
    # llama.cpp's server knows only "text" and "json_object"; it answers a 500 (retried)
    fmt = {"type": "json_schema", "json_schema": {"name": "s", "schema": SCORE_SCHEMA}}
    with pytest.raises(ProviderCallError, match=r"HTTP 500: .*json_object"):
        ask(llama_server, QUESTION, {"max_tokens": 4, "response_format": fmt})


def test_cached_through_make_provider(llama_server: LlamaServer, tmp_path: Path) -> None:
    config = ProviderConfig.model_validate(llama_server.provider_config())
    p = make_provider(config, cache_path=tmp_path / "cache.db")

    async def go() -> list[Completion]:
        try:
            return [await p.complete(QUESTION, {"max_tokens": 6, "temperature": 0})
                    for _ in range(2)]
        finally:
            await p.aclose()

    first, second = asyncio.run(go())
    assert not first.cached and second.cached and second.text == first.text
