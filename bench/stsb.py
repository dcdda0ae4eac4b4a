"""STS-Benchmark test set through the similarity scorer's Python API.

Spearman between the scorer's values and the gold similarity must reproduce the
published MTEB figure for all-MiniLM-L6-v2 (0.8203) within 0.002.

    .venv/bin/python bench/stsb.py [--data PATH] [--batch-size N]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import sys
import tempfile
import time
from pathlib import Path

from llmops.evalsets import Case
from llmops.scorers import Sample, ScorerContext, build_scorers
from llmops.scorers.agreement import spearman

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb" / "sts-test.csv"
PUBLISHED = 0.8203
TOLERANCE = 0.002


def read_pairs(path: Path) -> list[tuple[float, str, str]]:
    """(gold score, sentence 1, sentence 2); the file has stray quotes, so no quoting."""
    with path.open(encoding="utf-8", newline="") as f:
        rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
        return [(float(r[4]), r[5], r[6]) for r in rows]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    pairs = read_pairs(args.data)
    with tempfile.TemporaryDirectory() as cache:
        ctx = ScorerContext(cache_dir=Path(cache))
        (scorer,) = build_scorers([{"similarity": {"batch_size": args.batch_size}}], ctx)
        samples = [
            Sample(Case(id=str(i), vars={}, expected=s2), s1)
            for i, (_, s1, s2) in enumerate(pairs)
        ]
        scorer.validate([s.case for s in samples])
        start = time.perf_counter()
        scores = asyncio.run(scorer.score(samples))
        elapsed = time.perf_counter() - start
    errors = [s for s in scores if s.error]
    if errors:
        print(f"{len(errors)} errored scores, first: {errors[0].error}")
        return 1
    gold = [g for g, _, _ in pairs]
    rho = spearman([float(s.value) for s in scores if s.value is not None], gold)
    rho_raw = spearman([float(s.details["cosine"]) for s in scores], gold)
    clipped = sum(1 for s in scores if s.details["cosine"] < 0)
    assert rho is not None and rho_raw is not None
    print(f"pairs: {len(pairs)}  scoring time: {elapsed:.1f} s (cold embedding cache)")
    print(f"Spearman(scorer value, gold) = {rho:.4f}")
    print(f"Spearman(raw cosine, gold)   = {rho_raw:.4f}  "
          f"({clipped} negative cosines clipped to 0)")
    ok = abs(rho - PUBLISHED) <= TOLERANCE
    print(f"published {PUBLISHED} ± {TOLERANCE}: {'OK' if ok else 'MISMATCH'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
