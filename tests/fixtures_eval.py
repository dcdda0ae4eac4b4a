"""A tmp project builder for eval tests: prompts, an eval set and a suite in llmops.yaml."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMPT_V1 = {
    "description": "echo the question",
    "variables": ["question"],
    "params": {"temperature": 0},
    "messages": [{"role": "system", "content": "Answer briefly."},
                 {"role": "user", "content": "{{ question }}"}],
}
PROMPT_V2 = {
    "description": "echo, shouting",
    "variables": ["question"],
    "params": {"temperature": 0},
    "messages": [{"role": "system", "content": "Answer briefly."},
                 {"role": "user", "content": "{{ question | upper }}"}],
}


def build_project(
    root: Path,
    provider: dict[str, Any],
    *,
    n_cases: int = 10,
    scorers: list[Any] | None = None,
    gate: dict[str, Any] | None = None,
    versions: dict[str, dict[str, Any]] | None = None,
    labels: dict[str, str] | None = None,
    cases: list[dict[str, Any]] | None = None,
    evalset_name: str = "qa.jsonl",
) -> Path:
    """Write a project: prompt `qa` (v1 = production, v2 unlocked), `n_cases` echo cases."""
    root.mkdir(parents=True, exist_ok=True)
    pdir = root / "prompts" / "qa"
    pdir.mkdir(parents=True, exist_ok=True)
    for name, body in (versions or {"v1": PROMPT_V1, "v2": PROMPT_V2}).items():
        (pdir / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))
    (pdir / "labels.yaml").write_text(yaml.safe_dump(labels or {"production": "v1"}))
    (root / "evalsets").mkdir(exist_ok=True)
    if cases is None:
        cases = [
            {"id": f"case-{i:05d}", "vars": {"question": f"question number {i}"},
             "expected": f"question number {i}"}
            for i in range(n_cases)
        ]
    with (root / "evalsets" / evalset_name).open("w") as f:
        for c in cases:
            f.write(json.dumps(c) + "\n")
    config = {
        "provider": provider,
        "store": ".llmops/results.db",
        "suites": {
            "qa": {
                "prompt": "qa",
                "evalset": f"evalsets/{evalset_name}",
                "scorers": scorers if scorers is not None else [{"exact": {}}],
                "gate": gate or {},
            }
        },
    }
    (root / "llmops.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return root


@pytest.fixture
def make_project(tmp_path: Path) -> Callable[..., Path]:
    """``make_project(provider_config, **options)`` → the project directory."""
    counter = iter(range(1000))

    def make(provider: dict[str, Any], **options: Any) -> Path:
        return build_project(tmp_path / f"proj{next(counter)}", provider, **options)

    return make
