"""Two prompt versions side by side: what changed in the files, and what it did to scores.

:func:`diff` compares version ``a`` (the old one, the baseline) with ``b`` (the new one,
the candidate): a unified diff of messages and params, changed variables and RAG config,
and, when both were evaluated on the same eval set, the paired comparison per scorer
(the same statistics as ``llmops eval``) and the cases that moved most.
"""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field

from llmops.errors import UserError

if TYPE_CHECKING:
    from llmops.eval.baselines import VariantScores
    from llmops.project import Project
    from llmops.prompts import PromptVersion
    from llmops.store import ResultsStore, VariantRecord

SCHEMA_VERSION = 1


class FieldChange(BaseModel):
    """One key whose value differs (None: absent on that side)."""

    key: str
    a: Any = None
    b: Any = None


class CaseMove(BaseModel):
    """A case whose scores changed, with both outputs (PII and secrets masked)."""

    case_id: str
    deltas: dict[str, float]
    a_output: str | None = None
    b_output: str | None = None
    a_error: str | None = None
    b_error: str | None = None


class DiffResults(BaseModel):
    """The paired comparison of stored results, b (candidate) against a (baseline)."""

    suite: str
    a_run: str
    b_run: str
    comparisons: list[Any] = Field(default_factory=list)  # llmops.eval.stats.Comparison
    moved: list[CaseMove] = Field(default_factory=list)


class PromptDiff(BaseModel):
    """Everything that differs between two versions."""

    schema_version: int = SCHEMA_VERSION
    a: str
    b: str
    a_digest: str
    b_digest: str
    same_behaviour: bool
    description: FieldChange | None = None
    messages: list[str] = Field(default_factory=list, description="unified diff lines")
    params: list[FieldChange] = Field(default_factory=list)
    params_diff: list[str] = Field(default_factory=list)
    variables_added: list[str] = Field(default_factory=list)
    variables_removed: list[str] = Field(default_factory=list)
    rag: list[FieldChange] = Field(default_factory=list)
    results: DiffResults | None = None
    results_note: str = ""

    @property
    def changed(self) -> bool:
        """Whether anything a user sees differs."""
        return bool(
            self.messages or self.params or self.variables_added or self.variables_removed
            or self.rag or self.description
        )


def diff(
    project: Project | str | Path | None,
    a_ref: str,
    b_ref: str,
    suite: str | None = None,
    run: str | None = None,
    *,
    top: int = 5,
    n_resamples: int = 10000,
    seed: int = 0,
    store: ResultsStore | None = None,
) -> PromptDiff:
    """Compare two versions of a prompt (or RAG config).

    Args:
        project: the loaded project, or its directory (None: the cwd or a parent).
        a_ref: the old version, ``NAME@VERSION`` or ``NAME@LABEL``; or ``git:REF`` (the
            other side's prompt at its ``production`` label at that git ref) or
            ``git:REF:LABEL_OR_VERSION``.
        b_ref: the new version, in the same forms.
        suite: look for results of this suite only.
        run: take both versions' results from this run (it must hold both).
        top: how many of the cases that moved most to include.
        n_resamples: bootstrap resamples for the per-scorer CIs.
        seed: bootstrap seed.
        store: read the results from this open store (e.g. one opened read-only) instead
            of opening the project's.
    """
    from llmops.project import as_project
    from llmops.prompts import load_registry

    project = as_project(project)
    registry = load_registry(project)
    a, b = _resolve_pair(project, registry, a_ref, b_ref)
    if suite is not None:
        project.suite(suite)  # ConfigError naming the known suites
    result = version_diff(a, b, rag_a=_rag_target(registry, a), rag_b=_rag_target(registry, b))
    for side, ref in (("a", a_ref), ("b", b_ref)):
        if ref.startswith("git:"):  # say where it came from, in the diff header too
            label = f"{getattr(result, side)} ({ref.split(':')[0]}:{ref.split(':')[1]})"
            result.messages = [_relabel(line, getattr(result, side), label)
                               for line in result.messages]
            setattr(result, side, label)
    if store is None and not project.store.exists():
        if run is not None:
            raise UserError(f"no results store at {project.store.where}, so no run {run!r}")
        result.results_note = "no results stored yet: run `llmops eval` on both versions"
        return result
    from contextlib import nullcontext

    from llmops.store import open_store

    with nullcontext(store) if store is not None else open_store(project.store) as store:
        pair = find_result_pair(store, a.digest, b.digest, suite=suite, run=run)
        if pair is None:
            result.results_note = (
                f"no eval set has results for both {a.ref} and {b.ref}"
                + (f" in suite {suite!r}" if suite else "")
            )
            return result
        result.results = compare_variants(store, pair, top=top, n_resamples=n_resamples,
                                          seed=seed, a_name=a.ref, b_name=b.ref)
    return result


