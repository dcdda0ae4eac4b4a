"""The candidate is what the pull request changed, against a ``git:`` or ``run:`` base.

Real git commits in a tmp repository; the real CLI against the fake OpenAI server.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.fixtures_eval import PROMPT_V1, PROMPT_V2
from tests.fixtures_postgres import StoreBackend
from tests.openai_server import FakeOpenAI
from tests.test_eval_baselines import GIT_ENV, cli

MakeProject = Callable[..., Path]


def git(root: Path, *args: str) -> str:
    import os

    done = subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV})
    return done.stdout


@pytest.fixture
def base_repo(openai_server: FakeOpenAI, make_project: MakeProject) -> Path:
    """`main`: qa v1 in production, committed; a `pr` branch checked out from it."""
    root = make_project(openai_server.provider_config(), n_cases=10,
                        versions={"v1": PROMPT_V1}, gate={"max_regression": 0.05})
    (root / ".gitignore").write_text(".llmops/\nreports/\n")
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v1 in production")
    git(root, "checkout", "-q", "-b", "pr")
    return root


def add_version(root: Path, name: str, body: dict[str, Any], prompt: str = "qa") -> None:
    (root / "prompts" / prompt / f"{name}.yaml").write_text(yaml.safe_dump(body, sort_keys=False))


@pytest.mark.usefixtures("store_backend")
def test_a_pr_that_adds_v2_and_promotes_it_compares_it_with_base_production(
    base_repo: Path,
) -> None:
    root = base_repo
    add_version(root, "v2", PROMPT_V2)
    res = cli(root, "prompts", "promote", "qa@v2", "--label", "production")
    assert res.exit_code == 0, res.output
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v2, promoted")
    res = cli(root, "eval", "--baseline", "git:main", "--json", "-")
    assert res.exit_code == 1, res.output  # v2 shouts: the regression does not pass
    data = json.loads(res.stdout)
    roles = [(v["role"], v["version"], v["origin"]) for v in data["variants"]]
    assert roles == [("baseline", "v1", "git:main"), ("candidate", "v2", None)]
    (comp,) = data["comparisons"]
    assert (comp["candidate"], comp["baseline"], comp["verdict"]) == (
        "qa@v2", "qa@v1 (git:main)", "regressed")


def test_a_pr_that_only_moves_a_label_back_compares_the_rollback(base_repo: Path) -> None:
    root = base_repo
    git(root, "checkout", "-q", "main")
    add_version(root, "v2", PROMPT_V2)
    (root / "prompts" / "qa" / "labels.yaml").write_text("production: v2\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v2 in production")
    git(root, "checkout", "-q", "-B", "pr")
    # The PR rolls production back to v1: no new version, only a moved label.
    (root / "prompts" / "qa" / "labels.yaml").write_text("production: v1\n")
    git(root, "commit", "-q", "-am", "roll back")
    data = json.loads(cli(root, "eval", "--baseline", "git:main", "--json", "-").stdout)
    roles = [(v["role"], v["version"]) for v in data["variants"]]
    assert roles == [("baseline", "v2"), ("candidate", "v1")]
    assert data["comparisons"][0]["verdict"] == "improved"


def test_a_pr_that_changes_no_prompt_says_so_in_one_line(
    base_repo: Path, openai_server: FakeOpenAI
) -> None:
    root = base_repo
    res = cli(root, "eval", "--baseline", "git:main", "--json", "-")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [v["role"] for v in data["variants"]] == ["baseline"]
    lines = [w for w in data["warnings"] if w.startswith("no candidate")]
    assert lines == ["no candidate: qa has no new version and no moved label against "
                     "git:main; only the baseline qa@v1 (git:main) was evaluated"]
    assert "no candidate: qa" in res.stderr + res.stdout


def test_an_unchanged_unlocked_draft_is_no_candidate(base_repo: Path) -> None:
    root = base_repo
    git(root, "checkout", "-q", "main")
    add_version(root, "v2", PROMPT_V2)  # a draft on main, never locked
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "draft v2")
    git(root, "checkout", "-q", "-B", "pr")
    body = dict(PROMPT_V1, params={"temperature": 0.0, "max_tokens": 64})
    add_version(root, "v3", body)
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v3")
    data = json.loads(cli(root, "eval", "--baseline", "git:main", "--json", "-").stdout)
    assert [(v["role"], v["version"]) for v in data["variants"]] == [
        ("baseline", "v1"), ("candidate", "v3")]


def test_a_label_moved_on_a_prompt_no_suite_evaluates_is_an_error(base_repo: Path) -> None:
    root = base_repo
    other = root / "prompts" / "other"
    other.mkdir()
    add_version(root, "v1", PROMPT_V1, prompt="other")
    (other / "labels.yaml").write_text("production: v1\n")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "other@production")
    res = cli(root, "eval", "--baseline", "git:main", "--json", "-")
    assert res.exit_code == 2, res.output
    assert "other@production (none → v1) moved against the baseline, but no suite " \
        "evaluates other" in res.output


def test_a_run_baseline_uses_the_commit_the_run_was_made_at(
    base_repo: Path, store_backend: StoreBackend
) -> None:
    root = base_repo
    first = json.loads(cli(root, "eval", "--prompt", "qa@v1", "--json", "-").stdout)
    add_version(root, "v2", PROMPT_V2)
    assert cli(root, "prompts", "promote", "qa@v2", "--label", "production").exit_code == 0
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "v2, promoted")
    data = json.loads(cli(root, "eval", "--baseline", f"run:{first['run_id']}", "--json",
                          "-").stdout)
    assert [(v["role"], v["version"]) for v in data["variants"]][-1] == ("candidate", "v2")
    assert data["comparisons"][0]["verdict"] == "regressed"
    assert store_backend.count(root, "select count(*) from runs") == 2


def test_without_a_git_baseline_a_lone_baseline_is_said_in_one_line(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=8, versions={"v1": PROMPT_V1})
    res = cli(root, "eval", "--json", "-")
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [v["role"] for v in data["variants"]] == ["baseline"]
    assert data["warnings"] == ["no candidate: qa has no unlocked or edited version other "
                                "than the baseline; only the baseline qa@v1 was evaluated"]
    assert "warning: no candidate: qa" in res.stderr
