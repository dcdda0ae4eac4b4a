"""The result of a stored run, read back so its reports can be written again.

Everything comes from the results store (variants, outputs, scores and their details,
the cases' inputs), so a run's reports can be rendered after its files are gone. The
gate is the suite's gate as configured now. The prompt diffs are shown for the versions
the working tree (or, for a ``git:`` baseline, git) still holds with the digest the run
used; the others are left out.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import TYPE_CHECKING

from llmops.eval.plan import relative
from llmops.eval.result import EvalResult, build_result
from llmops.eval.runner import Variant
from llmops.evalsets import EvalSet
from llmops.prompts import PromptVersion

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.store import ResultsStore


def stored_result(project: Project, store: ResultsStore, run_id: str) -> EvalResult:
    """The :class:`EvalResult` of run ``run_id`` as stored (UserError when unknown)."""
    from llmops.eval.baselines import resolve_baseline

    run = store.run(run_id)
    meta = run.meta
    variants = [
        Variant(variant_id=v.variant_id,
                version=PromptVersion(name=v.prompt, version=v.version, digest=v.digest,
                                      kind="prompt", path=Path(v.prompt)),
                params=v.params, role=v.role, origin=v.origin)
        for v in store.variants(run_id)
    ]
    spec = str(meta.get("baseline") or "")
    stored_baseline = None
    if spec.startswith("run:") and variants:
        stored_baseline = resolve_baseline(project, spec, variants[0].version.name, store=store)
    keys = list(store.scorer_signatures(run_id=run_id))
    evalset = EvalSet(Path(str(meta.get("evalset_path") or "")),
                      str(meta.get("evalset_digest") or ""), [])
    gate = project.suite(run.suite).gate if run.suite in project.config.suites else None
    from llmops.project import GateConfig

    result = build_result(store, run_id, evalset, variants, keys, gate or GateConfig(),
                          stored_baseline=stored_baseline)
    result.evalset["n_cases"] = int(meta.get("n_cases") or 0)
    result.evalset["path"] = relative(evalset.path, project.root)
    return result


def stored_versions(project: Project, result: EvalResult) -> dict[str, PromptVersion]:
    """Variant label → the prompt version it ran, where it is still to be found with the
    same digest: in the working tree, or at the git ref a baseline came from."""
    from llmops.errors import LlmopsError
    from llmops.prompts import load_registry

    registry = load_registry(project)
    found: dict[str, PromptVersion] = {}
    for v in result.variants:
        ref = f"{v.prompt}@{v.version}"
        pv: PromptVersion | None = None
        with contextlib.suppress(LlmopsError, OSError):
            if v.origin and v.origin.startswith("git:"):
                from llmops.eval.baselines import version_at_git_ref

                pv = version_at_git_ref(project, v.origin[4:], ref)
            else:
                pv = registry.get(v.prompt, v.version)
        if pv is not None and pv.digest == v.digest:
            found[v.label] = pv
    return found