def _resolve_pair(
    project: Project, registry: Any, a_ref: str, b_ref: str
) -> tuple[PromptVersion, PromptVersion]:
    """Resolve both references; ``git:REF[:LABEL_OR_VERSION]`` takes its name from the other."""
    from llmops.eval.baselines import resolve_baseline

    if a_ref.startswith("git:") and b_ref.startswith("git:"):
        raise UserError("only one side of a diff can be git:REF",
                        hint="e.g. llmops diff git:main support_answer@v3")
    out = []
    for ref, other in ((a_ref, b_ref), (b_ref, a_ref)):
        if ref.startswith("git:"):
            name = registry.resolve(other).name
            version = resolve_baseline(project, ref, name).prompt_version
            assert version is not None
            out.append(version)
        else:
            out.append(registry.resolve(ref))
    return out[0], out[1]


def version_diff(
    a: PromptVersion,
    b: PromptVersion,
    *,
    rag_a: PromptVersion | None = None,
    rag_b: PromptVersion | None = None,
) -> PromptDiff:
    """The file-level differences between two loaded versions (no results)."""
    from llmops.prompts.digest import readable

    out = PromptDiff(a=a.ref, b=b.ref, a_digest=a.digest, b_digest=b.digest,
                     same_behaviour=a.digest == b.digest)
    if a.description != b.description:
        out.description = FieldChange(key="description", a=a.description, b=b.description)
    out.messages = _unified(readable({"messages": a.messages}),
                            readable({"messages": b.messages}), a.ref, b.ref)
    out.params = _changes(a.params, b.params)
    if out.params:
        out.params_diff = _unified(readable({"params": a.params} if a.params else {}),
                                   readable({"params": b.params} if b.params else {}),
                                   a.ref, b.ref)
    out.variables_added = sorted(set(b.variables) - set(a.variables))
    out.variables_removed = sorted(set(a.variables) - set(b.variables))
    out.rag = _rag_changes(a, b, rag_a, rag_b)
    return out


def _relabel(line: str, old: str, new: str) -> str:
    if line.startswith(("--- ", "+++ ")) and line[4:] == old:
        return line[:4] + new
    return line


def _rag_target(registry: Any, version: PromptVersion) -> PromptVersion | None:
    if version.kind == "rag":
        return version
    return registry.resolve(version.rag) if version.rag else None


def _rag_changes(
    a: PromptVersion, b: PromptVersion, rag_a: PromptVersion | None, rag_b: PromptVersion | None
) -> list[FieldChange]:
    changes = []
    if a.kind == "prompt" and a.rag != b.rag:
        changes.append(FieldChange(key="rag", a=a.rag, b=b.rag))
    config_a = rag_a.rag_config.model_dump() if rag_a and rag_a.rag_config else {}
    config_b = rag_b.rag_config.model_dump() if rag_b and rag_b.rag_config else {}
    changes.extend(_changes(config_a, config_b, prefix="rag." if a.kind == "prompt" else ""))
    return changes


def _changes(a: dict[str, Any], b: dict[str, Any], prefix: str = "") -> list[FieldChange]:
    out = []
    for key in sorted(set(a) | set(b)):
        if a.get(key) != b.get(key):
            if isinstance(a.get(key), dict) and isinstance(b.get(key), dict):
                out.extend(_changes(a[key], b[key], prefix=f"{prefix}{key}."))
            else:
                out.append(FieldChange(key=prefix + key, a=a.get(key), b=b.get(key)))
    return out


def _unified(a: list[str], b: list[str], a_name: str, b_name: str) -> list[str]:
    if a == b:
        return []
    lines = difflib.unified_diff(a, b, fromfile=a_name, tofile=b_name, n=3)
    return [line.rstrip("\n") for line in lines]


