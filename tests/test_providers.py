"""The openai provider: the real SDK against the fault-injecting test server."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Coroutine
from typing import Any, TypeVar

import pytest

from llmops.errors import ConfigError, UserError
from llmops.project import ProviderConfig
from llmops.providers import Completion, ProviderCallError, RetryPolicy, make_provider
from llmops.providers.openai import OpenAIProvider
from tests.fixtures_servers import free_port
from tests.openai_server import FakeOpenAI, Reply

T = TypeVar("T")
FAST = RetryPolicy(max_retries=4, base_s=0.01, rng=random.Random(0))


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


def user(text: str) -> list[dict[str, Any]]:
    return [{"role": "system", "content": "Be brief."}, {"role": "user", "content": text}]


def provider(fake: FakeOpenAI, retry: RetryPolicy = FAST, **overrides: Any) -> OpenAIProvider:
    conf = fake.provider_config(**overrides)
    return OpenAIProvider(ProviderConfig.model_validate(conf), retry=retry)


async def complete(p: OpenAIProvider, text: str, **params: Any) -> Completion:
    try:
        return await p.complete(user(text), params)
    finally:
        await p.aclose()


def test_success_with_usage_latency_and_model(openai_server: FakeOpenAI) -> None:
    c = run(complete(provider(openai_server), "How do refunds work?"))
    assert c.text == "How do refunds work?"
    assert c.model == "fake-model"
    assert c.prompt_tokens == 12 and c.completion_tokens == 8  # the fake's word tokens
    assert c.finish_reason == "stop" and c.attempts == 1 and not c.cached
    assert 0 < c.latency_ms < 5000
    assert openai_server.requests.count("/v1/chat/completions") == 1


def test_params_are_sent_as_given(openai_server: FakeOpenAI) -> None:
    fmt = {"type": "json_object"}
    p = provider(openai_server, params={"temperature": 0.7, "seed": 3})
    c = run(complete(p, "q", temperature=0, max_tokens=2, response_format=fmt,
                     model="other-model", _sample=2))
    body = openai_server.requests.bodies[-1]
    assert body["model"] == "other-model"
    assert body["temperature"] == 0 and body["seed"] == 3 and body["max_tokens"] == 2
    assert body["response_format"] == fmt
    assert "_sample" not in body
    assert c.text == '{"' and c.finish_reason == "length"  # truncated JSON-mode answer


def test_500s_are_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply.error(500), Reply.error(503), "fine")
    c = run(complete(provider(openai_server), "q"))
    assert (c.text, c.attempts) == ("fine", 3)
    assert openai_server.requests.count() == 3


@pytest.mark.parametrize("header", ["Retry-After", "retry-after-ms"])
def test_429_waits_as_long_as_retry_after_says(openai_server: FakeOpenAI, header: str) -> None:
    openai_server.script(Reply.rate_limited(0.8, header=header), "after the wait")
    start = time.perf_counter()
    c = run(complete(provider(openai_server), "q"))
    elapsed = time.perf_counter() - start
    assert c.text == "after the wait" and c.attempts == 2
    # the backoff alone would wait at most 10 ms; the header asks for 0.8 s (+ <= 10% jitter)
    assert 0.8 <= elapsed < 1.5


def test_timeout_is_retried_then_reported(openai_server: FakeOpenAI) -> None:
    openai_server.script(*[Reply.slow(3.0)] * 3)
    p = provider(openai_server, RetryPolicy(max_retries=2, base_s=0.01), timeout_s=0.3)
    start = time.perf_counter()
    with pytest.raises(ProviderCallError) as info:
        run(complete(p, "q"))
    elapsed = time.perf_counter() - start
    assert "timed out after 0.3 s (gave up after 3 attempts)" in str(info.value)
    assert openai_server.base_url in str(info.value)
    assert 0.9 <= elapsed < 2.5


def test_timeout_then_success(openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply.slow(3.0), "on time")
    c = run(complete(provider(openai_server, timeout_s=0.3), "q"))
    assert (c.text, c.attempts) == ("on time", 2)


def test_malformed_json_is_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply.malformed(), Reply(body=b'{"no": "choices"}'), "good")
    c = run(complete(provider(openai_server), "q"))
    assert (c.text, c.attempts) == ("good", 3)


def test_malformed_json_every_time_is_an_error(openai_server: FakeOpenAI) -> None:
    openai_server.set_faults(rate_malformed=1.0)
    with pytest.raises(ProviderCallError, match="malformed JSON in the response"):
        run(complete(provider(openai_server, RetryPolicy(max_retries=2, base_s=0.01)), "q"))
    assert openai_server.requests.count() == 3


def test_dropped_connection_is_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply.dropped(), Reply.dropped(), "reconnected")
    c = run(complete(provider(openai_server), "q"))
    assert (c.text, c.attempts) == ("reconnected", 3)


def test_unreachable_endpoint_gives_up_with_a_clear_message() -> None:
    conf = ProviderConfig(kind="openai", base_url=f"http://127.0.0.1:{free_port()}/v1",
                          api_key_env="", model="m")
    p = OpenAIProvider(conf, retry=RetryPolicy(max_retries=2, base_s=0.01))
    with pytest.raises(ProviderCallError) as info:
        run(complete(p, "q"))
    message = str(info.value)
    assert "connection failed" in message and "gave up after 3 attempts" in message
    assert info.value.exit_code == 3


def test_client_errors_are_not_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply.error(400, "max_tokens is too large"))
    with pytest.raises(ProviderCallError, match="HTTP 400: max_tokens is too large"):
        run(complete(provider(openai_server), "q"))
    assert openai_server.requests.count() == 1


def test_wrong_key_is_a_401_not_retried(openai_server: FakeOpenAI,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(openai_server.api_key_env, "sk-wrong")
    with pytest.raises(ProviderCallError, match="HTTP 401: Incorrect API key"):
        run(complete(provider(openai_server), "q"))
    assert openai_server.requests.count() == 1


def test_thirty_percent_500s_all_complete(openai_server: FakeOpenAI) -> None:
    openai_server.set_faults(rate_500=0.3, seed=7)
    p = provider(openai_server, RetryPolicy(max_retries=8, base_s=0.005), max_concurrency=16)

    async def many() -> list[Completion]:
        try:
            return await asyncio.gather(*(p.complete(user(f"case {i}"), {}) for i in range(200)))
        finally:
            await p.aclose()

    results = run(many())
    assert [c.text for c in results] == [f"case {i}" for i in range(200)]
    failed = openai_server.requests.faults["500"]
    assert 0.2 < failed / openai_server.requests.count() < 0.4
    assert sum(c.attempts for c in results) == openai_server.requests.count()


def test_missing_key_variable_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMOPS_NO_SUCH_KEY", raising=False)
    conf = ProviderConfig(kind="openai", base_url="http://127.0.0.1:9/v1",
                          api_key_env="LLMOPS_NO_SUCH_KEY", model="m")
    with pytest.raises(ConfigError) as info:
        make_provider(conf, cache_path=None)
    assert isinstance(info.value, UserError) and info.value.exit_code == 2
    assert "LLMOPS_NO_SUCH_KEY" in str(info.value)
    monkeypatch.setenv("LLMOPS_NO_SUCH_KEY", "")
    with pytest.raises(ConfigError, match="LLMOPS_NO_SUCH_KEY"):
        make_provider(conf, cache_path=None)


def test_empty_key_env_means_no_key_needed() -> None:
    with FakeOpenAI() as fake:
        conf = ProviderConfig(kind="openai", base_url=fake.base_url, api_key_env="", model="m")
        c = run(complete(OpenAIProvider(conf), "keyless"))
    assert c.text == "keyless"


def test_no_model_anywhere_is_a_config_error(openai_server: FakeOpenAI) -> None:
    with pytest.raises(ConfigError, match="no model"):
        run(complete(provider(openai_server, model=None), "q"))
    assert openai_server.requests.count() == 0


def test_base_url_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:1234/v1/")
    p = OpenAIProvider(ProviderConfig(kind="openai", api_key_env="", model="m"))
    assert p.base_url == "http://127.0.0.1:1234/v1"
    assert p.identity == "openai:http://127.0.0.1:1234/v1:m"
    monkeypatch.delenv("OPENAI_BASE_URL")
    p = OpenAIProvider(ProviderConfig(kind="openai", api_key_env="", model="m"))
    assert p.base_url == "https://api.openai.com/v1"


def test_concurrency_bound_is_respected(openai_server: FakeOpenAI) -> None:
    openai_server.set_latency(50)
    p = provider(openai_server, max_concurrency=5)

    async def many() -> None:
        try:
            await asyncio.gather(*(p.complete(user(f"q{i}"), {}) for i in range(40)))
        finally:
            await p.aclose()

    start = time.perf_counter()
    run(many())
    elapsed = time.perf_counter() - start
    assert openai_server.requests.max_in_flight == 5
    assert 0.4 <= elapsed < 1.5  # 8 waves of 50 ms


def test_logprobs_with_top_alternatives(openai_server: FakeOpenAI) -> None:
    top = {"4": {"4": -0.4, "3": -1.3, "5": -2.2, "2": -4.0}}
    openai_server.script(Reply(text='{"score": 4}', top_for=top))
    c = run(complete(provider(openai_server), "judge", logprobs=True, top_logprobs=3))
    assert c.logprobs is not None
    assert "".join(t.token for t in c.logprobs) == '{"score": 4}'
    four = next(t for t in c.logprobs if t.token == "4")
    assert four.logprob == -0.4
    assert four.top == {"4": -0.4, "3": -1.3, "5": -2.2}
    assert all(len(t.top) == 3 for t in c.logprobs)


def test_no_logprobs_unless_asked(openai_server: FakeOpenAI) -> None:
    assert run(complete(provider(openai_server), "q")).logprobs is None


def test_embeddings_in_order_and_batched(openai_server: FakeOpenAI) -> None:
    p = provider(openai_server)
    texts = [f"refund policy number {i}" for i in range(600)] + ["refund policy number 0"]

    async def go() -> list[list[float]]:
        try:
            return await p.embed(texts, "embedder")
        finally:
            await p.aclose()

    vectors = run(go())
    assert len(vectors) == 601 and all(len(v) == 384 for v in vectors)
    assert openai_server.requests.count("/v1/embeddings") == 2  # 512 per request
    assert vectors[0] == pytest.approx(vectors[600], abs=1e-6)
    assert sum(x * x for x in vectors[5]) == pytest.approx(1.0, abs=1e-5)
    assert vectors[1] != vectors[2]
    assert openai_server.requests.bodies[-1]["encoding_format"] == "base64"


def test_embeddings_retry_on_faults(openai_server: FakeOpenAI) -> None:
    openai_server.set_faults(rate_500=0.5, seed=1)
    p = provider(openai_server, RetryPolicy(max_retries=10, base_s=0.005))

    async def go() -> list[list[float]]:
        try:
            return await asyncio.gather(*(p.embed([f"t{i}"], "e") for i in range(10)))  # type: ignore[return-value]
        finally:
            await p.aclose()

    assert len(run(go())) == 10
    assert openai_server.requests.faults["500"] > 0


def test_one_provider_across_event_loops(openai_server: FakeOpenAI) -> None:
    p = provider(openai_server)
    assert run(p.complete(user("first"), {})).text == "first"
    assert run(p.complete(user("second"), {})).text == "second"
    run(p.aclose())


def test_a_hundred_connections_at_once_need_no_retry(openai_server: FakeOpenAI) -> None:
    # Long enough that the client opens most connections before the first answer, even
    # when the machine is busy.
    openai_server.set_latency(400)
    p = provider(openai_server, RetryPolicy(max_retries=0), max_concurrency=100)

    async def many() -> list[Completion]:
        try:
            return await asyncio.gather(*(p.complete(user(f"q{i}"), {}) for i in range(100)))
        finally:
            await p.aclose()

    results = run(many())
    assert all(c.attempts == 1 for c in results)
    assert openai_server.requests.count() == 100
    assert openai_server.requests.max_in_flight > 50
