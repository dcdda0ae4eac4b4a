"""Provider kind recorded: the eval set's own `output` and `contexts`, no call."""

from __future__ import annotations

import asyncio
import hashlib
import json
from pathlib import Path

import pytest

from llmops.errors import EvalSetError
from llmops.evalsets import canonical_json, load_evalset
from llmops.project import ProviderConfig
from llmops.providers import Completion, ProviderCallError, make_provider
from llmops.providers.recorded import require_outputs


def write(path: Path, *cases: dict[str, object]) -> Path:
    path.write_text("".join(json.dumps(c) + "\n" for c in cases))
    return path


def test_answers_are_the_recorded_outputs_and_contexts(tmp_path: Path) -> None:
    evalset = load_evalset(write(
        tmp_path / "prod.jsonl",
        {"id": "a", "vars": {"input": "Refund?"}, "output": "Within 30 days.",
         "contexts": ["Refunds are possible within 30 days."]},
        {"id": "b", "vars": {"input": "Hours?"}, "output": "9 to 5."},
    ))
    require_outputs(evalset)
    p = make_provider(ProviderConfig(kind="recorded"), cache_path=tmp_path / "cache.db")

    async def go() -> list[Completion]:
        return [await p.complete([], {}, case=c) for c in evalset.cases]

    a, b = asyncio.run(go())
    assert (a.text, b.text) == ("Within 30 days.", "9 to 5.")
    assert a.contexts == [{"text": "Refunds are possible within 30 days.",
                           "source": "Refunds are possible within 30 days."}]
    assert b.contexts is None and a.attempts == 0 and a.latency_ms == 0
    assert p.identity == "recorded:recorded" and p.rate_status() is None
    assert not (tmp_path / "cache.db").exists()  # nothing to cache


def test_a_case_without_output_names_file_and_line(tmp_path: Path) -> None:
    path = write(tmp_path / "prod.jsonl", {"id": "a", "output": "x"}, {"id": "b"})
    with pytest.raises(EvalSetError) as info:
        require_outputs(load_evalset(path))
    assert info.value.exit_code == 2 and info.value.line == 2
    assert str(info.value).endswith(
        "prod.jsonl:2: output: case 'b' has no `output`, which provider kind recorded scores "
        "(add the recorded answer as `output`, or use another provider kind)")


def test_a_judge_cannot_be_recorded() -> None:
    p = make_provider(ProviderConfig(kind="recorded"), cache_path=None)
    with pytest.raises(ProviderCallError, match="answers eval cases only"):
        asyncio.run(p.complete([{"role": "user", "content": "grade this"}], {}))


def test_output_field_in_every_format_and_the_digest(tmp_path: Path) -> None:
    jsonl = load_evalset(write(tmp_path / "a.jsonl", {"id": "1", "output": "yes"}))
    csv_path = tmp_path / "a.csv"
    csv_path.write_text("id,output,question\n1,yes,why\n")
    csv = load_evalset(csv_path)
    assert jsonl.cases[0].output == csv.cases[0].output == "yes"
    assert csv.cases[0].vars == {"question": "why"}
    # Without an output the digest is what it was before the field existed.
    plain = load_evalset(write(tmp_path / "b.jsonl", {"id": "1"}))
    assert plain.cases[0].digest != jsonl.cases[0].digest
    before = {"id": "1", "vars": {}, "expected": None, "contexts": [], "rubric": None,
              "tags": [], "human_score": None}
    assert plain.cases[0].digest == hashlib.sha256(canonical_json(before)).hexdigest()
    with pytest.raises(EvalSetError, match="`output` must be a string"):
        load_evalset(write(tmp_path / "c.jsonl", {"id": "1", "output": 3}))


def test_a_judge_cannot_be_configured_as_recorded(tmp_path: Path) -> None:
    from llmops.errors import ConfigError
    from llmops.project import load_project

    (tmp_path / "llmops.yaml").write_text(
        "provider: {kind: recorded}\njudge:\n  kind: recorded\n")
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert info.value.line == 2 and "a judge cannot be kind recorded" in str(info.value)


@pytest.mark.parametrize(("provider", "judge_kind"), [
    ({"kind": "recorded"}, "local"),
    ({"kind": "python", "target": "app:answer"}, "local"),
    ({"kind": "openai", "api_key_env": "", "model": "m"}, "openai"),
])
def test_the_default_judge_is_the_provider_only_when_it_is_a_model(
    tmp_path: Path, provider: dict[str, str], judge_kind: str
) -> None:
    from llmops.project import load_project

    (tmp_path / "llmops.yaml").write_text(json.dumps({"provider": provider}))
    assert load_project(tmp_path).judge.kind == judge_kind
