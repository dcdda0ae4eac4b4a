"""When to call an endpoint again, and how long to wait first.

The policy is exponential backoff with full jitter (wait a uniform random time between
zero and ``base * 2**attempt``, capped), except when the server says how long to wait
(``retry-after-ms`` or ``Retry-After``): then that wait is honoured, plus a little jitter
so that many callers told the same thing do not come back at the same instant.

A 429 answered through a :class:`~llmops.providers.limiter.RateLimiter` is different: it
does not count against ``max_retries``. The limiter pauses the whole pool for the wait the
server states, and the request goes again until the endpoint has answered only 429s for
the limiter's time budget.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar

from llmops.providers.base import ProviderCallError, RateLimitExhausted
from llmops.providers.rate_headers import RateHeaders, parse_retry_after

if TYPE_CHECKING:
    from llmops.providers.limiter import RateLimiter

__all__ = [
    "RateLimited",
    "RetryPolicy",
    "TransientError",
    "call_with_retries",
    "parse_retry_after",
]

T = TypeVar("T")


class TransientError(Exception):
    """A failed attempt worth repeating: 429, 5xx, timeout, dropped connection, bad body."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RateLimited(TransientError):
    """An HTTP 429, with what its headers say about the endpoint's limits."""

    def __init__(self, reason: str, headers: RateHeaders) -> None:
        super().__init__(reason, headers.reset_s)
        self.headers = headers


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait between attempts.

    Attributes:
        max_retries: retries after the first attempt (0 = one attempt only).
        base_s: the first backoff window; window ``n`` is ``base_s * 2**n``.
        max_backoff_s: the largest backoff window.
        max_retry_after_s: the longest server-requested wait that is honoured as is.
    """

    max_retries: int = 4
    base_s: float = 0.5
    max_backoff_s: float = 20.0
    max_retry_after_s: float = 60.0
    rng: random.Random = field(default_factory=random.Random, compare=False, repr=False)

    def delay(self, retry_index: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``retry_index`` (0-based)."""
        if retry_after is not None and retry_after >= 0:
            wait = min(retry_after, self.max_retry_after_s)
            return wait + self.rng.uniform(0, min(0.1 * wait, 1.0))
        window = min(self.max_backoff_s, self.base_s * (2**retry_index))
        return self.rng.uniform(0, window)


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
    limiter: RateLimiter | None = None,
) -> tuple[T, int]:
    """Run ``attempt`` until it succeeds, retrying on :class:`TransientError`.

    Returns the result and the number of attempts made. Any other exception propagates
    at once. Once the retries are spent, raises :class:`ProviderCallError` saying what
    was called, how many attempts were made and the last reason. With a ``limiter``, a
    :class:`RateLimited` attempt is repeated without using a retry (the limiter does the
    waiting) until the limiter is exhausted: then :class:`RateLimitExhausted`.
    """
    retries = 0
    attempts = 0
    while True:
        attempts += 1
        try:
            return await attempt(), attempts
        except RateLimited as exc:
            if limiter is None:
                await _retry_or_give_up(exc, retries, attempts, policy, what, sleep)
                retries += 1
            elif limiter.exhausted:
                raise RateLimitExhausted(
                    f"{what}: the endpoint answered only HTTP 429 (rate limited) for "
                    f"{limiter.max_wait_s:g} s (rate_limit.max_wait_s); stopping the run"
                ) from exc
        except TransientError as exc:
            await _retry_or_give_up(exc, retries, attempts, policy, what, sleep)
            retries += 1


async def _retry_or_give_up(
    exc: TransientError,
    retries: int,
    attempts: int,
    policy: RetryPolicy,
    what: str,
    sleep: Callable[[float], Awaitable[object]],
) -> None:
    if retries >= policy.max_retries:
        noun = "attempt" if attempts == 1 else "attempts"
        raise ProviderCallError(
            f"{what}: {exc.reason} (gave up after {attempts} {noun})"
        ) from exc
    await sleep(policy.delay(retries, exc.retry_after))
