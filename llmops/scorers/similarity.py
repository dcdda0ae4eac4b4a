"""``similarity``: cosine similarity of embeddings, output vs expected.

With several expected answers the best match counts. The value is the cosine, clipped
to 0..1 (a negative cosine means unrelated: 0); ``details.cosine`` keeps the raw figure.
All texts of a batch are embedded together, each distinct text once, through the
project's embedding cache.

Options:
    threshold: the cosine at or above which a case passes (default 0.75).
    model: overrides ``embedder.model`` from llmops.yaml (a name or a local model path).
    batch_size: overrides ``embedder.batch_size``.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from llmops.errors import UserError
from llmops.scorers._common import expected_texts, require_expected
from llmops.scorers.base import Sample, Score, ScorerContext
from llmops.scorers.registry import scorer

if TYPE_CHECKING:
    from llmops.embeddings import Embedder
    from llmops.evalsets import Case

EMBEDDING_CACHE = "embeddings.db"


class Similarity:
    def __init__(self, embedder: Embedder, threshold: float, ctx: ScorerContext) -> None:
        self.embedder = embedder
        self.identity = embedder.identity
        self.threshold = threshold
        self.ctx = ctx

    def validate(self, cases: list[Case]) -> None:
        require_expected(cases, "similarity", self.ctx)

    async def score(self, samples: list[Sample]) -> list[Score]:
        texts: list[str] = []
        spans: list[tuple[int, int]] = []
        for s in samples:
            expected = expected_texts(s.case)
            start = len(texts)
            texts.append(s.output)
            texts.extend(expected)
            spans.append((start, len(texts)))
        vectors = await asyncio.to_thread(self.embedder.embed, texts)
        out = []
        for s, (start, end) in zip(samples, spans, strict=True):
            if end - start < 2:
                out.append(Score.failed(f"case {s.case.id!r} has no expected answer"))
                continue
            cosines = vectors[start + 1 : end] @ vectors[start]
            best = int(cosines.argmax())
            cos = float(cosines[best])
            details: dict[str, Any] = {"cosine": round(cos, 6), "embedder": self.identity}
            if end - start > 2:
                details["best_expected"] = best
            out.append(Score.of(min(1.0, max(0.0, cos)), self.threshold, details))
        return out


@scorer("similarity", version="1")
def similarity(
    threshold: float = 0.75,
    model: str | None = None,
    batch_size: int | None = None,
    ctx: ScorerContext | None = None,
) -> Similarity:
    """Cosine similarity of the output's and `expected`'s embeddings (best of several)."""
    from llmops.embeddings import get_embedder
    from llmops.project import EmbedderConfig

    ctx = ctx or ScorerContext()
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise UserError("scorer 'similarity': threshold must be a number")
    if not 0 <= threshold <= 1:
        raise UserError(f"scorer 'similarity': threshold {threshold} is outside 0..1")
    if ctx.project is not None:
        config = ctx.project.config.embedder
    else:
        config = EmbedderConfig.model_validate({})
    update: dict[str, Any] = {}
    if model is not None:
        update["model"] = str(model)
    if batch_size is not None:
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
            raise UserError("scorer 'similarity': batch_size must be a whole number >= 1")
        update["batch_size"] = batch_size
    config = config.model_copy(update=update)
    root = ctx.project.root if ctx.project is not None else None
    embedder = get_embedder(config, ctx.cache_path(EMBEDDING_CACHE), root=root)
    return Similarity(embedder, float(threshold), ctx)
