"""The embedded model, in-process: real SmolLM2 through llama-cpp-python."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import ConfigError
from llmops.project import ProviderConfig
from llmops.providers import Completion, ProviderCallError, make_provider
from llmops.providers.local import LocalProvider, bundled_model_path, llama_kwargs

pytestmark = [pytest.mark.slow, pytest.mark.llama]

QUESTION = [{"role": "user", "content": "What is the capital of France? One word."}]
SCORE_SCHEMA = {"type": "object", "properties": {"score": {"type": "integer"}},
                "required": ["score"]}


def ask(p: Any, messages: list[dict[str, Any]], params: dict[str, Any]) -> Completion:
    return asyncio.run(p.complete(messages, params))


@pytest.fixture(scope="module")
def local() -> LocalProvider:
    return LocalProvider(ProviderConfig(kind="local"))


def test_answers_with_usage_and_is_repeatable(local: LocalProvider) -> None:
    first = ask(local, QUESTION, {"max_tokens": 12})
    assert "paris" in first.text.lower()
    assert first.prompt_tokens and first.prompt_tokens > 10
    assert first.completion_tokens and 0 < first.completion_tokens <= 12
    assert first.model == "SmolLM2-135M-Instruct.Q4_1" and first.latency_ms > 0
    # sampling with the default seed: the same call gives the same answer, whatever ran between
    ask(local, [{"role": "user", "content": "Say something else."}],
        {"max_tokens": 5, "temperature": 1.0})
    again = ask(local, QUESTION, {"max_tokens": 12})
    assert again.text == first.text


def test_concurrent_calls_are_serialised_and_all_answered(local: LocalProvider) -> None:
    async def go() -> list[Completion]:
        return await asyncio.gather(*(
            local.complete([{"role": "user", "content": f"Count to {n}."}], {"max_tokens": 6})
            for n in range(3, 6)))

    results = asyncio.run(go())
    assert all(r.text for r in results)


def test_logprobs_with_top_alternatives(local: LocalProvider) -> None:
    c = ask(local, QUESTION, {"max_tokens": 6, "logprobs": True, "top_logprobs": 3})
    assert c.logprobs is not None and len(c.logprobs) == c.completion_tokens
    assert "".join(t.token for t in c.logprobs) == c.text
    for t in c.logprobs:
        assert t.logprob <= 0 and len(t.top) == 3 and t.token in t.top
        assert t.top[t.token] == pytest.approx(t.logprob)


def test_json_schema_response_format_constrains_the_answer(local: LocalProvider) -> None:
    fmt = {"type": "json_schema", "json_schema": {"name": "score", "schema": SCORE_SCHEMA}}
    prompt = [{"role": "user", "content": "Rate 1 to 5 how polite this is: 'Thanks a lot!'"}]
    c = ask(local, prompt, {"max_tokens": 20, "response_format": fmt})
    assert isinstance(json.loads(c.text)["score"], int)


def test_prompt_longer_than_the_context_is_a_call_error(local: LocalProvider) -> None:
    with pytest.raises(ProviderCallError, match="exceed context window of 2048"):
        ask(local, [{"role": "user", "content": "word " * 3000}], {"max_tokens": 4})


def test_params_are_translated_for_llama_cpp() -> None:
    kw = llama_kwargs({"temperature": 0, "n": 3, "model": "x", "logprobs": False,
                       "response_format": {"type": "json_schema",
                                           "json_schema": {"schema": SCORE_SCHEMA}}})
    assert kw == {"temperature": 0, "seed": 0,
                  "response_format": {"type": "json_object", "schema": SCORE_SCHEMA}}
    assert llama_kwargs({"logprobs": True, "seed": 5}) == {"logprobs": True, "top_logprobs": 0,
                                                          "seed": 5}


def test_model_path_override(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="model file not found"):
        LocalProvider(ProviderConfig(kind="local", model_path="models/missing.gguf"), root=tmp_path)
    (tmp_path / "models").mkdir()
    link = tmp_path / "models" / "mine.gguf"
    link.symlink_to(bundled_model_path())
    p = LocalProvider(ProviderConfig(kind="local", model_path="models/mine.gguf"), root=tmp_path)
    assert p.path == bundled_model_path().resolve()
    assert p.identity == LocalProvider(ProviderConfig(kind="local")).identity


def test_through_make_provider_with_the_cache(tmp_path: Path) -> None:
    config = ProviderConfig(kind="local")
    p = make_provider(config, cache_path=tmp_path / "cache.db")
    assert p.identity.startswith("local:SmolLM2-135M-Instruct.Q4_1.gguf:")
    first = ask(p, QUESTION, {"max_tokens": 8})
    second = ask(p, QUESTION, {"max_tokens": 8})
    assert not first.cached and second.cached and second.text == first.text
