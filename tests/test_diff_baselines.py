"""Baselines: labels, versions, `git:REF` (no checkout) and `run:RUN_ID`; result reuse."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import PromptError, UserError
from llmops.eval.baselines import resolve_baseline, variant_scores
from llmops.eval.run import evaluate
from llmops.project import load_project
from llmops.prompts import load_registry
from llmops.store import open_store
from tests.test_diff import V1, V2, write_project

GIT_ENV = {
    "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
    "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com",
    "GIT_CONFIG_GLOBAL": os.devnull, "GIT_CONFIG_SYSTEM": os.devnull,
}


def git(root: Path, *args: str) -> str:
    return subprocess.run(["git", "-C", str(root), *args], check=True, capture_output=True,
                          text=True, env={**os.environ, **GIT_ENV}).stdout


def test_label_version_and_full_references(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path))
    assert resolve_baseline(project, None, "p").ref == "p@v1"  # production by default
    assert resolve_baseline(project, "production", "p").ref == "p@v1"
    assert resolve_baseline(project, "v2", "p").ref == "p@v2"
    full = resolve_baseline(project, "p@v2", "p")
    assert full.kind == "version" and full.prompt_version is not None
    assert full.digest == load_registry(project).resolve("p@v2").digest
    with pytest.raises(PromptError, match="p has no version or label 'staging'"):
        resolve_baseline(project, "staging", "p")


def test_git_ref_reads_the_prompt_as_it_was_without_checkout(tmp_path: Path) -> None:
    root = write_project(tmp_path / "repo" / "sub")  # the project need not be the repo root
    repo = tmp_path / "repo"
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-q", "-m", "first")
    before = load_registry(load_project(root)).resolve("p@v1")
    # In the working tree: v1 edited, production moved to v2, a new v3. Nothing committed.
    (root / "prompts" / "p" / "v1.yaml").write_text(V1.replace("Be polite.", "Be rude."))
    (root / "prompts" / "p" / "v3.yaml").write_text(V2)
    (root / "prompts" / "p" / "labels.yaml").write_text("production: v2\n")
    status = git(repo, "status", "--porcelain")

    project = load_project(root)
    base = resolve_baseline(project, "git:HEAD", "p")
    assert base.kind == "git" and base.ref == "p@v1" and base.git_ref == "HEAD"
    assert base.digest == before.digest != load_registry(project).resolve("p@v1").digest
    assert base.prompt_version is not None
    assert "Be polite." in base.prompt_version.messages[0]["content"]
    assert base.prompt_version.path == project.prompts_dir / "p" / "v1.yaml"
    assert base.label == "p@v1 (git:HEAD)"
    assert resolve_baseline(project, "git:HEAD:v2", "p").ref == "p@v2"
    assert git(repo, "status", "--porcelain") == status  # nothing checked out or written

    with pytest.raises(UserError, match="unknown git ref"):
        resolve_baseline(project, "git:no-such-branch", "p")
    with pytest.raises(PromptError, match=r"at git ref .HEAD.*v3"):
        resolve_baseline(project, "git:HEAD:v3", "p")


def test_git_ref_outside_a_repository_is_a_user_error(tmp_path: Path) -> None:
    project = load_project(write_project(tmp_path))
    with pytest.raises(UserError, match="git"):
        resolve_baseline(project, "git:HEAD", "p")


@pytest.fixture
def evaluated(tmp_path: Path, openai_server: Any) -> tuple[Path, str, Any]:
    root = write_project(tmp_path, openai_server.provider_config())
    result = evaluate(str(root), "s", prompts=["p@v2"], formats=())
    return root, result.run_id, openai_server


def test_run_baseline_names_a_stored_variant(evaluated: tuple[Path, str, Any]) -> None:
    root, run_id, _ = evaluated
    project = load_project(root)
    with open_store(project.store.path) as store:
        with pytest.raises(UserError, match="several versions"):
            resolve_baseline(project, f"run:{run_id}", "p", store=store)
        base = resolve_baseline(project, f"run:{run_id}:v1", "p", store=store)
        assert base.kind == "run" and base.ref == "p@v1" and base.variant_id is not None
        assert base.prompt_version is not None  # the file still has the run's digest
        scores = variant_scores(store, base.variant_id)
        assert sum(v[0] for v in scores.values["contains"].values()) == 4.0
        with pytest.raises(UserError, match="no run"):
            resolve_baseline(project, "run:missing", "p", store=store)


def test_stored_results_are_found_and_reused_only_when_everything_matches(
    evaluated: tuple[Path, str, Any],
) -> None:
    root, run_id, server = evaluated
    project = load_project(root)
    v1 = load_registry(project).resolve("p@v1")
    with open_store(project.store.path) as store:
        variant = next(v for v in store.variants(run_id) if v.version == "v1")
        evalset_digest = store.run(run_id).meta["evalset_digest"]
        common: dict[str, Any] = {"digest": v1.digest, "evalset_digest": evalset_digest,
                                  "model": variant.model, "n_results": 20}
        found = store.find_reusable(params=v1.params, **common)
        assert found is not None and found.variant_id == variant.variant_id
        assert store.find_reusable(params={**v1.params, "temperature": 1}, **common) is None
        assert store.find_reusable(params=v1.params, **{**common, "model": "other"}) is None
        assert store.find_reusable(params=v1.params, **{**common, "n_results": 21}) is None
        assert store.find_reusable(params=v1.params, **{**common, "evalset_digest": "x"}) is None

        # Copy into a new run: every (case, repeat) is done, so a runner makes no call.
        store.create_run("r2", "s", evalset_digest=evalset_digest, n_cases=20)
        new_id = store.add_variant("r2", prompt="p", version="v1", digest=v1.digest,
                                   model=variant.model, params=v1.params, provider=None,
                                   role="baseline")
        calls = server.requests.total
        copied = store.copy_results(found, run_id="r2", variant_id=new_id,
                               scorers={"contains": _scorer_identity(store, variant)})
        assert copied == 20 and server.requests.total == calls
        assert len(store.done_keys("r2")) == 20
        again = variant_scores(store, new_id)
        assert again.values == variant_scores(store, variant.variant_id).values


def _scorer_identity(store: Any, variant: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    row = store.db.execute(
        "select s.scorer_version, s.args from scores s join results r using (result_id)"
        " where r.variant_id = ? limit 1", (variant.variant_id,)).fetchone()
    import json

    return row[0], json.loads(row[1])


def test_reused_results_cost_no_model_calls_in_a_real_run(
    evaluated: tuple[Path, str, Any],
) -> None:
    root, run_id, server = evaluated
    project = load_project(root)
    registry = load_registry(project)
    with open_store(project.store.path) as store:
        first = store.run(run_id)
        store.create_run("r2", "s", evalset_path=first.meta["evalset_path"],
                         evalset_digest=first.meta["evalset_digest"], n_cases=20, repeat=1)
        for stored in store.variants(run_id):
            version = registry.resolve(f"p@{stored.version}")
            found = store.find_reusable(digest=version.digest,
                                  evalset_digest=first.meta["evalset_digest"],
                                  model=stored.model, params=version.params, n_results=20,
                                  provider=stored.provider, exclude_run="r2")
            assert found is not None and found.run_id == run_id
            new_id = store.add_variant("r2", prompt="p", version=version.version,
                                       digest=version.digest, model=stored.model,
                                       params=version.params, provider=stored.provider,
                                       role=stored.role)
            store.copy_results(found, run_id="r2", variant_id=new_id)  # scores redone
        store.finish_run("r2", status="interrupted")
    calls = server.requests.total
    # Finish r2 with the real runner, cache off: every case is already done.
    result = evaluate(str(root), "s", resume="r2", no_cache=True, formats=())
    assert server.requests.total == calls
    (comparison,) = result.comparisons
    assert comparison.verdict == "improved" and comparison.delta == pytest.approx(0.8)


def test_diff_against_a_git_ref(tmp_path: Path) -> None:
    from llmops.eval.prompt_diff import diff

    root = write_project(tmp_path)
    git(root, "init", "-q")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "first")
    (root / "prompts" / "p" / "v1.yaml").write_text(V1.replace("Be polite.", "Be rude."))
    d = diff(load_project(root), "git:HEAD", "p@v1")
    assert d.a == "p@v1 (git:HEAD)" and d.b == "p@v1"
    assert d.messages[0] == "--- p@v1 (git:HEAD)"
    assert any(line.startswith("-") and "Be polite." in line for line in d.messages)
    assert any(line.startswith("+") and "Be rude." in line for line in d.messages)
    with pytest.raises(UserError, match="only one side"):
        diff(load_project(root), "git:HEAD", "git:HEAD")
