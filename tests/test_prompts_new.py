"""`llmops prompts new NAME [--from VERSION]` starts the next version."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from typer.testing import CliRunner

from llmops.cli import app
from tests.openai_server import FakeOpenAI
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
    # Run from bash, as a user would: the shell is detected from the parent process.
    command = Path(sys.executable).parent / "llmops"
    res = subprocess.run(["bash", "-c", f"'{command}' --show-completion; exit $?"],
                         capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "_LLMOPS_COMPLETE=complete_bash" in res.stdout


def test_the_first_eval_of_a_new_project_compares_the_draft(
    tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    import yaml

    root = tmp_path / "p"
    assert CliRunner().invoke(app, ["init", str(root)]).exit_code == 0
    config = yaml.safe_load((root / "llmops.yaml").read_text())
    config["provider"] = openai_server.provider_config()  # the same project, a faster model
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    res = CliRunner().invoke(app, ["--project", str(root), "eval", "--json", "-"])
    assert res.exit_code in (0, 1), res.output
    data = json.loads(res.stdout)
    assert [(v["role"], v["version"]) for v in data["variants"]] == [
        ("baseline", "v1"), ("candidate", "v2")]
    (comp,) = data["comparisons"]
    assert (comp["candidate"], comp["baseline"], comp["n_shared"]) == ("answer@v2", "answer@v1", 8)
    summary = (Path(data["report_dir"]) / "summary.md").read_text()
    assert "fewer than the 8 needed" not in summary
    ignored = (root / ".gitignore").read_text().splitlines()
    assert {".llmops/", "reports/"} <= set(ignored)
