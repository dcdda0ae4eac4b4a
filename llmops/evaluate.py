"""``evaluate()``: run a suite, score it, compare with the baseline, apply the gate.

Everything the user can get wrong (suite, prompt references, eval set, variables,
scorer options, API key) is checked before the first model call. The returned
:class:`EvalResult` carries DESIGN.md's stable JSON fields; the CLI only renders it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import EXIT_FAILED, EXIT_RUNTIME, LlmopsError, PromptError, UserError
from llmops.eval_plan import (
    check_locks,
    check_renders,
    config_digest,
    git_state,
    new_run_id,
    relative,
    select_versions,
)
from llmops.eval_result import EvalResult, build_result
from llmops.evalsets import EvalSet, load_evalset
from llmops.runner import Runner, RunStats, Variant, scorer_slots
from llmops.store import Store

if TYPE_CHECKING:
    from llmops.project import Project, SuiteConfig
    from llmops.prompts import PromptVersion
    from llmops.prompts.registry import Registry

__all__ = ["EvalResult", "StaleIndexError", "evaluate", "evaluate_suites"]

DEFAULT_FORMATS = ("md", "json", "junit")
ALL_FORMATS = ("md", "json", "junit", "html")


class StaleIndexError(LlmopsError):
    """``--require-fresh`` and a RAG index no longer matches its sources: exit 1."""

    exit_code = EXIT_FAILED


class Progress:
    """Receives the run's progress; the CLI draws it (rich bar or plain lines)."""

    def start(self, suite: str, run_id: str, total: int, done: int) -> None: ...

    def advance(self, variant: str, ok: bool, cached: bool) -> None: ...

    def finish(self) -> None: ...

    def warn(self, message: str) -> None: ...


@dataclass
class _Plan:
    suite_name: str
    suite: SuiteConfig
    evalset: EvalSet
    versions: list[tuple[PromptVersion, str]]  # (version, role)
    rag: dict[str, PromptVersion]  # prompt ref -> its resolved RAG config
    warnings: list[str]


def evaluate(
    project: Project | str | Path | None = None,
    suite: str | None = None,
    prompts: Sequence[str] = (),
    baseline: str | None = None,
    repeat: int = 1,
    concurrency: int | None = None,
    no_cache: bool = False,
    resume: str | None = None,
    report_dir: str | Path | None = None,
    formats: Sequence[str] | None = DEFAULT_FORMATS,
    require_fresh: bool = False,
    progress: Progress | None = None,
) -> EvalResult:
    """Evaluate one suite and return its typed result.

    Args:
        project: a loaded project or its directory (None: the cwd or a parent).
        suite: the suite's name; may be omitted when the project has one suite.
        prompts: candidate versions (``NAME@REF``); default: the suite's prompt at
            ``production`` plus every version changed or not locked.
        baseline: what candidates are compared with (default ``production``).
        repeat: calls per case and variant.
        concurrency: calls in flight at once (default: the provider's max_concurrency).
        no_cache: do not answer from the response cache.
        resume: finish this interrupted run instead of starting a new one.
        report_dir: where ``<run_id>/`` reports go (default the project's reports dir).
        formats: report formats among md, json, junit, html; empty or None for none.
        require_fresh: a stale RAG index is a failure (exit 1) instead of a warning.
        progress: receives progress events.

    Returns:
        The :class:`EvalResult`; ``exit_code`` says 0 (pass), 1 (gate failed) or 3
        (every call failed).

    Raises:
        UserError: anything wrong with the inputs, before any model call.
    """
    from llmops.project import Project, load_project

    proj = project if isinstance(project, Project) else load_project(project)
    if suite is None and resume is None:
        names = sorted(proj.config.suites)
        if len(names) != 1:
            raise UserError(
                "name a suite" if names else "the project defines no suites",
                file=proj.config_path,
                hint=f"suites: {', '.join(names)}" if names else "add one under `suites:`",
            )
        suite = names[0]
    return _Evaluation(proj, progress or Progress()).run(
        suite, list(prompts), baseline, repeat, concurrency, no_cache, resume,
        report_dir, formats, require_fresh,
    )


def evaluate_suites(
    project: Project | str | Path | None = None,
    suites: Sequence[str] = (),
    prompts: Sequence[str] = (),
    **options: Any,
) -> list[EvalResult]:
    """Evaluate several suites (default: every suite); ``--prompt`` refs go to matching suites."""
    from llmops.project import Project, load_project

    proj = project if isinstance(project, Project) else load_project(project)
    names = list(suites) or sorted(proj.config.suites)
    if not names:
        raise UserError("the project defines no suites", file=proj.config_path)
    for name in names:
        proj.suite(name)
    by_suite: dict[str, list[str]] = {n: [] for n in names}
    for ref in prompts:
        prompt_name = ref.partition("@")[0]
        matching = [n for n in names if proj.config.suites[n].prompt == prompt_name]
        if not matching and len(names) == 1:
            matching = names
        if not matching:
            raise PromptError(f"--prompt {ref}: no suite evaluates prompt {prompt_name!r}")
        for n in matching:
            by_suite[n].append(ref)
    return [evaluate(proj, n, prompts=by_suite[n], **options) for n in names]


