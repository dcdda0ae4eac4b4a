"""Planning an evaluation: which prompt versions run, and the provenance a run records."""

from __future__ import annotations

import hashlib
import json
import secrets
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.errors import PromptError, UserError

if TYPE_CHECKING:
    from llmops.eval.baselines import Baseline
    from llmops.eval.changes import BaseState, MovedLabel
    from llmops.evalsets import EvalSet
    from llmops.project import Project, SuiteConfig
    from llmops.prompts import PromptVersion
    from llmops.prompts.registry import Registry
    from llmops.store import ResultsStore, RunInfo


@dataclass
class Planned:
    """A prompt version the run calls, its role, and where it came from (``git:REF``)."""

    version: PromptVersion
    role: str
    origin: str | None = None
    rag: PromptVersion | None = None  # the resolved RAG config of a ``rag:`` prompt

    @property
    def label(self) -> str:
        ref = self.version.ref
        return f"{ref} ({self.origin})" if self.origin else ref


def plan_baseline(
    project: Project,
    registry: Registry,
    suite: SuiteConfig,
    spec: str | None,
    prompts: Sequence[str],
    store: ResultsStore | None,
    warnings: list[str],
) -> Baseline | None:
    """Resolve ``--baseline`` for a suite (None: no ``production`` label and nothing to compare).

    Every form of :func:`llmops.eval.baselines.resolve_baseline` is accepted: a label or version
    of the suite's prompt, ``NAME@REF``, ``git:REF[:LABEL_OR_VERSION]`` and
    ``run:RUN_ID[:VERSION]``. ``store`` is None when the results store does not exist
    yet: it holds no run then.
    """
    from llmops.eval.baselines import resolve_baseline

    text = (spec or "").strip()
    run_id = text[4:].partition(":")[0] if text.startswith("run:") else ""
    if store is None and run_id:
        raise UserError(f"no run {run_id!r} in the store", file=project.store.where,
                        hint="see `llmops runs list`")

    try:
        base = resolve_baseline(project, spec, suite.prompt, store=store, registry=registry)
    except PromptError as exc:
        if spec is not None or (not prompts and not unreleased(registry, suite.prompt)):
            raise
        warnings.append(f"no baseline: {exc.message}")
        return None
    pv = base.prompt_version
    if pv is not None and pv.kind != "prompt":
        raise PromptError(f"{pv.ref} is a RAG config, not a prompt", file=pv.path)
    return base


def select_versions(
    registry: Registry,
    suite: SuiteConfig,
    prompts: Sequence[str],
    base: Baseline | None,
    changed: list[PromptVersion] | None = None,
) -> list[Planned]:
    """The variants a run calls: the baseline first (unless it is a stored run), then
    the candidates. A candidate with the baseline's digest is not run twice, except
    against a ``run:`` baseline, whose results were made earlier (perhaps by another model).
    ``changed``: what changed against a ``git:``/``run:`` base (see :mod:`llmops.eval.changes`).
    """
    if prompts:
        candidates = [registry.resolve(r) for r in prompts]
    elif changed is not None:
        candidates = changed
    else:
        candidates = unreleased(registry, suite.prompt)
    for pv in candidates:
        if pv.kind != "prompt":
            raise PromptError(f"{pv.ref} is a RAG config, not a prompt", file=pv.path)
    chosen: list[Planned] = []
    seen: set[str] = set()
    if base is not None and base.kind != "run":
        assert base.prompt_version is not None
        origin = f"git:{base.git_ref}" if base.kind == "git" else None
        chosen.append(Planned(base.prompt_version, "baseline", origin))
        seen.add(base.digest)
    for pv in candidates:
        if pv.digest not in seen:
            seen.add(pv.digest)
            chosen.append(Planned(pv, "candidate"))
    return chosen


def baseline_record(base: Baseline | None) -> str | None:
    """What a run stores as its baseline: a ref, or the exact spec to resolve it again."""
    if base is None:
        return None
    if base.kind == "git":
        return f"git:{base.git_ref}:{base.version}"
    if base.kind == "run":
        return f"run:{base.run_id}:{base.version}"
    return base.ref


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


@dataclass
class SuitePlan:
    """One suite's plan: its eval set, the versions the run calls, the resolved baseline."""

    suite_name: str
    suite: SuiteConfig
    evalset: EvalSet
    versions: list[Planned]  # what this run calls: the baseline first, then the candidates
    baseline: Baseline | None  # as resolved; kind "run" is compared from the store
    warnings: list[str]
    moved: list[MovedLabel] = field(default_factory=list)  # every prompt's, against the base

    @property
    def stored_baseline(self) -> Baseline | None:
        """A ``run:`` baseline: its results are read from the store, not made again."""
        return self.baseline if self.baseline is not None and self.baseline.kind == "run" else None


