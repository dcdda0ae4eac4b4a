"""The retry policy on its own: backoff windows, Retry-After, giving up."""

from __future__ import annotations

import asyncio
import email.utils
import random
import time

import pytest

from llmops.providers.base import ProviderCallError
from llmops.providers.retry import RetryPolicy, TransientError, call_with_retries, parse_retry_after


def test_full_jitter_stays_inside_the_doubling_window() -> None:
    policy = RetryPolicy(base_s=0.5, max_backoff_s=4.0, rng=random.Random(1))
    for retry in range(6):
        window = min(4.0, 0.5 * 2**retry)
        delays = [policy.delay(retry) for _ in range(300)]
        assert all(0 <= d <= window for d in delays)
        # full jitter spreads over the whole window, not just its top
        assert min(delays) < 0.1 * window and max(delays) > 0.9 * window


def test_retry_after_is_honoured_with_a_little_jitter_and_capped() -> None:
    policy = RetryPolicy(base_s=0.001, max_retry_after_s=10.0, rng=random.Random(2))
    delays = [policy.delay(0, retry_after=2.0) for _ in range(200)]
    assert all(2.0 <= d <= 2.2 for d in delays)
    assert len(set(delays)) > 100
    assert 10.0 <= policy.delay(0, retry_after=3600) <= 11.0


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"Retry-After": "3"}, 3.0),
        ({"retry-after": "1.5"}, 1.5),
        ({"retry-after-ms": "250"}, 0.25),
        ({"Retry-After": "9", "Retry-After-Ms": "120"}, 0.12),  # ms wins, any case
        ({"Retry-After": "soon"}, None),
        ({"Retry-After-Ms": "x", "Retry-After": "2"}, 2.0),
        ({}, None),
    ],
)
def test_parse_retry_after(headers: dict[str, str], expected: float | None) -> None:
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date() -> None:
    now = time.time()
    header = email.utils.formatdate(now + 30, usegmt=True)
    value = parse_retry_after({"Retry-After": header}, now=now)
    assert value is not None and 28 <= value <= 31
    past = email.utils.formatdate(now - 30, usegmt=True)
    assert parse_retry_after({"Retry-After": past}, now=now) == 0.0


def test_gives_up_after_max_retries_with_the_last_reason() -> None:
    waits: list[float] = []
    calls = 0

    async def sleep(s: float) -> None:
        waits.append(s)

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise TransientError(f"HTTP 503: busy #{calls}")

    policy = RetryPolicy(max_retries=3, base_s=1.0, rng=random.Random(0))
    with pytest.raises(ProviderCallError) as info:
        asyncio.run(call_with_retries(attempt, policy, what="POST /x", sleep=sleep))
    assert calls == 4 and len(waits) == 3
    assert str(info.value) == "POST /x: HTTP 503: busy #4 (gave up after 4 attempts)"
    assert all(0 <= w <= 1.0 * 2**i for i, w in enumerate(waits))


def test_success_after_transient_failures_reports_attempts() -> None:
    outcomes: list[object] = [TransientError("a", retry_after=0.5), TransientError("b"), "ok"]
    waits: list[float] = []

    async def sleep(s: float) -> None:
        waits.append(s)

    async def attempt() -> str:
        item = outcomes.pop(0)
        if isinstance(item, Exception):
            raise item
        return str(item)

    policy = RetryPolicy(max_retries=5, base_s=0.01)
    result, attempts = asyncio.run(call_with_retries(attempt, policy, what="x", sleep=sleep))
    assert (result, attempts) == ("ok", 3)
    assert 0.5 <= waits[0] <= 0.55 and waits[1] <= 0.02


def test_other_errors_are_not_retried() -> None:
    calls = 0

    async def attempt() -> str:
        nonlocal calls
        calls += 1
        raise ProviderCallError("HTTP 400: bad request")

    with pytest.raises(ProviderCallError, match="HTTP 400"):
        asyncio.run(call_with_retries(attempt, RetryPolicy(max_retries=5), what="x"))
    assert calls == 1


def test_zero_retries_means_one_attempt() -> None:
    async def attempt() -> str:
        raise TransientError("timed out after 1 s")

    with pytest.raises(ProviderCallError, match=r"gave up after 1 attempt\)"):
        asyncio.run(call_with_retries(attempt, RetryPolicy(max_retries=0), what="x"))
