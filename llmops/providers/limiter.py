"""One rate limiter per endpoint, shared by every request the process sends to it.

Workers that each honour a server's short ``retry-after`` on their own all come back at
the same instant, meet the same empty bucket and run out of retries. Here the pool acts
as one:

- **Pause.** A 429 stops every request to the endpoint until the reset the server states
  (``retry-after-ms``, ``Retry-After``, else the ``x-ratelimit-reset-*`` of an empty
  budget).
- **Concurrency, AIMD.** The cap on requests in flight is halved on a 429 (once per
  congestion event: only answers to requests sent after the last cut count) and grows
  back to ``max_concurrency``: by one per answer when the server's headers let the pool
  pace itself, else by one after each ``cap`` answers.
- **Slowing down before the wall.** The latest ``x-ratelimit-remaining-*`` (less what was
  sent since) is a mirror of the server's bucket, refilled at the rate its headers imply;
  a request that would find it empty waits for the refill instead of drawing a 429.
- **Caps known ahead.** ``rate_limit: {rpm, tpm}`` space requests (and estimated tokens)
  evenly.
- **No headers at all.** A paced rate learned from 429s: 0.7 x the recent success rate
  after each congestion event, growing by about one request/s per second.

A 429 is not a failed attempt: the request waits and goes again. Only when the endpoint
has answered nothing but 429s for ``max_wait_s`` is the limiter :attr:`exhausted`.
The limiter is thread-safe and not bound to an event loop, so an embedder's private loop
and the run's loop share it.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import threading
import time
import weakref
from collections import deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from llmops.providers.base import RateStatus
from llmops.providers.rate_headers import Budget, RateHeaders

if TYPE_CHECKING:
    from llmops.project import ProviderConfig

DEFAULT_PAUSE_S = 1.0  # a 429 that states no wait
MAX_PAUSE_S = 60.0
# Pacing a little under the rate the headers imply: an estimate that comes out high costs
# a 429 and a pause, one that comes out low costs this fraction of the throughput.
REFILL_MARGIN = 0.99
_BOUNDS_KEPT = 64  # answers whose rate bounds are intersected
RESERVE, RESERVE_SHARE = 2.0, 0.1  # left in the server's bucket: 2 units, at most 10%


class _Pacer:
    """Even spacing at ``rate`` units per second (a GCRA with no burst)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate
        self.tat = float("-inf")  # when the previous request's share of the rate ends

    def earliest(self, cost: float, now: float) -> float:
        return max(now, self.tat)

    def commit(self, cost: float, start: float) -> None:
        self.tat = max(self.tat, start) + cost / self.rate

    def adjust(self, delta: float) -> None:
        self.tat += delta / self.rate


class _Mirror:
    """The server's bucket for requests or tokens, as far as its headers tell."""

    def __init__(self) -> None:
        self.remaining: float | None = None
        self.at = 0.0
        self.limit: float | None = None
        self.refill: float | None = None
        self._lows: deque[float] = deque(maxlen=_BOUNDS_KEPT)
        self._highs: deque[float] = deque(maxlen=_BOUNDS_KEPT)

    def available(self, now: float) -> float | None:
        if self.remaining is None:
            return None
        value = self.remaining + (self.refill or 0.0) * (now - self.at)
        return min(value, self.limit) if self.limit else value

    def earliest(self, cost: float, now: float) -> float:
        have = self.available(now)
        if have is None or not self.refill:
            return now
        # Keep a little in the bucket: requests do not reach the server exactly when
        # sent, and one that arrives early at an empty bucket draws a 429.
        reserve = min(RESERVE, RESERVE_SHARE * self.limit) if self.limit else 0.0
        need = min(cost + reserve, self.limit or cost + reserve)
        return now if have >= need else now + (need - have) / self.refill

    def commit(self, cost: float, start: float) -> None:
        have = self.available(start)
        if have is not None:
            self.remaining, self.at = have - cost, start

    def learn(self, budget: Budget, remaining_now: float, now: float) -> None:
        self.remaining, self.at = remaining_now, now
        self.limit = budget.limit or self.limit
        bounds = budget.refill_bounds()
        if bounds is None:
            return
        # Each answer bounds the rate from both sides; the recent answers together pin it
        # down: the highest lower bound, else just under the lowest upper bound.
        self._lows.append(bounds[0])
        self._highs.append(bounds[1])
        self.refill = max(max(self._lows), min(self._highs) * REFILL_MARGIN)

    def empty(self, now: float) -> None:
        if self.remaining is not None or self.refill is not None:
            self.remaining, self.at = 0.0, now


@dataclass
class Ticket:
    """A request's place in the limiter: its sequence number, tokens and start time."""

    seq: int
    tokens: float
    tokens_before: float  # tokens reserved by every request up to and including this one
    start: float


