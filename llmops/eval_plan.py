"""Planning an evaluation: which prompt versions run, and the provenance a run records."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.errors import PromptError

if TYPE_CHECKING:
    from llmops.evalsets import EvalSet
    from llmops.project import Project, SuiteConfig
    from llmops.prompts import PromptVersion
    from llmops.prompts.registry import Registry


def select_versions(
    registry: Registry,
    suite: SuiteConfig,
    prompts: Sequence[str],
    baseline: str | None,
    warnings: list[str],
) -> list[tuple[PromptVersion, str]]:
    """The variants of a run as (version, role): the baseline first, then the candidates."""
    base: PromptVersion | None = None
    if baseline is not None:
        ref = baseline
        if "@" not in ref and ref not in registry.names():
            ref = f"{suite.prompt}@{ref}"
        base = registry.resolve(ref)
    else:
        try:
            base = registry.resolve(f"{suite.prompt}@production")
        except PromptError as exc:
            if not prompts and not unreleased(registry, suite.prompt):
                raise
            warnings.append(f"no baseline: {exc.message}")
    if prompts:
        candidates = [registry.resolve(r) for r in prompts]
    else:
        candidates = unreleased(registry, suite.prompt)
    for pv in [base, *candidates]:
        if pv is not None and pv.kind != "prompt":
            raise PromptError(f"{pv.ref} is a RAG config, not a prompt", file=pv.path)
    chosen: list[tuple[PromptVersion, str]] = [] if base is None else [(base, "baseline")]
    seen = {base.digest} if base is not None else set()
    for pv in candidates:
        if pv.digest not in seen:
            seen.add(pv.digest)
            chosen.append((pv, "candidate"))
    return chosen


def unreleased(registry: Registry, name: str) -> list[PromptVersion]:
    return [v for v in registry.changed_or_unlocked() if v.name == name and v.kind == "prompt"]


def check_locks(registry: Registry) -> None:
    for v in registry.all():
        if getattr(v, "edited", False):
            raise PromptError(
                f"{v.ref} is locked but its file changed",
                file=v.path,
                hint="restore it and make a new version (a locked version never changes)",
            )


def check_renders(pv: PromptVersion, evalset: EvalSet) -> None:
    """Render the first case: a template that cannot render fails before any call."""
    from llmops.prompts import render_messages

    case = evalset.cases[0]
    variables = dict(case.vars)
    if pv.rag is not None:
        variables["context"] = []
    render_messages(pv, variables)


def relative(path: Path, root: Path) -> str:
    try:
        return str(path.resolve().relative_to(root))
    except ValueError:
        return str(path)


def new_run_id() -> str:
    """A sortable, unique run id: UTC time plus random hex."""
    return f"{datetime.now(UTC):%Y%m%d-%H%M%S}-{secrets.token_hex(3)}"


def config_digest(project: Project) -> str:
    data = project.config.model_dump(mode="json")
    text = json.dumps(data, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


def git_state(root: Path) -> tuple[str | None, int | None]:
    """The commit checked out at ``root`` and whether the tree has changes (None: no git)."""

    def git(*args: str) -> str | None:
        try:
            done = subprocess.run(
                ["git", *args], cwd=root, capture_output=True, text=True, timeout=10
            )
        except (OSError, subprocess.TimeoutExpired):
            return None
        return done.stdout.strip() if done.returncode == 0 else None

    commit = git("rev-parse", "HEAD")
    if commit is None:
        return None, None
    status = git("status", "--porcelain", "--untracked-files=no")
    return commit, None if status is None else int(bool(status))

