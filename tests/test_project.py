"""llmops.yaml: found in the cwd or a parent, validated, errors naming key and line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.errors import ConfigError
from llmops.project import find_root, load_project

ROOT = Path(__file__).resolve().parent.parent


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def test_example_project_config() -> None:
    project = load_project(ROOT)
    config = project.config
    assert config.provider.kind == "local"
    assert set(config.suites) == {"support", "handbook_qa"}
    support = config.suites["support"]
    assert support.prompt == "support_answer" and support.evalset == "evalsets/support.jsonl"
    assert [next(iter(s)) for s in support.scorers] == ["similarity", "max_words", "guardrails"]
    assert support.scorers[0]["similarity"] == {"threshold": 0.5}
    assert support.scorers[1]["max_words"] == {"limit": 25}
    assert support.scorers[2]["guardrails"] == {"checks": ["pii", "secrets"]}
    assert config.suites["handbook_qa"].prompt == "handbook_answer"
    for suite in config.suites.values():
        assert project.path(suite.evalset).is_file()


def test_found_in_a_parent_directory(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "llmops.yaml", "store: x.db\n")
    (tmp_path / "a" / "b").mkdir(parents=True)
    monkeypatch.chdir(tmp_path / "a" / "b")
    monkeypatch.delenv("LLMOPS_PROJECT", raising=False)
    assert find_root() == tmp_path.resolve()
    project = load_project()
    assert project.root == tmp_path.resolve()
    assert project.store.path == tmp_path.resolve() / "x.db"


def test_project_option_and_env_override(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    write(tmp_path / "one" / "llmops.yaml", "prompts_dir: p1\n")
    write(tmp_path / "two" / "llmops.yaml", "prompts_dir: p2\n")
    monkeypatch.chdir(tmp_path / "one")
    monkeypatch.setenv("LLMOPS_PROJECT", str(tmp_path / "two"))
    assert load_project().prompts_dir == (tmp_path / "two").resolve() / "p2"
    assert load_project(tmp_path / "one").config.prompts_dir == "p1"
    assert load_project(tmp_path / "one" / "llmops.yaml").config.prompts_dir == "p1"


def test_missing_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"no llmops\.yaml here"):
        load_project(tmp_path)


@pytest.mark.parametrize(
    ("text", "field", "line"),
    [
        ("provider:\n  kind: local\n  modle: x\n", "provider.modle: unknown key", 3),
        ("provider:\n  kind: azure\n", "provider.kind", 2),
        (
            "suites:\n  s:\n    prompt: p\n    evalset: e.jsonl\n"
            "    gate:\n      min_pass_rate: 2\n",
            "suites.s.gate.min_pass_rate",
            6,
        ),
        ("suites:\n  s:\n    prompt: p\n", "suites.s.evalset: required key is missing", 2),
        (
            "suites:\n  s:\n    prompt: p\n    evalset: e\n    scorers:\n      - a: 1\n",
            "scorer options must be a mapping",
            5,
        ),
        ("provider: [local]\n", "provider", 1),
        ("- a\n", "expected a mapping", 1),
        ("provider:\n  kind: local\n   model: x\n", "invalid YAML", 3),
    ],
)
def test_bad_config_names_key_and_line(tmp_path: Path, text: str, field: str, line: int) -> None:
    write(tmp_path / "llmops.yaml", text)
    with pytest.raises(ConfigError) as info:
        load_project(tmp_path)
    assert field in str(info.value)
    assert info.value.line == line


def test_non_utf8_config(tmp_path: Path) -> None:
    (tmp_path / "llmops.yaml").write_bytes(b"store: caf\xe9.db\n")
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_project(tmp_path)


def test_bad_config_through_the_cli(tmp_path: Path) -> None:
    write(tmp_path / "llmops.yaml", "provider:\n  kind: local\n  modle: x\n")
    result = CliRunner().invoke(app, ["--project", str(tmp_path), "prompts", "list"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.endswith("llmops.yaml:3: provider.modle: unknown key")


def test_duplicate_suites_block(tmp_path: Path) -> None:
    write(
        tmp_path / "llmops.yaml",
        "provider: {kind: local}\nsuites:\n  a: {prompt: p, evalset: e}\n"
        "store: x.db\nsuites:\n  b: {prompt: p, evalset: e}\n",
    )
    result = CliRunner().invoke(app, ["--project", str(tmp_path), "prompts", "list"])
    assert result.exit_code == 2
    [line] = result.stderr.strip().splitlines()
    assert line.endswith("llmops.yaml:5: duplicate key 'suites' (first on line 2)")


def test_unknown_suite(tmp_path: Path) -> None:
    write(tmp_path / "llmops.yaml", "suites:\n  a: {prompt: p, evalset: e}\n")
    with pytest.raises(ConfigError, match=r"unknown suite 'b'.*known suites: a"):
        load_project(tmp_path).suite("b")
