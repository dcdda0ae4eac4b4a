"""Paired bootstrap speed: 10,000 cases x 3 scorers x 10,000 resamples (goal: under 2 s)."""

from __future__ import annotations

import os
import time

import numpy as np

from llmops.eval.stats import compare, compare_many

N_CASES = 10_000
SCORERS = ("similarity", "rubric", "guardrails")
N_RESAMPLES = 10_000


def main() -> None:
    rng = np.random.default_rng(0)
    ids = [f"case-{i}" for i in range(N_CASES)]
    baseline = {s: dict(zip(ids, rng.uniform(0, 1, N_CASES).tolist(), strict=True))
                for s in SCORERS}
    candidate = {s: {k: v + rng.normal(0.005, 0.2) for k, v in baseline[s].items()}
                 for s in SCORERS}

    start, cpu = time.perf_counter(), time.process_time()
    together = compare_many(candidate, baseline, n_resamples=N_RESAMPLES)
    shared, shared_cpu = time.perf_counter() - start, time.process_time() - cpu

    start = time.perf_counter()
    alone = [compare(candidate[s], baseline[s], scorer=s, n_resamples=N_RESAMPLES)
             for s in SCORERS]
    separate = time.perf_counter() - start

    assert together == alone
    print(f"cases={N_CASES} scorers={len(SCORERS)} resamples={N_RESAMPLES}")
    print(f"compare_many (shared draws): {shared:.2f} s wall, {shared_cpu:.2f} s CPU"
          f" on {os.cpu_count()} cores  (goal < 2 s)")
    print(f"compare x{len(SCORERS)} (one call per scorer): {separate:.2f} s")
    for c in together:
        print("  " + c.describe())


if __name__ == "__main__":
    main()