class RateLimiter:
    """The shared pacing, pause and concurrency cap of one endpoint."""

    def __init__(
        self,
        name: str,
        max_concurrency: int,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        max_wait_s: float = 300.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = name
        self.max_concurrency = max_concurrency
        self.max_wait_s = max_wait_s
        self._clock = clock
        self._lock = threading.Lock()
        self._limit = float(max_concurrency)
        self._in_flight = 0
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = deque()
        self._paused_until = 0.0
        self._rpm = _Pacer(rpm / 60) if rpm else None
        self._tpm = _Pacer(tpm / 60) if tpm else None
        self._requests = _Mirror()
        self._tokens = _Mirror()
        self._fallback: _Pacer | None = None
        self._seq = 0
        self._tokens_sent = 0.0
        self._applied_seq = 0
        self._last_cut = float("-inf")
        self._acks = 0
        self._successes: deque[float] = deque(maxlen=4096)
        self._stalled_since: float | None = None
        self.rate_limited_count = 0
        self._rng = random.Random()

    # -- what the progress line shows --------------------------------------------------
    @property
    def concurrency(self) -> int:
        return max(1, int(self._limit))

    def status(self) -> RateStatus:
        with self._lock:
            paused = max(0.0, self._paused_until - self._clock())
            return RateStatus(self.concurrency, self.max_concurrency, self._in_flight,
                              self.rate_limited_count, round(paused, 3))

    @property
    def exhausted(self) -> bool:
        """True once the endpoint has answered only 429s for ``max_wait_s`` seconds."""
        with self._lock:
            since = self._stalled_since
            return since is not None and self._clock() - since >= self.max_wait_s

    def tighten(self, max_concurrency: int, rpm: float | None, tpm: float | None) -> None:
        """Another provider on the same endpoint: the larger ceiling, the smaller caps."""
        with self._lock:
            if max_concurrency > self.max_concurrency:
                self._limit += max_concurrency - self.max_concurrency
                self.max_concurrency = max_concurrency
            if rpm and (self._rpm is None or rpm / 60 < self._rpm.rate):
                self._rpm = _Pacer(rpm / 60)
            if tpm and (self._tpm is None or tpm / 60 < self._tpm.rate):
                self._tpm = _Pacer(tpm / 60)

    # -- one request -------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def slot(self, tokens: float = 0.0) -> AsyncIterator[Slot]:
        """Hold a place for one request of about ``tokens`` tokens; say how it went."""
        ticket = await self.acquire(tokens)
        try:
            yield Slot(self, ticket)
        finally:
            self.release(ticket)

    async def acquire(self, tokens: float = 0.0) -> Ticket:
        """Wait for the pause, a free slot and the pacing; then the request may go."""
        loop = asyncio.get_running_loop()
        while True:
            ticket: Ticket | None = None
            waiter: asyncio.Future[None] | None = None
            with self._lock:
                now = self._clock()
                pause = self._paused_until - now
                if pause <= 0 and self._in_flight < self.concurrency:
                    self._in_flight += 1
                    ticket = self._reserve(tokens, now)
                elif pause <= 0:
                    waiter = loop.create_future()
                    self._waiters.append((loop, waiter))
            if ticket is not None:
                if await self._wait_start(ticket):
                    return ticket
            elif waiter is not None:
                await self._wait_turn(waiter)
            else:
                # Spread the wake-up over a few ms so the pool does not arrive as one.
                await asyncio.sleep(pause + self._rng.uniform(0, min(0.05, 0.1 * pause)))

    async def _wait_start(self, ticket: Ticket) -> bool:
        delay = ticket.start - self._clock()
        try:
            if delay > 0:
                await asyncio.sleep(delay)
        except BaseException:
            self.release(ticket)
            raise
        if self._paused_until > self._clock():  # a 429 arrived meanwhile: wait it out
            self.release(ticket)
            return False
        return True

    async def _wait_turn(self, waiter: asyncio.Future[None]) -> None:
        try:
            await waiter
        except BaseException:
            with self._lock:
                try:
                    self._waiters.remove((asyncio.get_running_loop(), waiter))
                except ValueError:  # already woken: pass the turn on
                    self._wake()
            raise

    def _reserve(self, tokens: float, now: float) -> Ticket:
        self._seq += 1
        self._tokens_sent += tokens
        gates: list[tuple[_Pacer | _Mirror, float]] = [(self._requests, 1.0)]
        if tokens > 0:
            gates.append((self._tokens, tokens))
        if self._rpm is not None:
            gates.append((self._rpm, 1.0))
        if self._tpm is not None and tokens > 0:
            gates.append((self._tpm, tokens))
        if self._fallback is not None and not self._requests.refill:
            gates.append((self._fallback, 1.0))
        start = max(gate.earliest(cost, now) for gate, cost in gates)
        for gate, cost in gates:
            gate.commit(cost, start)
        return Ticket(self._seq, tokens, self._tokens_sent, start)

    def release(self, ticket: Ticket) -> None:
        with self._lock:
            self._in_flight -= 1
            self._wake()

    def _wake(self) -> None:
        free = self.concurrency - self._in_flight
        while free > 0 and self._waiters:
            loop, fut = self._waiters.popleft()
            try:
                loop.call_soon_threadsafe(_resolve, fut)
            except RuntimeError:  # that loop is closed; its waiter is gone
                continue
            free -= 1

    # -- what the answer said ----------------------------------------------------------
    def answered(self, ticket: Ticket, headers: RateHeaders, used_tokens: float | None) -> None:
        with self._lock:
            now = self._clock()
            self._learn(ticket, headers, now)
            if used_tokens is not None and ticket.tokens and self._tpm is not None:
                self._tpm.adjust(used_tokens - ticket.tokens)
            self._stalled_since = None
            self._successes.append(now)
            # Climb back: with the server's headers the pacing holds the rate, so by one
            # slot per answer; without, by one per round of `cap` answers (AIMD).
            self._acks += 1
            if self._requests.refill or self._acks >= self.concurrency:
                self._acks = 0
                self._limit = min(float(self.max_concurrency), self._limit + 1)
            if self._fallback is not None:
                self._fallback.rate += 1 / self._fallback.rate
            self._wake()

    def rate_limited(self, ticket: Ticket, headers: RateHeaders) -> None:
        with self._lock:
            now = self._clock()
            self.rate_limited_count += 1
            self._learn(ticket, headers, now)
            self._requests.empty(now)
            if headers.tokens.remaining is not None and headers.tokens.remaining < 1:
                self._tokens.empty(now)
            wait = headers.reset_s
            wait = DEFAULT_PAUSE_S if wait is None else min(wait, MAX_PAUSE_S)
            self._paused_until = max(self._paused_until, now + wait)
            if self._stalled_since is None:
                self._stalled_since = now
            if ticket.start > self._last_cut:  # one cut per congestion event
                self._last_cut = now
                self._limit = max(1.0, self._limit / 2)
                self._acks = 0
                recent = sum(1 for t in self._successes if now - t <= 2.0) / 2.0
                if recent > 0 and not self._requests.refill:
                    # No headers to pace by: 0.7 x what got through lately. Nothing got
                    # through: the pause alone decides.
                    self._fallback = _Pacer(max(0.5, 0.7 * recent))

    def _learn(self, ticket: Ticket, headers: RateHeaders, now: float) -> None:
        if ticket.seq <= self._applied_seq:
            return  # an older request's view; a later one was applied already
        self._applied_seq = ticket.seq
        # The server counted at the request's arrival, about when it was sent: the budget
        # it states is as of then, less every request sent since.
        at = min(ticket.start, now)
        if headers.requests.remaining is not None:
            since = self._seq - ticket.seq
            self._requests.learn(headers.requests, headers.requests.remaining - since, at)
        if headers.tokens.remaining is not None:
            since_tokens = self._tokens_sent - ticket.tokens_before
            self._tokens.learn(headers.tokens, headers.tokens.remaining - since_tokens, at)


class Slot:
    """One request's hold on the limiter; report its answer through it."""

    def __init__(self, limiter: RateLimiter, ticket: Ticket) -> None:
        self.limiter = limiter
        self.ticket = ticket

    def answered(self, headers: RateHeaders, used_tokens: float | None = None) -> None:
        self.limiter.answered(self.ticket, headers, used_tokens)

    def rate_limited(self, headers: RateHeaders) -> None:
        self.limiter.rate_limited(self.ticket, headers)


def _resolve(fut: asyncio.Future[None]) -> None:
    if not fut.done():
        fut.set_result(None)


_LIMITERS: weakref.WeakValueDictionary[tuple[str, str], RateLimiter] = (
    weakref.WeakValueDictionary()
)
_LIMITERS_LOCK = threading.Lock()


def limiter_for(endpoint: str, config: ProviderConfig) -> RateLimiter:
    """The process's limiter for ``endpoint`` called with ``config``'s key.

    Every provider (model under test, judge, embedder) on the same URL with the same key
    variable shares one; it lives as long as one of them does.
    """
    key = (endpoint, config.api_key_env)
    caps = config.rate_limit
    with _LIMITERS_LOCK:
        limiter = _LIMITERS.get(key)
        if limiter is None:
            limiter = RateLimiter(endpoint, config.max_concurrency, rpm=caps.rpm, tpm=caps.tpm,
                                  max_wait_s=caps.max_wait_s)
            _LIMITERS[key] = limiter
        else:
            limiter.tighten(config.max_concurrency, caps.rpm, caps.tpm)
        return limiter
