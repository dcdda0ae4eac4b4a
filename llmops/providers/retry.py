"""When to call an endpoint again, and how long to wait first.

The policy is exponential backoff with full jitter (wait a uniform random time between
zero and ``base * 2**attempt``, capped), except when the server says how long to wait
(``retry-after-ms`` or ``Retry-After``): then that wait is honoured, plus a little jitter
so that many callers told the same thing do not come back at the same instant.
"""

from __future__ import annotations

import asyncio
import email.utils
import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

from llmops.providers.base import ProviderCallError

T = TypeVar("T")


class TransientError(Exception):
    """A failed attempt worth repeating: 429, 5xx, timeout, dropped connection, bad body."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


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


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a response asks for, in seconds, or None.

    ``retry-after-ms`` (OpenAI's, milliseconds) wins over ``Retry-After`` (seconds or an
    HTTP date). Header names are matched case-insensitively.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = lowered.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000.0)
        except ValueError:
            pass
    value = lowered.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


async def call_with_retries(
    attempt: Callable[[], Awaitable[T]],
    policy: RetryPolicy,
    *,
    what: str,
    sleep: Callable[[float], Awaitable[object]] = asyncio.sleep,
) -> tuple[T, int]:
    """Run ``attempt`` until it succeeds, retrying on :class:`TransientError`.

    Returns the result and the number of attempts made. Any other exception propagates
    at once. Once the retries are spent, raises :class:`ProviderCallError` saying what
    was called, how many attempts were made and the last reason.
    """
    retries = 0
    while True:
        try:
            return await attempt(), retries + 1
        except TransientError as exc:
            if retries >= policy.max_retries:
                attempts = retries + 1
                noun = "attempt" if attempts == 1 else "attempts"
                raise ProviderCallError(
                    f"{what}: {exc.reason} (gave up after {attempts} {noun})"
                ) from exc
            await sleep(policy.delay(retries, exc.retry_after))
            retries += 1