def plan_suite(
    project: Project,
    registry: Registry,
    suite_name: str,
    suite: SuiteConfig,
    prompts: list[str],
    baseline: str | None,
    store: ResultsStore | None,
    prior: RunInfo | None,
) -> SuitePlan:
    """What one suite's run calls, checked: versions, baseline, eval set, variables, renders."""
    from llmops.evalsets import load_evalset

    warnings: list[str] = []
    if prior is not None:
        assert store is not None  # a run to resume was read from it
        base, versions = _resumed_versions(project, registry, suite, store, prior)
    else:
        base = plan_baseline(project, registry, suite, baseline, prompts, store, warnings)
        state = None if prompts else base_state(project, base, store, warnings)
        changed = None
        if state is not None:
            from llmops.eval.changes import changed_versions, moved_labels

            changed = changed_versions(registry, state, suite.prompt)
            moved = moved_labels(registry, state)
        versions = select_versions(registry, suite, prompts, base, changed)
        if state is not None and base is not None:
            _check_moved_compared(registry, suite, versions, base, state, moved, warnings)
        elif not prompts and versions and all(p.role == "baseline" for p in versions):
            assert base is not None
            warnings.append(f"no candidate: {suite.prompt} has no unlocked or edited version "
                            "other than the baseline; "
                            f"only the baseline {base.label} was evaluated")
        if not versions:
            assert base is not None
            raise UserError(
                f"nothing to evaluate against {base.label}: no candidate version",
                hint="name one with --prompt NAME@VERSION",
            )
    evalset = load_evalset(project.path(suite.evalset))
    if prior is not None and prior.meta["evalset_digest"] != evalset.digest:
        raise UserError(
            f"the eval set changed since run {prior.run_id} started",
            file=evalset.path,
            hint="start a new run instead of resuming",
        )
    for p in versions:
        pv = p.version
        evalset.check_variables(pv.variables, pv.ref)
        if pv.rag is not None:
            p.rag = _rag_of(project, registry, p)
        check_renders(pv, evalset)
    plan = SuitePlan(suite_name, suite, evalset, versions, base, warnings)
    if prior is None and state is not None:
        plan.moved = moved
    return plan


def base_state(
    project: Project, base: Baseline | None, store: ResultsStore | None, warnings: list[str]
) -> BaseState | None:
    """The prompts on a ``git:`` base, or at the commit a ``run:`` base was made at."""
    from llmops.eval.changes import state_at_git_ref

    if base is None or base.kind == "version":
        return None
    if base.kind == "git":
        assert base.git_ref is not None
        return state_at_git_ref(project, base.git_ref)
    assert store is not None and base.run_id is not None
    commit = store.run(base.run_id).meta.get("git_commit")
    if commit:
        try:
            return state_at_git_ref(project, str(commit))
        except UserError:
            pass
    warnings.append(f"run {base.run_id} names no commit of this repository: the candidates "
                    "are the unlocked or edited versions, as without a git: baseline")
    return None


def _check_moved_compared(
    registry: Registry,
    suite: SuiteConfig,
    versions: list[Planned],
    base: Baseline,
    state: BaseState,
    moved: list[MovedLabel],
    warnings: list[str],
) -> None:
    """Every moved label of the suite's prompt is compared; no candidate is said once."""
    compared = {p.version.digest for p in versions} | {base.digest}
    for m in moved:
        if m.prompt != suite.prompt:
            continue
        pv = registry.get(m.prompt, m.after)
        if pv.digest not in compared:
            raise UserError(f"{m} moved against {state.where} but is not compared",
                            hint="a moved label needs a comparison; name it with --prompt")
        base_label = base.spec[4:].partition(":")[2] if base.kind == "git" else ""
        if m.label != (base_label or "production"):
            warnings.append(f"{m} moved: compared with the baseline {base.label}")
    if not any(p.role == "candidate" for p in versions):
        warnings.append(f"no candidate: {suite.prompt} has no new version and no moved label "
                        f"against {state.where}; only the baseline {base.label} was evaluated")


def _rag_of(project: Project, registry: Registry, planned: Planned) -> PromptVersion:
    """The RAG config a prompt refers to; a git baseline's as it was at that ref."""
    pv = planned.version
    assert pv.rag is not None
    if planned.origin is not None and planned.origin.startswith("git:"):
        from llmops.eval.baselines import version_at_git_ref

        return version_at_git_ref(project, planned.origin[4:], pv.rag)
    return registry.resolve(pv.rag)


def _resumed_versions(
    project: Project, registry: Registry, suite: SuiteConfig, store: ResultsStore, prior: RunInfo
) -> tuple[Baseline | None, list[Planned]]:
    """The variants of the run being resumed, in store order; refused if one changed."""
    from llmops.eval.baselines import resolve_baseline

    spec = prior.meta.get("baseline")
    base = None
    if spec and str(spec).startswith(("git:", "run:")):
        base = resolve_baseline(project, str(spec), suite.prompt, store=store, registry=registry)
    versions = []
    for v in store.variants(prior.run_id):
        if v.role == "baseline" and base is not None and base.kind == "git":
            assert base.prompt_version is not None
            pv, origin = base.prompt_version, f"git:{base.git_ref}"
        else:
            pv, origin = registry.get(v.prompt, v.version), None
        if pv.digest != v.digest:
            raise PromptError(
                f"{pv.ref} changed since run {prior.run_id} started (digest "
                f"{v.digest[:12]} -> {pv.digest[:12]})",
                file=pv.path,
                hint="start a new run instead of resuming",
            )
        versions.append(Planned(pv, v.role, origin))
    return base, versions
