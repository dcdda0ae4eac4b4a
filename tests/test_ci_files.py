"""What a user copies: the composite action, the pull-request workflow, the install lines.

The shell of the action's steps runs for real: the eval step in a git repository with
an `origin` whose base branch serves v1 in production while the pull request adds v2
and promotes it, and the comment step with `gh` replaced by a script that keeps what it
was given.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures_eval import PROMPT_V1, PROMPT_V2
from tests.openai_server import FakeOpenAI
from tests.test_eval_baselines import GIT_ENV, cli

REPO = Path(__file__).resolve().parent.parent
ACTION = REPO / "action.yml"
WORKFLOW = REPO / "examples" / "ci" / "pull-request.yml"


def steps_of(path: Path) -> list[dict[str, Any]]:
    data = yaml.safe_load(path.read_text())
    if "runs" in data:
        steps: list[dict[str, Any]] = data["runs"]["steps"]
        return steps
    return list(data["jobs"]["eval"]["steps"])


def step(path: Path, words: str) -> dict[str, Any]:
    return next(s for s in steps_of(path) if words in str(s.get("name", "")))


def test_the_action_is_composite_and_runs_the_pr_flow() -> None:
    data = yaml.safe_load(ACTION.read_text())
    assert data["runs"]["using"] == "composite"
    runs = "\n".join(str(s.get("run", "")) for s in steps_of(ACTION))
    uses = [str(s.get("uses", "")) for s in steps_of(ACTION)]
    assert 'pip install "llmops-prompts[' in runs
    assert any(u.startswith("actions/upload-artifact@") for u in uses)
    assert any(u.startswith("actions/setup-python@") for u in uses)
    assert "gh pr comment" in runs and "--edit-last" in runs  # one comment, updated
    for path in (ACTION, WORKFLOW):
        text = path.read_text()
        assert "forks get no secrets" in text and "read-only" in text
        run = str(step(path, "Evaluate")["run"])
        assert "git:origin/" in run and "--prompt" not in run


def install_lines() -> list[tuple[str, str]]:
    """Every `pip install` naming llmops in the README, docs, examples, the action and
    the package's own hints."""
    files = [REPO / "README.md", ACTION, *sorted((REPO / "docs").glob("*.md")),
             *sorted((REPO / "examples").rglob("*.yml")), *sorted((REPO / "llmops").rglob("*.py"))]
    found = []
    for f in files:
        for line in f.read_text(encoding="utf-8").splitlines():
            if re.search(r"pip3? install", line) and re.search(r"llmops\b", line):
                found.append((str(f.relative_to(REPO)), line))
    return found


def test_every_install_line_names_the_distribution_llmops_prompts() -> None:
    lines = install_lines()
    assert len(lines) >= 5
    for where, line in lines:
        # The import package and command are `llmops`; the distribution is not.
        assert not re.search(r"install[^#]*[\s'\"]llmops(\[|['\"\s]|$)", line), (where, line)


@pytest.fixture
def pr_checkout(openai_server: FakeOpenAI, make_project: Any, tmp_path: Path) -> Path:
    """`origin` serves main (qa v1 in production); the checkout is a PR that adds v2 and
    promotes it to production in one commit."""
    root = make_project(openai_server.provider_config(), n_cases=10,
                        versions={"v1": PROMPT_V1}, gate={"max_regression": 0.05})
    (root / ".gitignore").write_text(".llmops/\nreports/\n")
    origin = tmp_path / "origin.git"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(origin))
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v1 in production")
    git(root, "remote", "add", "origin", str(origin))
    git(root, "push", "-q", "origin", "main")
    git(root, "checkout", "-q", "-b", "pr")
    (root / "prompts" / "qa" / "v2.yaml").write_text(yaml.safe_dump(PROMPT_V2, sort_keys=False))
    assert cli(root, "prompts", "promote", "qa@v2", "--label", "production").exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v2, promoted")
    return root


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout


def shell(script: str, cwd: Path, bin_dir: Path, **env: str) -> subprocess.CompletedProcess[str]:
    path = f"{bin_dir}{os.pathsep}{os.environ['PATH']}"
    full = {**os.environ, **GIT_ENV, "PATH": path, "PYTHONPATH": str(REPO), **env}
    return subprocess.run(["bash", "-e", "-c", script], cwd=cwd, env=full, text=True,
                          capture_output=True, timeout=300)


def fake_bin(tmp_path: Path) -> Path:
    """`llmops` as this checkout's; `gh` a script that keeps the comment it was given."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "llmops").write_text(
        f"#!/bin/sh\nexec {sys.executable} -c 'from llmops.cli import main; main()' \"$@\"\n")
    (bin_dir / "gh").write_text(
        '#!/bin/sh\n'
        'while [ $# -gt 0 ]; do [ "$1" = --body-file ] && cp "$2" "$GH_POSTED"; shift; done\n')
    for f in bin_dir.iterdir():
        f.chmod(0o755)
    return bin_dir


@pytest.mark.parametrize("path", [ACTION, WORKFLOW], ids=["action", "workflow"])
def test_the_eval_and_comment_steps_catch_a_promoted_regression(
    path: Path, pr_checkout: Path, tmp_path: Path
) -> None:
    root, bin_dir = pr_checkout, fake_bin(tmp_path)
    if path == ACTION:  # the action fetches the base branch itself
        git(root, "update-ref", "-d", "refs/remotes/origin/main")
    out, posted = tmp_path / "github_output", tmp_path / "posted.md"
    env = {"GITHUB_OUTPUT": str(out), "BASE_REF": "main", "GH_POSTED": str(posted),
           "GH_TOKEN": "x", "PR": "7"}
    run = str(step(path, "Evaluate")["run"])
    run = run.replace("${{ github.base_ref }}", "main").replace(
        "${{ inputs.formats }}", "md,html,junit,json")
    done = shell(run, root, bin_dir, **env)
    assert done.returncode == 0, done.stderr  # exit 1 is left to the last step
    assert "exit_code=1" in out.read_text()  # the gate failed: the regression is caught
    data = json.loads((root / "reports" / "result.json").read_text())
    assert [(v["role"], v["version"]) for v in data["variants"]] == [
        ("baseline", "v1"), ("candidate", "v2")]
    assert data["comparisons"][0]["verdict"] == "regressed"

    comment = str(step(path, "comment")["run"])
    done = shell(comment, root, bin_dir, **env)
    assert done.returncode == 0, done.stderr
    text = posted.read_text()
    assert "| qa@v2 | qa@v1 (git:origin/main) | exact |" in text and "**regressed**" in text
