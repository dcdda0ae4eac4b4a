"""The similarity scorer on the real all-MiniLM-L6-v2 model."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops import embeddings as emb
from llmops.errors import ConfigError, EvalSetError, UserError
from llmops.evalsets import Case
from llmops.project import load_project
from llmops.scorers import Sample, Score, Scorer, ScorerContext, build_scorers


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> ScorerContext:
    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    return ScorerContext(cache_dir=tmp_path, evalset=Path("evalsets/support.jsonl"))


def build(ctx: ScorerContext, **options: Any) -> Scorer:
    return build_scorers([{"similarity": options}], ctx)[0]


def run(s: Scorer, pairs: list[tuple[str, Any]]) -> list[Score]:
    samples = [Sample(Case(id=f"c{i}", vars={}, expected=e), out)
               for i, (out, e) in enumerate(pairs)]
    return asyncio.run(s.score(samples))


def test_missing_expected_fails_validation_naming_the_case(ctx: ScorerContext) -> None:
    s = build(ctx)
    cases = [Case(id="ok", vars={}, expected="x", line=1),
             Case(id="refund-7", vars={}, expected=None, line=7)]
    with pytest.raises(EvalSetError) as info:
        s.validate(cases)
    assert str(info.value).startswith(
        "evalsets/support.jsonl:7: case 'refund-7' has no `expected`")
    with pytest.raises(EvalSetError, match="'blank'"):
        s.validate([Case(id="blank", vars={}, expected=["", "  "])])
    # Nothing was embedded: the error comes before any model work.
    assert s.inner.embedder.stats == {"embedded": 0, "cache_hits": 0}  # type: ignore[attr-defined]


def test_scores_are_cosines_in_0_1_with_threshold(ctx: ScorerContext) -> None:
    s = build(ctx, threshold=0.6)
    same, close, far = run(s, [
        ("Refunds are possible within 30 days.", "Refunds are possible within 30 days."),
        ("You can get your money back within 30 days.", "Refunds are possible within 30 days."),
        ("The weather is sunny in Lisbon.", "Refunds are possible within 30 days."),
    ])
    assert same.value == pytest.approx(1.0, abs=1e-5) and same.passed
    assert 0.6 <= close.value < 0.95 and close.passed  # type: ignore[operator]
    assert 0.0 <= far.value < 0.3 and far.passed is False  # type: ignore[operator]
    # Unrelated texts may have a slightly negative cosine: the value is clipped to 0,
    # the raw figure kept.
    assert far.value == max(0.0, far.details["cosine"]) or far.value == pytest.approx(
        far.details["cosine"], abs=1e-6)
    assert close.details["cosine"] == pytest.approx(close.value, abs=1e-6)


def test_best_of_several_expected(ctx: ScorerContext) -> None:
    s = build(ctx)
    (r,) = run(s, [("Paris is the capital of France.",
                    ["Bananas are rich in potassium.", "The capital of France is Paris."])])
    assert r.details["best_expected"] == 1 and r.value > 0.9  # type: ignore[operator]
    (single,) = run(s, [("Paris is the capital of France.", "The capital of France is Paris.")])
    assert single.value == pytest.approx(r.value, abs=1e-6)


def test_score_does_not_depend_on_batch_position(ctx: ScorerContext) -> None:
    s = build(ctx, batch_size=4)
    pair = ("The parcel arrives on Monday.", "Delivery is expected Monday.")
    (alone,) = run(build(ctx, batch_size=1), [pair])
    filler = [(f"Filler sentence number {i} about something else entirely.", "x y z")
              for i in range(9)]
    batch = run(s, [*filler[:5], pair, *filler[5:]])
    assert batch[5].value == pytest.approx(alone.value, abs=1e-5)


def test_rerun_embeds_nothing_new(ctx: ScorerContext, monkeypatch: pytest.MonkeyPatch) -> None:
    pairs = [("a cat sat", "a cat sits"), ("a dog ran", "a cat sits"), ("a cat sat", "a dog")]
    first = run(build(ctx), pairs)
    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    s = build(ctx)
    second = run(s, pairs)
    assert s.inner.embedder.stats["embedded"] == 0  # type: ignore[attr-defined]
    assert [x.value for x in first] == [x.value for x in second]


def test_options_come_from_the_project_embedder(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    (tmp_path / "llmops.yaml").write_text(yaml.safe_dump(
        {"embedder": {"model": "all-MiniLM-L6-v2", "batch_size": 16}}))
    ctx = ScorerContext(project=load_project(tmp_path))
    s = build(ctx)
    assert s.inner.embedder.batch_size == 16  # type: ignore[attr-defined]
    assert s.inner.embedder.cache.path == tmp_path / ".llmops" / "embeddings.db"  # type: ignore[attr-defined]
    assert build(ctx, batch_size=4).inner.embedder.batch_size == 4  # type: ignore[attr-defined]
    assert s.args == {}
    assert s.inner.embedder.identity.startswith("st:")  # type: ignore[attr-defined]


@pytest.mark.parametrize(("options", "error", "message"), [
    ({"threshold": 1.5}, UserError, "outside 0..1"),
    ({"batch_size": 0}, UserError, "batch_size"),
    ({"model": "no/such/model"}, ConfigError, "neither all-MiniLM-L6-v2 nor a local model"),
    ({"treshold": 0.5}, UserError, "unknown option 'treshold'"),
])
def test_bad_options(ctx: ScorerContext, options: dict[str, Any], error: type[Exception],
                     message: str) -> None:
    with pytest.raises(error, match=message):
        build(ctx, **options)


def test_openai_compatible_embedder(openai_server: Any, tmp_path: Path,
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    (tmp_path / "llmops.yaml").write_text(yaml.safe_dump({"embedder": {
        "kind": "openai", "base_url": openai_server.base_url,
        "api_key_env": openai_server.api_key_env, "model": "fake-embed"}}))
    ctx = ScorerContext(project=load_project(tmp_path))
    same, other = run(build(ctx), [("refund within thirty days", "refund within thirty days"),
                                   ("green apples", "refund within thirty days")])
    assert same.value == pytest.approx(1.0, abs=1e-5)
    assert other.value < 0.5  # type: ignore[operator]
    assert openai_server.requests.count("/v1/embeddings") == 1


def test_embedding_endpoint_down_errors_the_cases(tmp_path: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.fixtures_servers import free_port

    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    monkeypatch.setenv("LLMOPS_EMB_DOWN_KEY", "x")
    (tmp_path / "llmops.yaml").write_text(yaml.safe_dump({"embedder": {
        "kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1",
        "api_key_env": "LLMOPS_EMB_DOWN_KEY", "model": "m", "max_retries": 0}}))
    s = build(ScorerContext(project=load_project(tmp_path)))
    results = run(s, [("a", "b"), ("c", "d")])
    assert all(r.value is None and r.passed is None for r in results)
    assert all("embedding endpoint" in (r.error or "") for r in results)
