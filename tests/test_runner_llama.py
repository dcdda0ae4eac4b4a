"""`llmops eval` end to end on the real embedded model: via llama_cpp.server and in-process."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app

pytestmark = [pytest.mark.slow, pytest.mark.llama]

MakeProject = Callable[..., Path]

CASES = [
    {"id": "capital", "vars": {"question": "What is the capital of France? Answer in one word."},
     "expected": "Paris"},
    {"id": "colour", "vars": {"question": "What colour is the sky on a clear day? One word."},
     "expected": "blue"},
    {"id": "math", "vars": {"question": "What is 2 + 2? Answer with a number."},
     "expected": "4"},
]
VERSIONS = {
    "v1": {"variables": ["question"], "params": {"temperature": 0, "max_tokens": 24},
           "messages": [{"role": "system", "content": "You answer in a few words."},
                        {"role": "user", "content": "{{ question }}"}]},
}
SCORERS: list[Any] = [{"contains": {"ignore_case": True}}, {"max_words": {"limit": 40}}]


def _eval(root: Path) -> dict[str, Any]:
    res = CliRunner().invoke(app, ["--project", str(root), "eval", "qa", "--json", "-"])
    assert res.exit_code in (0, 1), res.output
    data: dict[str, Any] = json.loads(res.stdout)
    return data


def _check(data: dict[str, Any], root: Path) -> None:
    [variant] = data["variants"]
    assert variant["summary"]["n_cases"] == 3 and variant["summary"]["n_errors"] == 0
    outputs = {c["id"]: c["output"] for c in variant["cases"]}
    assert all(isinstance(o, str) and o.strip() for o in outputs.values())
    assert "paris" in outputs["capital"].lower()
    assert variant["summary"]["scores"]["max_words"]["mean"] == 1.0
    assert variant["summary"]["completion_tokens"] > 0
    report = root / "reports" / data["run_id"]
    assert (report / "summary.md").is_file() and (report / "junit.xml").is_file()


def test_eval_against_real_llama_cpp_server(llama_server: Any, make_project: MakeProject) -> None:
    root = make_project(llama_server.provider_config(), cases=CASES, versions=VERSIONS,
                        scorers=SCORERS)
    _check(_eval(root), root)


def test_eval_with_local_provider_in_process(make_project: MakeProject) -> None:
    root = make_project({"kind": "local"}, cases=CASES, versions=VERSIONS, scorers=SCORERS)
    first = _eval(root)
    _check(first, root)
    # The second run is answered from the cache, with the same outputs.
    second = _eval(root)
    assert second["variants"][0]["summary"]["cache_hits"] == 3
    assert [c["output"] for c in second["variants"][0]["cases"]] == [
        c["output"] for c in first["variants"][0]["cases"]]
