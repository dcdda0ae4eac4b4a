"""The scorers inside a real evaluation: runner, store and result, end to end."""

from __future__ import annotations

import json
import sqlite3
import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops import embeddings as emb
from llmops.errors import EvalSetError
from llmops.eval.run import evaluate
from tests.fixtures_eval import build_project
from tests.fixtures_servers import TEST_KEY
from tests.openai_server import FakeOpenAI

CASES = [
    {"id": "refund", "vars": {"question": "Refunds are possible within 30 days."},
     "expected": "Refunds are possible within 30 days.", "rubric": "Mentions 30 days"},
    {"id": "card", "vars": {"question": "Your card 4111 1111 1111 1111 is saved."},
     "expected": ["Your card is saved.", "We saved your card."]},
    {"id": "weather", "vars": {"question": "It rains in Lisbon."},
     "expected": "Shipping is free above 50 euros."},
]


@pytest.fixture
def judge(openai_server: FakeOpenAI) -> Iterator[FakeOpenAI]:
    """A second test server, as the judge endpoint (same key variable)."""
    server = FakeOpenAI(api_key=TEST_KEY, model="judge-model")
    server.api_key_env = openai_server.api_key_env
    server.start()
    try:
        yield server
    finally:
        server.stop()


def project(tmp_path: Path, model: FakeOpenAI, judge: FakeOpenAI, **kw: Any) -> Path:
    scorers = [
        {"similarity": {"threshold": 0.8}},
        {"rubric": {"criteria": "Answers politely", "logprobs": False}},
        {"guardrails": {"checks": ["pii"]}},
        {"shouting": {}},
    ]
    root = build_project(tmp_path / "p", model.provider_config(), scorers=scorers,
                         cases=kw.pop("cases", CASES))
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["judge"] = judge.provider_config(max_retries=0)
    config["plugins"] = ["team_scorers_e2e"]
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    (root / "team_scorers_e2e.py").write_text(textwrap.dedent("""
        from llmops.scorers import scorer

        @scorer("shouting", version="2")
        def shouting():
            async def check(sample):
                return not sample.output.isupper()
            return check
    """))
    return root


def test_all_scorers_in_one_run(tmp_path: Path, openai_server: FakeOpenAI, judge: FakeOpenAI,
                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    judge.script(*['{"score": 5, "reason": "polite"}'] * 3)
    root = project(tmp_path, openai_server, judge)
    result = evaluate(root, "qa", prompts=["qa@v1"], formats=())
    data = result.to_json()
    (variant,) = data["variants"]
    cases = {c["id"]: c["scores"] for c in variant["cases"]}
    assert cases["refund"]["similarity"]["value"] == pytest.approx(1.0, abs=1e-5)
    assert cases["card"]["similarity"]["passed"] is True  # best of two expected answers
    assert cases["weather"]["similarity"]["passed"] is False
    assert all(c["rubric"]["value"] == 1.0 for c in cases.values())
    assert cases["card"]["guardrails"]["value"] == 0.0
    assert cases["refund"]["guardrails"]["value"] == 1.0
    assert all(c["shouting"]["value"] == 1.0 for c in cases.values())
    assert judge.requests.count("/v1/chat/completions") == 3

    db = sqlite3.connect(root / ".llmops" / "results.db")
    rows = db.execute("select scorer, scorer_version, args, details from scores").fetchall()
    by_name = {r[0]: r for r in rows}
    assert by_name["shouting"][1] == "2"
    assert json.loads(by_name["similarity"][2]) == {"threshold": 0.8}
    rubric = json.loads(by_name["rubric"][3])
    assert rubric["judge_prompt"] == "rubric@v1" and len(rubric["judge_prompt_digest"]) == 64
    findings = [json.loads(r[3] or "{}").get("findings") for r in rows if r[0] == "guardrails"]
    assert "4111 1111 1111 1111" not in json.dumps(findings)


def test_missing_expected_stops_before_any_model_call(
    tmp_path: Path, openai_server: FakeOpenAI, judge: FakeOpenAI
) -> None:
    cases = [*CASES, {"id": "no-expected", "vars": {"question": "Hi"}}]
    root = project(tmp_path, openai_server, judge, cases=cases)
    with pytest.raises(EvalSetError, match="case 'no-expected' has no `expected`"):
        evaluate(root, "qa", prompts=["qa@v1"], formats=())
    assert openai_server.requests.count("/v1/chat/completions") == 0
    assert judge.requests.count("/v1/chat/completions") == 0


def test_judge_down_marks_every_rubric_score_errored(
    tmp_path: Path, openai_server: FakeOpenAI, judge: FakeOpenAI,
    monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(emb, "_EMBEDDERS", {})
    root = project(tmp_path, openai_server, judge)
    judge.stop()
    result = evaluate(root, "qa", prompts=["qa@v1"], formats=()).to_json()
    (variant,) = result["variants"]
    rubric = [c["scores"]["rubric"] for c in variant["cases"]]
    assert all(r["value"] is None and r["passed"] is not True for r in rubric)
    assert all("judge call failed" in (r.get("error") or "") for r in rubric)
    assert variant["summary"]["scores"]["rubric"]["mean"] is None
    # The other scorers are unaffected.
    assert all(c["scores"]["similarity"]["value"] is not None for c in variant["cases"])
