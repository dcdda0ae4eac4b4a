"""Rate limits: the shared limiter against the test server's token bucket, and its parts."""

from __future__ import annotations

import asyncio
import random
import threading
import time
from typing import Any

import httpx
import pytest

from llmops.project import ProviderConfig
from llmops.providers import Completion, RateLimitExhausted, RetryPolicy
from llmops.providers.limiter import RateLimiter, limiter_for
from llmops.providers.openai import OpenAIProvider
from llmops.providers.rate_headers import parse_duration, parse_rate_headers
from tests.openai_server import FakeOpenAI, Reply, TokenBucket, openai_duration

FAST = RetryPolicy(max_retries=4, base_s=0.01, rng=random.Random(0))


def provider(fake: FakeOpenAI, retry: RetryPolicy = FAST, **overrides: Any) -> OpenAIProvider:
    return OpenAIProvider(ProviderConfig.model_validate(fake.provider_config(**overrides)),
                          retry=retry)


async def many(p: OpenAIProvider, n: int, workers: int, *, close: bool = True,
               first: int = 0) -> list[Completion | Exception]:
    sem = asyncio.Semaphore(workers)

    async def one(i: int) -> Completion | Exception:
        async with sem:
            try:
                return await p.complete([{"role": "user", "content": f"case {i}"}], {})
            except Exception as exc:
                return exc

    try:
        return await asyncio.gather(*(one(i) for i in range(first, first + n)))
    finally:
        if close:
            await p.aclose()


@pytest.mark.parametrize(("value", "seconds"), [
    ("1s", 1.0), ("6m0s", 360.0), ("20ms", 0.02), ("1h2m3.5s", 3723.5), ("0.25", 0.25),
    ("17.28s", 17.28), ("soon", None), ("5x", None), ("", None), (None, None),
])
def test_parse_duration(value: str | None, seconds: float | None) -> None:
    assert parse_duration(value) == (pytest.approx(seconds) if seconds is not None else None)


def test_rate_headers_as_openai_sends_them() -> None:
    h = parse_rate_headers({
        "x-ratelimit-limit-requests": "60", "X-RateLimit-Remaining-Requests": "59",
        "x-ratelimit-reset-requests": "1s", "x-ratelimit-limit-tokens": "150000",
        "x-ratelimit-remaining-tokens": "149984", "x-ratelimit-reset-tokens": "6ms",
    })
    assert (h.requests.limit, h.requests.remaining, h.requests.reset_s) == (60, 59, 1.0)
    assert h.tokens.reset_s == pytest.approx(0.006)
    assert h.requests.refill_bounds() == (0.0, 1.0)  # 59 or 59.x left: at most 1/s back
    low, high = h.tokens.refill_bounds() or (0, 0)
    assert low == pytest.approx(15 / 0.006) and high == pytest.approx(16 / 0.006)
    assert h.retry_after_s is None and h.reset_s is None  # nothing is empty: no wait
    empty = parse_rate_headers({"x-ratelimit-remaining-requests": "0",
                                "x-ratelimit-reset-requests": "250ms"})
    assert empty.reset_s == pytest.approx(0.25)
    told = parse_rate_headers({"retry-after-ms": "40", "x-ratelimit-remaining-requests": "0",
                               "x-ratelimit-reset-requests": "2s"})
    assert told.reset_s == pytest.approx(0.04)  # retry-after wins over the reset


def test_the_test_servers_bucket_and_headers() -> None:
    bucket = TokenBucket(40, 10)
    now = bucket.at
    assert all(bucket.take(1, now) for _ in range(10)) and not bucket.take(1, now)
    assert bucket.headers("requests")["x-ratelimit-remaining-requests"] == "0"
    assert bucket.take(1, now + 0.026)  # one more after 1/40 s
    assert openai_duration(0.0201) == "21ms" and openai_duration(360) == "6m0s"
    with FakeOpenAI() as fake, httpx.Client(timeout=5) as http:
        fake.set_rate_limit(0.5, 2)  # one request every 2 s, two at once
        body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
        codes = [http.post(fake.base_url + "/chat/completions", json=body) for _ in range(3)]
    assert [r.status_code for r in codes] == [200, 200, 429]
    assert codes[0].headers["x-ratelimit-limit-requests"] == "2"
    assert codes[0].headers["x-ratelimit-remaining-requests"] == "1"
    assert 1500 < int(codes[2].headers["retry-after-ms"]) <= 2000  # time to one more
    assert codes[2].headers["retry-after"] == "2"
    assert codes[2].json()["error"]["type"] == "rate_limit_error"
    assert fake.requests.rate_limited == 1


