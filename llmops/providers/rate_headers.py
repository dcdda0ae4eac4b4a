"""What an endpoint's response headers say about its rate limit.

OpenAI (and Azure OpenAI, vLLM behind gateways, LiteLLM, ...) send with every answer::

    x-ratelimit-limit-requests: 2400        x-ratelimit-limit-tokens: 150000
    x-ratelimit-remaining-requests: 2399    x-ratelimit-remaining-tokens: 149984
    x-ratelimit-reset-requests: 25ms        x-ratelimit-reset-tokens: 6m0s

and with a 429 ``retry-after-ms`` (milliseconds) and/or ``Retry-After`` (seconds or an
HTTP date). A reset is the time until the bucket is full again, so the refill rate is
about ``(limit - remaining) / reset``.
"""

from __future__ import annotations

import email.utils
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass

_DURATION = re.compile(r"(\d+(?:\.\d+)?)(ms|h|m|s)")


@dataclass(frozen=True)
class Budget:
    """One dimension (requests or tokens) of a rate limit as a response states it."""

    limit: float | None = None
    remaining: float | None = None
    reset_s: float | None = None

    def refill_bounds(self) -> tuple[float, float] | None:
        """The lowest and highest refill rate (units/s) consistent with this budget.

        ``remaining`` is rounded down: the true level is in ``[remaining, remaining + 1)``,
        so the deficit ``limit - level`` refilled in ``reset_s`` gives a range, not a value.
        """
        if self.limit is None or self.remaining is None or not self.reset_s:
            return None
        deficit = self.limit - self.remaining
        if deficit <= 0:
            return None
        return max(0.0, deficit - 1) / self.reset_s, deficit / self.reset_s


@dataclass(frozen=True)
class RateHeaders:
    """The rate-limit headers of one response."""

    requests: Budget
    tokens: Budget
    retry_after_s: float | None

    @property
    def reset_s(self) -> float | None:
        """How long the server says to wait: retry-after, else the reset of an empty budget."""
        if self.retry_after_s is not None:
            return self.retry_after_s
        waits = [b.reset_s for b in (self.requests, self.tokens)
                 if b.reset_s is not None and b.remaining is not None and b.remaining < 1]
        return max(waits) if waits else None


def parse_duration(value: str | None) -> float | None:
    """Seconds in ``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s`` or a bare number of seconds."""
    if value is None:
        return None
    text = value.strip().lower()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    total, pos = 0.0, 0
    scale = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
    for match in _DURATION.finditer(text):
        if match.start() != pos:
            return None
        total += float(match.group(1)) * scale[match.group(2)]
        pos = match.end()
    return total if pos == len(text) and pos > 0 else None


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return float(value)
    except ValueError:
        return None


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """The wait a response asks for, in seconds, or None.

    ``retry-after-ms`` (OpenAI's, milliseconds) wins over ``Retry-After`` (seconds or an
    HTTP date). Header names are matched case-insensitively.
    """
    lowered = {k.lower(): v for k, v in headers.items()}
    ms = _number(lowered.get("retry-after-ms"))
    if ms is not None:
        return max(0.0, ms / 1000.0)
    value = lowered.get("retry-after")
    if value is None:
        return None
    seconds = _number(value)
    if seconds is not None:
        return max(0.0, seconds)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - (time.time() if now is None else now))


def parse_rate_headers(headers: Mapping[str, str]) -> RateHeaders:
    """The ``x-ratelimit-*`` and retry headers of a response (absent ones are None)."""
    lowered = {k.lower(): v for k, v in headers.items()}

    def budget(kind: str) -> Budget:
        return Budget(
            limit=_number(lowered.get(f"x-ratelimit-limit-{kind}")),
            remaining=_number(lowered.get(f"x-ratelimit-remaining-{kind}")),
            reset_s=parse_duration(lowered.get(f"x-ratelimit-reset-{kind}")),
        )

    return RateHeaders(budget("requests"), budget("tokens"), parse_retry_after(lowered))