class _Evaluation:
    def __init__(self, project: Project, progress: Progress) -> None:
        self.project = project
        self.progress = progress

    def run(
        self,
        suite_name: str | None,
        prompts: list[str],
        baseline: str | None,
        repeat: int,
        concurrency: int | None,
        no_cache: bool,
        resume: str | None,
        report_dir: str | Path | None,
        formats: Sequence[str] | None,
        require_fresh: bool,
    ) -> EvalResult:
        from llmops.prompts import load_registry
        from llmops.scorers import ScorerContext, build_scorers

        if repeat < 1:
            raise UserError("--repeat must be at least 1")
        if concurrency is not None and concurrency < 1:
            raise UserError("--concurrency must be at least 1")
        started = time.perf_counter()
        fmts = _check_formats(formats)
        registry = load_registry(self.project)
        check_locks(registry)
        store = Store(self.project.store_path)
        try:
            prior = _prior_run(store, resume)
            if prior is not None:
                suite_name, repeat = prior.suite, int(prior.meta["repeat"] or 1)
            assert suite_name is not None
            suite = self.project.suite(suite_name)
            plan = self._plan(registry, suite_name, suite, prompts, baseline, store, resume)
            scorers = build_scorers(suite.scorers, ScorerContext(self.project, no_cache))
            for s in scorers:
                s.validate(plan.evalset.cases)
            self._check_rag(plan, require_fresh)
            provider = self._provider(concurrency, no_cache)
            if prior is not None:
                run_id = prior.run_id
                store.claim_run(run_id)
                variants = self._stored_variants(store, run_id, plan)
            else:
                run_id = new_run_id()
                variants = self._new_run(store, run_id, plan, repeat, provider)
            slots = scorer_slots(scorers)
            runner = Runner(
                self.project, store, run_id, provider, plan.evalset, variants, slots,
                repeat=repeat,
                concurrency=concurrency or self.project.config.provider.max_concurrency,
                query_template=suite.query,
                on_result=lambda v, ok, cached: self.progress.advance(v.label, ok, cached),
            )
            total = len(plan.evalset.cases) * len(variants) * repeat
            self.progress.start(suite_name, run_id, total, len(store.done_keys(run_id)))
            stats = self._execute(store, run_id, runner, provider, scorers)
            result = self._result(store, run_id, plan, variants, [s.key for s in slots], stats)
            if fmts:
                self._reports(result, plan, fmts, report_dir)
            result.timings["total_s"] = round(time.perf_counter() - started, 4)
            return result
        finally:
            store.close()

    def _result(
        self, store: Store, run_id: str, plan: _Plan, variants: list[Variant], keys: list[str],
        stats: RunStats,
    ) -> EvalResult:
        result = build_result(
            store, run_id, plan.evalset, variants, keys, plan.suite.gate, plan.warnings
        )
        result.evalset["path"] = relative(plan.evalset.path, self.project.root)
        result.timings["run_s"] = round(stats.wall_s, 4)
        result.calls_made = stats.calls - stats.cache_hits
        result.cache_hits = stats.cache_hits
        if result.n_results and result.n_results == result.n_errored:
            result.exit_code = EXIT_RUNTIME
        return result

    def _reports(
        self, result: EvalResult, plan: _Plan, fmts: list[str], report_dir: str | Path | None
    ) -> None:
        from llmops.reports import write_reports

        out = Path(report_dir) if report_dir else self.project.reports_dir
        versions = {pv.ref: pv for pv, _ in plan.versions}
        written = write_reports(result, out / result.run_id, fmts, versions, self.project)
        result.report_dir = str(written)

    def _execute(
        self, store: Store, run_id: str, runner: Runner, provider: Any, scorers: list[Any]
    ) -> RunStats:
        async def go() -> RunStats:
            try:
                return await runner.run()
            finally:
                await provider.aclose()
                for s in scorers:
                    close = getattr(s, "aclose", None)
                    if close is not None:
                        await close()

        try:
            stats = asyncio.run(go())
        except BaseException:
            store.finish_run(run_id, "interrupted")
            self.progress.finish()
            raise
        store.finish_run(run_id, "finished")
        self.progress.finish()
        return stats

    # --- planning ---------------------------------------------------------------------

    def _plan(
        self,
        registry: Registry,
        suite_name: str,
        suite: SuiteConfig,
        prompts: list[str],
        baseline: str | None,
        store: Store,
        resume: str | None,
    ) -> _Plan:
        warnings: list[str] = []
        if resume:
            versions = []
            for v in store.variants(resume):
                pv = registry.get(v["prompt"], v["version"])
                if pv.digest != v["digest"]:
                    raise PromptError(
                        f"{pv.ref} changed since run {resume} started (digest "
                        f"{v['digest'][:12]} -> {pv.digest[:12]})",
                        file=pv.path,
                        hint="start a new run instead of resuming",
                    )
                versions.append((pv, v["role"]))
        else:
            versions = select_versions(registry, suite, prompts, baseline, warnings)
        evalset = load_evalset(self.project.path(suite.evalset))
        if resume:
            run = store.run(resume)
            if run.meta["evalset_digest"] != evalset.digest:
                raise UserError(
                    f"the eval set changed since run {resume} started",
                    file=evalset.path,
                    hint="start a new run instead of resuming",
                )
        rag: dict[str, PromptVersion] = {}
        for pv, _ in versions:
            evalset.check_variables(pv.variables, pv.ref)
            if pv.rag is not None:
                rag[pv.ref] = registry.resolve(pv.rag)
            check_renders(pv, evalset)
        return _Plan(suite_name, suite, evalset, versions, rag, warnings)

    def _check_rag(self, plan: _Plan, require_fresh: bool) -> None:
        if not plan.rag:
            return
        from llmops import rag as rag_api

        for ref, rag_version in plan.rag.items():
            report = rag_api.check_freshness(self.project, rag_version)
            if getattr(report, "fresh", True):
                continue
            message = (
                f"{ref}: the index of {rag_version.ref} is stale "
                f"(run `llmops index sync {rag_version.ref}`)"
            )
            if require_fresh:
                raise StaleIndexError(message)
            plan.warnings.append(message)
            self.progress.warn(message)

    def _provider(self, concurrency: int | None, no_cache: bool) -> Any:
        from llmops.providers import make_provider

        config = self.project.config.provider
        if concurrency:
            config = config.model_copy(update={"max_concurrency": concurrency})
        return make_provider(
            config,
            cache_path=self.project.state_dir / "cache.db",
            no_cache=no_cache,
            root=self.project.root,
        )

    def _new_run(
        self, store: Store, run_id: str, plan: _Plan, repeat: int, provider: Any
    ) -> list[Variant]:
        base = next((pv.ref for pv, role in plan.versions if role == "baseline"), None)
        git_commit, git_dirty = git_state(self.project.root)
        from llmops import __version__

        store.create_run(
            run_id, plan.suite_name,
            git_commit=git_commit, git_dirty=git_dirty,
            config_digest=config_digest(self.project), package_version=__version__,
            evalset_path=str(plan.evalset.path), evalset_digest=plan.evalset.digest,
            n_cases=len(plan.evalset.cases), repeat=repeat, baseline=base,
        )
        model = self.project.config.provider.model or getattr(provider, "default_model", None)
        variants = []
        for pv, role in plan.versions:
            vid = store.add_variant(
                run_id, prompt=pv.name, version=pv.version, digest=pv.digest,
                model=str(pv.params.get("model") or model or provider.identity), params=pv.params,
                provider=provider.identity, role=role,
            )
            variants.append(Variant(vid, pv, dict(pv.params), role, plan.rag.get(pv.ref)))
        return variants

    def _stored_variants(self, store: Store, run_id: str, plan: _Plan) -> list[Variant]:
        by_ref = {pv.ref: (pv, role) for pv, role in plan.versions}
        out = []
        for v in store.variants(run_id):
            pv, role = by_ref[f"{v['prompt']}@{v['version']}"]
            out.append(Variant(v["variant_id"], pv, dict(v["params"]), role, plan.rag.get(pv.ref)))
        return out


def _prior_run(store: Store, resume: str | None) -> Any:
    """The run to resume (None for a new run); refused while its process still runs."""
    if not resume:
        return None
    prior = store.run(resume)
    if prior.status == "running":
        raise UserError(
            f"run {resume} is still running (pid {prior.meta['pid']})",
            hint="wait for it, or stop it first",
        )
    return prior


def _check_formats(formats: Sequence[str] | None) -> list[str]:
    out = []
    for f in formats or ():
        f = f.strip().lower()
        if f == "markdown":
            f = "md"
        if f not in ALL_FORMATS:
            raise UserError(f"unknown report format {f!r}", hint=f"use {', '.join(ALL_FORMATS)}")
        if f not in out:
            out.append(f)
    return out