def test_full_speed_at_the_rate_limit_without_errors(openai_server: FakeOpenAI) -> None:
    # 200 cases, 32 at once, against 40 requests/s (a bucket of 10): the rate allows
    # 190/40 = 4.75 s. Every case must finish; few 429s once the headers are read.
    openai_server.set_rate_limit(40, 10)
    p = provider(openai_server, RetryPolicy(max_retries=0), max_concurrency=32)
    start = time.perf_counter()
    results = asyncio.run(many(p, 200, 32))
    wall = time.perf_counter() - start
    assert [r for r in results if isinstance(r, Exception)] == []
    assert [r.text for r in results if isinstance(r, Completion)] == [
        f"case {i}" for i in range(200)]
    assert 4.5 < wall < 4.75 * 1.5  # 1.25 on a quiet machine; 2 cores shared by others
    # The first 32 arrive together at a bucket of 10: about 22 429s, then few more.
    assert openai_server.requests.rate_limited < 60
    status = p.rate_status()
    assert status.rate_limited == openai_server.requests.rate_limited
    assert status.max_concurrency == 32 and status.in_flight == 0


@pytest.mark.parametrize("headers", [
    {"retry-after-ms": "1600"},
    {"Retry-After": "2"},  # seconds
    {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "1600ms"},
    {"x-ratelimit-remaining-tokens": "0", "x-ratelimit-reset-tokens": "1.6s",
     "x-ratelimit-remaining-requests": "30", "x-ratelimit-reset-requests": "3s"},
], ids=["retry-after-ms", "Retry-After", "reset-requests", "reset-tokens"])
def test_a_429_pauses_the_whole_pool(openai_server: FakeOpenAI, headers: dict[str, str]) -> None:
    openai_server.script(Reply(status=429, text="rate limit reached", headers=headers))
    # Each longer than the 1 s a 429 that says nothing gets, so a header not understood
    # shows as a pool that went early.
    wait = 2.0 if "Retry-After" in headers else 1.6
    openai_server.set_latency(20)
    p = provider(openai_server, max_concurrency=8)
    arrivals: list[float] = []
    original = openai_server.serve

    def timed(*args: Any) -> None:
        arrivals.append(time.monotonic())
        original(*args)

    openai_server.serve = timed  # type: ignore[method-assign]

    async def go() -> list[Completion | Exception]:
        first = asyncio.create_task(many(p, 1, 1, close=False))
        for _ in range(1000):  # until the 429 has come back (10 s at most)
            if p.rate_status().rate_limited:
                break
            await asyncio.sleep(0.01)
        rest = await many(p, 16, 8, first=1, close=False)
        done = [*(await first), *rest]
        await p.aclose()  # after the first call's retry, which may finish last
        return done

    results = asyncio.run(go())
    assert [r for r in results if not isinstance(r, Completion)] == []
    late = [t - arrivals[0] for t in arrivals[1:]]
    assert min(late) >= wait - 0.05  # nobody went before the stated reset (after the 429)
    assert min(late) < wait + 1.0  # and the pool went on once it had passed
    assert isinstance(results[0], Completion) and results[0].attempts == 2


def test_remaining_headers_slow_the_pool_down_before_the_wall(
    openai_server: FakeOpenAI,
) -> None:
    # A bucket of 40 at 40/s and only 8 in flight: the pool never meets a full bucket
    # at once, but at full speed (no latency) it would drain it in a fraction of a
    # second. Pacing by x-ratelimit-remaining-requests keeps it from ever running dry.
    openai_server.set_rate_limit(40, 40)
    p = provider(openai_server, RetryPolicy(max_retries=0), max_concurrency=8)
    start = time.perf_counter()
    results = asyncio.run(many(p, 160, 8))
    wall = time.perf_counter() - start
    assert all(isinstance(r, Completion) for r in results)
    # 0 on a quiet machine; a loaded one delays the server's clock. Without the pacing:
    # 7 429s and 6.3 s on the same machine.
    assert openai_server.requests.rate_limited <= 2
    assert 2.9 < wall < 3.0 * 1.6  # (160 - 40) / 40 s: the rate, not slower


