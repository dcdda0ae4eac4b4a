"""Resampling and exact tests behind :mod:`llmops.eval.stats`: numpy, vectorised, seeded."""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np

_Z_POWER_80 = 0.8416212335729143  # z for 80% power, used by the minimum detectable effect
_CHUNK_ELEMENTS = 1_000_000  # index draws per bootstrap chunk (8 MB of intp)
_THREADS = min(4, os.cpu_count() or 1)
_EXACT_BINOMIAL_MAX = 2000  # exact integer arithmetic below this many discordant pairs


def bootstrap_means(
    values: np.ndarray, *, n_resamples: int = 10000, seed: int = 0
) -> np.ndarray:
    """Means of ``n_resamples`` bootstrap resamples of the rows of ``values``.

    Args:
        values: shape ``(n,)`` or ``(n, k)``; the k columns share the resampled rows, so
            several scorers on the same cases cost one set of index draws.
        n_resamples: number of resamples.
        seed: seed of numpy's default generator; the same seed and n give the same draws.

    Returns:
        Shape ``(n_resamples,)`` or ``(n_resamples, k)``.
    """
    data = np.asarray(values, dtype=np.float64)
    squeeze = data.ndim == 1
    data = data.reshape(len(data), -1)
    n, k = data.shape
    if n == 0:
        raise ValueError("cannot bootstrap zero cases")
    # Gathers run on float32 (half the memory traffic) of values centred on each column's
    # median: integer-valued deltas (pass/fail) and constant deltas stay exact, others
    # lose nothing visible (float32 keeps 7 digits; sums accumulate in float64).
    # Column by column, so one scorer's result does not depend on the others' layout.
    exact = [np.ascontiguousarray(data[:, j]) for j in range(k)]
    centre = np.array([float(np.median(column)) for column in exact])
    columns = [(column - centre[j]).astype(np.float32) for j, column in enumerate(exact)]
    rows = max(1, _CHUNK_ELEMENTS // n)
    starts = list(range(0, n_resamples, rows))
    # One generator per chunk, spawned from the seed: the draws depend only on the seed,
    # n and the chunk layout, never on how many threads ran them.
    seeds = np.random.SeedSequence(seed).spawn(len(starts))
    sums = np.empty((n_resamples, k), dtype=np.float64)

    def run(i: int) -> None:
        start, stop = starts[i], min(starts[i] + rows, n_resamples)
        idx = np.random.default_rng(seeds[i]).integers(0, n, size=(stop - start, n))
        view = np.empty((stop - start, n), dtype=np.float32)
        for j, column in enumerate(columns):
            np.take(column, idx, out=view, mode="clip")  # in range already; no checks
            sums[start:stop, j] = view.sum(axis=1, dtype=np.float64)

    workers = min(_THREADS, len(starts))
    if workers <= 1:
        for i in range(len(starts)):
            run(i)
    else:  # numpy releases the GIL in the draws, gathers and sums
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(run, range(len(starts))))
    means: np.ndarray = sums / n + centre
    return means[:, 0] if squeeze else means


def paired_bootstrap(
    deltas: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float, float, float]:
    """Mean of per-case deltas with a percentile bootstrap CI: ``(mean, low, high)``."""
    d = np.asarray(deltas, dtype=np.float64)
    means = bootstrap_means(d, n_resamples=n_resamples, seed=seed)
    low, high = percentiles(means, confidence)
    return float(d.mean()), float(low), float(high)


def mean_ci(
    values: Sequence[float] | np.ndarray,
    *,
    n_resamples: int = 10000,
    seed: int = 0,
    confidence: float = 0.95,
) -> tuple[float | None, float | None, float | None]:
    """A mean with its bootstrap CI, for one version's summary; Nones when empty."""
    v = np.asarray([x for x in values if x is not None], dtype=np.float64)
    if len(v) == 0:
        return None, None, None
    return paired_bootstrap(v, n_resamples=n_resamples, seed=seed, confidence=confidence)


def mcnemar_exact(n_improved: int, n_regressed: int) -> float:
    """Two-sided exact McNemar p-value from the two discordant counts.

    Under the null hypothesis each discordant pair is equally likely to go either way,
    so the smaller count is Binomial(b + c, 1/2); the p-value doubles its lower tail.
    """
    n = n_improved + n_regressed
    if n == 0:
        return 1.0
    k = min(n_improved, n_regressed)
    if n <= _EXACT_BINOMIAL_MAX:
        tail = sum(math.comb(n, i) for i in range(k + 1))
        return min(1.0, 2 * tail / (1 << n))
    logs = [_log_comb(n, i) for i in range(k + 1)]
    top = max(logs)
    log_tail = top + math.log(sum(math.exp(x - top) for x in logs)) - n * math.log(2)
    return min(1.0, 2 * math.exp(log_tail))


def minimum_detectable_effect(
    deltas: np.ndarray,
    candidate: np.ndarray,
    baseline: np.ndarray,
    *,
    confidence: float = 0.95,
) -> float | None:
    """The smallest mean change a paired test of this size detects with 80% power.

    Uses the spread of the observed per-case deltas; when they are all equal (identical
    runs), the unpaired spread of the two sides stands in for it.
    """
    n = len(deltas)
    if n < 2:
        return None
    sd = float(np.std(deltas, ddof=1))
    if sd == 0.0:
        sd = math.sqrt(float(np.var(candidate, ddof=1) + np.var(baseline, ddof=1)))
    return (_z(confidence) + _Z_POWER_80) * sd / math.sqrt(n)


def percentiles(means: np.ndarray, confidence: float) -> tuple[float, float]:
    """The two-sided percentile interval of bootstrap means."""
    tail = (1.0 - confidence) / 2.0
    low, high = np.quantile(means, [tail, 1.0 - tail])
    return float(low), float(high)


def _log_comb(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)

def _z(confidence: float) -> float:
    """Two-sided normal quantile for ``confidence`` (bisection on erf; no scipy needed)."""
    target = 1.0 - (1.0 - confidence) / 2.0
    lo, hi = 0.0, 10.0
    for _ in range(80):
        mid = (lo + hi) / 2.0
        if 0.5 * (1.0 + math.erf(mid / math.sqrt(2.0))) < target:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2.0