# --- stored results ------------------------------------------------------------------


def find_result_pair(
    store: ResultsStore, a_digest: str, b_digest: str, *, suite: str | None, run: str | None
) -> tuple[dict[str, Any], dict[str, Any]] | None:
    """The newest variants of both digests evaluated on the same suite and eval set.

    Variants of one run are preferred (same model, same moment); with ``run`` only that
    run is considered, and it must hold both.
    """
    if run is not None:
        store.run(run)  # UserError when unknown
        by_digest = {v.digest: v for v in store.variants(run)}
        missing = [d[:12] for d in (a_digest, b_digest) if d not in by_digest]
        if missing:
            raise UserError(f"run {run!r} has no results for digest {', '.join(missing)}",
                            hint=f"see `llmops runs show {run}`")
        return _with_suite(store, by_digest[a_digest], run), _with_suite(
            store, by_digest[b_digest], run)
    side_a, side_b = _variants_of(store, a_digest, suite), _variants_of(store, b_digest, suite)
    for va in side_a:  # newest first: the same run wins, else the newest matching pair
        for vb in side_b:
            if va["run_id"] == vb["run_id"]:
                return va, vb
    for va in side_a:
        for vb in side_b:
            if (va["suite"], va["evalset_digest"]) == (vb["suite"], vb["evalset_digest"]):
                return va, vb
    return None


def _variants_of(store: ResultsStore, digest: str, suite: str | None) -> list[dict[str, Any]]:
    return [_entry(v, run_suite, evalset)
            for v, run_suite, evalset in store.variants_with_digest(digest, suite)]


def _entry(v: VariantRecord, suite: str, evalset_digest: str | None) -> dict[str, Any]:
    return {"variant_id": v.variant_id, "run_id": v.run_id, "prompt": v.prompt,
            "version": v.version, "model": v.model, "suite": suite,
            "evalset_digest": evalset_digest}


def _with_suite(store: ResultsStore, variant: VariantRecord, run: str) -> dict[str, Any]:
    info = store.run(run)
    return _entry(variant, info.suite, info.meta.get("evalset_digest"))


def compare_variants(
    store: ResultsStore,
    pair: tuple[dict[str, Any], dict[str, Any]],
    *,
    top: int = 5,
    n_resamples: int = 10000,
    seed: int = 0,
    a_name: str = "a",
    b_name: str = "b",
) -> DiffResults:
    """Per-scorer comparison of b against a, and the ``top`` cases that moved most."""
    from llmops.eval.baselines import variant_scores
    from llmops.eval.stats import compare_many

    va, vb = pair
    a, b = variant_scores(store, int(va["variant_id"])), variant_scores(store,
                                                                       int(vb["variant_id"]))
    comparisons = compare_many(
        b.values, a.values, candidate_passed=b.passed, baseline_passed=a.passed,
        candidate_name=b_name, baseline_name=a_name, n_resamples=n_resamples, seed=seed,
    )
    return DiffResults(suite=str(va["suite"]), a_run=str(va["run_id"]), b_run=str(vb["run_id"]),
                       comparisons=comparisons, moved=moved_cases(a, b, top=top))


def moved_cases(a: VariantScores, b: VariantScores, *, top: int = 5) -> list[CaseMove]:
    """The cases whose scores changed most (largest absolute delta on any scorer).

    Their outputs and errors are masked (:func:`llmops.guard.redact`) for display.
    """
    from llmops.eval.stats import case_deltas
    from llmops.guard.redact import redact

    per_case: dict[str, dict[str, float]] = {}
    for scorer, values in b.values.items():
        for case_id, delta in case_deltas(values, a.values.get(scorer, {})):
            per_case.setdefault(case_id, {})[scorer] = delta
    ranked = sorted(per_case.items(),
                    key=lambda item: (-max(abs(d) for d in item[1].values()), item[0]))
    return [
        CaseMove(case_id=case_id, deltas=deltas, a_output=redact(a.outputs.get(case_id)),
                 b_output=redact(b.outputs.get(case_id)), a_error=redact(a.errors.get(case_id)),
                 b_error=redact(b.errors.get(case_id)))
        for case_id, deltas in ranked[:top]
        if any(d != 0 for d in deltas.values())
    ]