def test_429s_do_not_use_the_retry_budget(openai_server: FakeOpenAI) -> None:
    openai_server.script(*[Reply.rate_limited(0.05, header="retry-after-ms")] * 6, "at last")
    c = asyncio.run(many(provider(openai_server, RetryPolicy(max_retries=0)), 1, 1))[0]
    assert isinstance(c, Completion) and c.text == "at last" and c.attempts == 7


def test_an_endpoint_that_only_answers_429_stops_after_the_budget(
    openai_server: FakeOpenAI,
) -> None:
    openai_server.set_faults(rate_429=1.0, retry_after_s=0.1)
    p = provider(openai_server, rate_limit={"max_wait_s": 1.0})
    start = time.perf_counter()
    results = asyncio.run(many(p, 4, 4))
    elapsed = time.perf_counter() - start
    assert all(isinstance(r, RateLimitExhausted) for r in results)
    message = str(results[0])
    assert "answered only HTTP 429" in message and "1 s (rate_limit.max_wait_s)" in message
    assert results[0].exit_code == 3  # type: ignore[union-attr]
    assert 1.0 <= elapsed < 2.5


def test_rpm_cap_spaces_requests_ahead_of_time(openai_server: FakeOpenAI) -> None:
    p = provider(openai_server, max_concurrency=16, rate_limit={"rpm": 1200})  # 20/s
    start = time.perf_counter()
    results = asyncio.run(many(p, 21, 16))
    assert all(isinstance(r, Completion) for r in results)
    assert 0.95 <= time.perf_counter() - start < 1.6  # 20 gaps of 50 ms


def test_tpm_cap_counts_prompt_and_max_tokens(openai_server: FakeOpenAI) -> None:
    # 400 characters (about 100 tokens) + max_tokens 20 = 120 tokens a request;
    # 7,200 tokens a minute = 120 a second: one request a second.
    p = provider(openai_server, rate_limit={"tpm": 7200}, params={"max_tokens": 20})

    async def go() -> float:
        start = time.perf_counter()
        try:
            await asyncio.gather(*(p.complete([{"role": "user", "content": "x" * 400}],
                                              {"_sample": i}) for i in range(3)))
        finally:
            await p.aclose()
        return time.perf_counter() - start

    assert 1.9 <= asyncio.run(go()) < 2.8


def test_one_limiter_per_endpoint_and_key(openai_server: FakeOpenAI) -> None:
    a = provider(openai_server, max_concurrency=4)
    judge = provider(openai_server, max_concurrency=8, rate_limit={"rpm": 600})
    assert a.limiter is judge.limiter and a.limiter.max_concurrency == 8
    other_key = provider(openai_server, api_key_env="")
    assert other_key.limiter is not a.limiter


def test_limiter_halves_on_a_429_once_per_event_and_climbs_back() -> None:
    clock = [100.0]
    limiter = RateLimiter("x", 16, clock=lambda: clock[0])
    no_headers = parse_rate_headers({})

    async def go() -> None:
        tickets = [await limiter.acquire() for _ in range(16)]
        for t in tickets[:5]:  # five 429s from requests sent together: one cut
            limiter.rate_limited(t, no_headers)
            limiter.release(t)
        assert limiter.concurrency == 8 and limiter.rate_limited_count == 5
        assert limiter.status().paused_s == pytest.approx(1.0)  # no stated wait: 1 s
        for t in tickets[5:]:
            limiter.answered(t, no_headers, None)
            limiter.release(t)
        clock[0] += 2
        for _ in range(200):  # AIMD without headers: +1 per `cap` answers
            t = await limiter.acquire()
            limiter.answered(t, no_headers, None)
            limiter.release(t)
        assert limiter.concurrency == 16

    asyncio.run(go())


def test_limiter_is_shared_across_event_loops_and_threads(openai_server: FakeOpenAI) -> None:
    config = ProviderConfig.model_validate(openai_server.provider_config(max_concurrency=2))
    limiter = limiter_for(openai_server.base_url, config)
    inside = 0
    most = 0
    lock = threading.Lock()

    async def hold() -> None:
        nonlocal inside, most
        async with limiter.slot():
            with lock:
                inside += 1
                most = max(most, inside)
            await asyncio.sleep(0.05)
            with lock:
                inside -= 1

    async def four() -> None:
        await asyncio.gather(*(hold() for _ in range(4)))

    threads = [threading.Thread(target=asyncio.run, args=(four(),)) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert most <= 2 and limiter.status().in_flight == 0
