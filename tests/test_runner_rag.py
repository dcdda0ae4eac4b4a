"""A RAG prompt in eval: retrieval per case, `context` in the template, freshness checks."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from llmops.cli import app
from tests.openai_server import FakeOpenAI

pytestmark = [pytest.mark.slow, pytest.mark.chroma]

MakeProject = Callable[..., Path]

RAG = {"kind": "rag", "sources": "docs/**/*.md", "chunking": {"size": 300, "overlap": 0},
       "top_k": 1, "collection": "kb_docs"}
PROMPT = {"variables": ["question"], "rag": "kb@production", "params": {"temperature": 0},
          "messages": [{"role": "user", "content":
                        "{% for c in context %}{{ c.text }}\n{% endfor %}Q: {{ question }}"}]}
CASES = [
    {"id": "refund", "vars": {"question": "How many days do I have for a refund?"},
     "expected": "30 days"},
    {"id": "ship", "vars": {"question": "How long does shipping take?"},
     "expected": "business days"},
]


def _project(make_project: MakeProject, server: FakeOpenAI) -> Path:
    root = make_project(server.provider_config(), cases=CASES, versions={"v1": PROMPT},
                        scorers=[{"contains": {}}])
    kb = root / "prompts" / "kb"
    kb.mkdir()
    (kb / "v1.yaml").write_text(yaml.safe_dump(RAG))
    (kb / "labels.yaml").write_text("production: v1\n")
    docs = root / "docs"
    docs.mkdir()
    (docs / "refunds.md").write_text("# Refunds\n\nRefunds are possible within 30 days.\n")
    (docs / "shipping.md").write_text("# Shipping\n\nShipping takes 3-5 business days.\n")
    return root


def _eval(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), "eval", "qa", "--json", "-",
                                    "--format", "none", *args])


def test_rag_prompt_gets_retrieved_context(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    from llmops.project import load_project
    from llmops.prompts import load_registry
    from llmops.rag import sync_index

    root = _project(make_project, openai_server)
    project = load_project(root)
    sync_index(project, load_registry(project).resolve("kb@v1"))
    res = _eval(root)
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    cases = {c["id"]: c for c in data["variants"][0]["cases"]}
    # The fake model echoes the prompt, so the output shows what retrieval put in `context`.
    assert "within 30 days" in cases["refund"]["output"]
    assert "business days" in cases["ship"]["output"]
    assert data["variants"][0]["summary"]["pass_rate"] == 1.0
    # Only the production version exists: no candidate, said in one line; nothing stale.
    assert [w for w in data["warnings"] if not w.startswith("no candidate: ")] == []

    # A source changes: a warning, and with --require-fresh exit 1 before any call.
    (root / "docs" / "refunds.md").write_text("# Refunds\n\nRefunds within 14 days.\n")
    calls = openai_server.requests.count()
    stale = _eval(root, "--no-cache")
    assert stale.exit_code == 0, stale.output
    assert any("stale" in w for w in json.loads(stale.stdout)["warnings"])
    assert "stale" in stale.stderr
    strict = _eval(root, "--require-fresh")
    assert strict.exit_code == 1 and "stale" in strict.stderr
    assert openai_server.requests.count() == calls + 2
