"""`llmops prompts new NAME [--from VERSION]` starts the next version."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from llmops.cli import app
from tests.test_cli_prompts import one_error_line


def run(root: Path, *args: str):  # type: ignore[no-untyped-def]
    return CliRunner().invoke(app, ["--project", str(root), "prompts", *args])


def test_new_copies_a_version_into_the_next_id(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert CliRunner().invoke(app, ["init", str(root)]).exit_code == 0
    res = run(root, "new", "answer", "--from", "production")
    assert res.exit_code == 0, res.output
    assert "prompts/answer/v3.yaml" in res.stdout
    v1 = (root / "prompts/answer/v1.yaml").read_text()
    assert (root / "prompts/answer/v3.yaml").read_text() == v1
    # Without --from: the newest version; the ids keep counting.
    assert run(root, "new", "answer").exit_code == 0
    v3 = (root / "prompts/answer/v3.yaml").read_text()
    assert (root / "prompts/answer/v4.yaml").read_text() == v3
    rows = json.loads(run(root, "list", "--json", "-").stdout)
    locks = {r["version"]: r for r in rows if r["name"] == "answer"}
    assert set(locks) == {"v1", "v2", "v3", "v4"}

    # A new prompt starts from a template that loads and renders.
    assert run(root, "new", "greeting").exit_code == 0
    res = run(root, "render", "greeting@v1", "--var", "question=Hi?")
    assert res.exit_code == 0, res.output
    assert "Hi?" in res.stdout


def test_new_refuses_an_unknown_source(tmp_path: Path) -> None:
    root = tmp_path / "p"
    assert CliRunner().invoke(app, ["init", str(root)]).exit_code == 0
    line = one_error_line(run(root, "new", "answer", "--from", "v9"))
    assert "v9" in line
    line = one_error_line(run(root, "new", "other", "--from", "v1"))
    assert "unknown prompt 'other'" in line
    assert not (root / "prompts/other").exists()


def test_shell_completion_is_on() -> None:
    res = CliRunner().invoke(app, ["--show-completion", "bash"], prog_name="llmops")
    assert res.exit_code == 0, res.output
    assert "_LLMOPS_COMPLETE" in res.output
