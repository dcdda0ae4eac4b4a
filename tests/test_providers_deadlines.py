"""Deadlines and answers that are no answer: slow bodies, filtered, refused and empty."""

from __future__ import annotations

import asyncio
import json
import random
import time
from typing import Any

import pytest

from llmops.project import ProviderConfig
from llmops.providers import Completion, ProviderCallError, RetryPolicy
from llmops.providers.openai import OpenAIProvider
from tests.openai_server import FakeOpenAI, Reply


def provider(fake: FakeOpenAI, retries: int = 2, **overrides: Any) -> OpenAIProvider:
    return OpenAIProvider(ProviderConfig.model_validate(fake.provider_config(**overrides)),
                          retry=RetryPolicy(max_retries=retries, base_s=0.01,
                                            rng=random.Random(0)))


def ask(p: OpenAIProvider, text: str = "q") -> Completion:
    async def go() -> Completion:
        try:
            return await p.complete([{"role": "user", "content": text}], {})
        finally:
            await p.aclose()

    return asyncio.run(go())


def test_a_body_trickling_in_is_cut_at_timeout_s(openai_server: FakeOpenAI) -> None:
    # Headers at once, then one byte every 0.5 s: each read is quick, the whole is not.
    openai_server.script(*[Reply.trickle(0.5)] * 2)
    start = time.perf_counter()
    with pytest.raises(ProviderCallError, match=r"timed out after 1 s \(gave up after 2"):
        ask(provider(openai_server, retries=1, timeout_s=1))
    assert time.perf_counter() - start < 3.0  # two attempts of 1 s, not 100 bytes x 0.5 s


def test_a_trickled_answer_within_the_deadline_is_fine(openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply.trickle(0.001, text="slowly but surely"))
    assert ask(provider(openai_server, timeout_s=5)).text == "slowly but surely"


def test_trickle_fault_from_the_command_line_settings(openai_server: FakeOpenAI) -> None:
    openai_server.set_faults(rate_trickle=1.0, trickle_s=0.3)
    with pytest.raises(ProviderCallError, match=r"timed out after 0\.5 s"):
        ask(provider(openai_server, retries=0, timeout_s=0.5))
    assert openai_server.requests.faults["trickle"] == 1


def test_content_filter_is_an_error_with_its_reason_not_retried(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.script(Reply.filtered(), "never asked")
    with pytest.raises(ProviderCallError) as info:
        ask(provider(openai_server))
    assert "filtered the answer (finish_reason content_filter)" in str(info.value)
    assert openai_server.base_url in str(info.value)
    assert openai_server.requests.count() == 1


def test_refusal_is_an_error_not_retried(openai_server: FakeOpenAI) -> None:
    body = {"model": "m", "choices": [{"index": 0, "finish_reason": "stop", "message": {
        "role": "assistant", "content": None, "refusal": "I can't help with that."}}]}
    openai_server.script(Reply(body=json.dumps(body).encode()))
    with pytest.raises(ProviderCallError, match="the model refused: I can't help with that"):
        ask(provider(openai_server))
    assert openai_server.requests.count() == 1


def test_an_empty_answer_is_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script("", Reply(null_content=True), "an answer")
    c = ask(provider(openai_server))
    assert (c.text, c.attempts) == ("an answer", 3)


def test_an_empty_answer_every_time_is_an_error(openai_server: FakeOpenAI) -> None:
    openai_server.script(*[""] * 3)
    with pytest.raises(ProviderCallError, match=r"empty answer \(finish_reason stop\)"):
        ask(provider(openai_server))
    assert openai_server.requests.count() == 3


def test_empty_because_of_max_tokens_is_not_retried(openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply(text="", finish_reason="length"))
    with pytest.raises(ProviderCallError, match="max_tokens was reached before any text"):
        ask(provider(openai_server))
    assert openai_server.requests.count() == 1


def test_a_tool_call_is_an_answer(openai_server: FakeOpenAI) -> None:
    body = {"model": "m", "choices": [{"index": 0, "finish_reason": "tool_calls", "message": {
        "role": "assistant", "content": None, "tool_calls": [{"id": "c1", "type": "function",
        "function": {"name": "lookup", "arguments": "{}"}}]}}]}
    openai_server.script(Reply(body=json.dumps(body).encode()))
    c = ask(provider(openai_server))
    assert c.text == "" and c.finish_reason == "tool_calls"
