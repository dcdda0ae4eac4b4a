"""``evaluate()``: run a suite, score it, compare with the baseline, apply the gate.

Everything the user can get wrong (suite, prompt references, eval set, variables,
scorer options, gate, API key) is checked before the first model call and before
anything is written: :meth:`llmops.eval.preflight.Preflight.prepare` checks a suite without
opening the results store for writing or building anything that keeps a cache, and
:func:`evaluate_suites` prepares every selected suite before running the first. The
returned :class:`EvalResult` carries DESIGN.md's stable JSON fields; the CLI only
renders it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops._credentials import mask_credentials_in
from llmops.errors import (
    EXIT_FAILED,
    EXIT_RUNTIME,
    LlmopsError,
    PromptError,
    RunStopped,
    UserError,
)
from llmops.eval.options import EvalOptions, Progress
from llmops.eval.plan import (
    Planned,
    SuitePlan,
    baseline_record,
    config_digest,
    git_state,
    new_run_id,
    relative,
)
from llmops.eval.preflight import Preflight, Prepared, UncachedContext, check_stored_baseline
from llmops.eval.runner import (
    Runner,
    RunStats,
    ScorerSlot,
    TimeBudget,
    Variant,
    scorer_slots,
)
from llmops.eval.targets import sweep_killed_runs
from llmops.eval.warmup import AfterTheCalls
from llmops.scorers.base import ScorerContext
from llmops.store import CaseRecord, ResultsStore, open_store

if TYPE_CHECKING:
    from llmops.eval.result import EvalResult
    from llmops.project import Project, ProviderConfig
    from llmops.providers import Provider, RateStatus

__all__ = ["EvalOptions", "EvalResult", "Progress", "StaleIndexError", "evaluate",
           "evaluate_suites"]


def __getattr__(name: str) -> Any:
    if name == "EvalResult":  # loaded with the statistics, after the calls
        from llmops.eval.result import EvalResult

        return EvalResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class StaleIndexError(LlmopsError):
    """``--require-fresh`` and a RAG index no longer matches its sources: exit 1."""

    exit_code = EXIT_FAILED


SUITE_SEPARATOR_CHARS = 64  # room left per suite for what joins their summaries


class _NoProgress:
    """Progress nobody watches."""

    def start(self, suite: str, run_id: str, total: int, done: int) -> None: ...

    def advance(self, variant: str, ok: bool, cached: bool) -> None: ...

    def finish(self) -> None: ...

    def warn(self, message: str) -> None: ...

    def judged(self, scorer: str, ok: bool) -> None: ...

    def watch(self, rate_status: Callable[[], RateStatus | None]) -> None: ...


def evaluate(
    project: Project | str | Path | None = None,
    suite: str | None = None,
    options: EvalOptions | None = None,
    *,
    progress: Progress | None = None,
    prompts: Sequence[str] = (),
    baseline: str | None = None,
    repeat: int = 1,
    concurrency: int | None = None,
    no_cache: bool = False,
    resume: str | None = None,
    report_dir: str | Path | None = None,
    formats: Sequence[str] | None = None,
    require_fresh: bool = False,
    reuse: bool = True,
    max_time_s: float | None = None,
) -> EvalResult:
    """Evaluate one suite and return its typed result.

    Args:
        project: a loaded project or its directory (None: the cwd or a parent).
        suite: the suite's name; may be omitted when the project has one suite. With
            ``resume``, the run's suite (another suite is refused).
        options: the run's options as one :class:`EvalOptions`; when given, the keyword
            options below are not read.
        progress: receives progress events.
        prompts, baseline, repeat, concurrency, no_cache, resume, report_dir, formats,
            require_fresh, reuse, max_time_s: the fields of :class:`EvalOptions`, for callers who
            prefer keywords.

    Returns:
        The :class:`EvalResult`; ``exit_code`` says 0 (pass), 1 (gate failed) or 3
        (every call failed, or a scorer could score no case).

    Raises:
        UserError: anything wrong with the inputs, before any model call and before
            anything is written.
        RunStopped: the run stopped early (``max_time_s`` ran out, or the endpoint
            answered only 429s for ``rate_limit.max_wait_s``); finished results are
            stored and ``resume`` carries on.
    """
    from llmops.project import as_project

    if options is None:
        options = EvalOptions(
            prompts=tuple(prompts), baseline=baseline, repeat=repeat, concurrency=concurrency,
            no_cache=no_cache, resume=resume,
            report_dir=None if report_dir is None else Path(report_dir),
            formats=None if formats is None else tuple(formats),
            require_fresh=require_fresh, reuse=reuse, max_time_s=max_time_s,
        )
    proj = as_project(project)
    if suite is None and options.resume is None:
        names = sorted(proj.config.suites)
        if len(names) != 1:
            raise UserError(
                "name a suite" if names else "the project defines no suites",
                file=proj.config_path,
                hint=f"suites: {', '.join(names)}" if names else "add one under `suites:`",
            )
        suite = names[0]
    evaluation = _Evaluation(proj, progress or _NoProgress(), _budget(options))
    prepared = Preflight(proj).prepare(suite, options)
    evaluation.check_rag(prepared)
    return evaluation.execute(prepared)


def evaluate_suites(
    project: Project | str | Path | None = None,
    suites: Sequence[str] = (),
    options: EvalOptions | None = None,
    *,
    progress: Progress | None = None,
) -> list[EvalResult]:
    """Evaluate several suites (default: every suite); ``options.prompts`` go to matching suites.

    Every suite is checked before the first one runs: a mistake in any of them is a
    :class:`UserError` before any model call and before anything is written.
    """
    from llmops.project import as_project

    proj = as_project(project)
    options = options or EvalOptions()
    budget = _budget(options)
    names = list(suites) or sorted(proj.config.suites)
    if not names:
        raise UserError("the project defines no suites", file=proj.config_path)
    for name in names:
        proj.suite(name)
    by_suite: dict[str, list[str]] = {n: [] for n in names}
    for ref in options.prompts:
        prompt_name = ref.partition("@")[0]
        matching = [n for n in names if proj.config.suites[n].prompt == prompt_name]
        if not matching and len(names) == 1:
            matching = names
        if not matching:
            raise PromptError(f"--prompt {ref}: no suite evaluates prompt {prompt_name!r}")
        for n in matching:
            by_suite[n].append(ref)
    evaluation = _Evaluation(proj, progress or _NoProgress(), budget)
    preflight = Preflight(proj)
    # The summaries of several suites are joined into one comment: they share its room.
    share = options.summary_chars // len(names) - (SUITE_SEPARATOR_CHARS if len(names) > 1 else 0)
    prepared = [preflight.prepare(n, options.but(prompts=tuple(by_suite[n]),
                                                 summary_chars=share)) for n in names]
    if not suites:
        _check_every_moved_label_compared(prepared)
    for p in prepared:
        evaluation.check_rag(p)
    return [evaluation.execute(p) for p in prepared]


def _budget(options: EvalOptions) -> TimeBudget | None:
    """The run's time budget, counted from now (the checks before the first call count)."""
    return None if options.max_time_s is None else TimeBudget.starting_now(options.max_time_s)


def _check_every_moved_label_compared(prepared: list[Prepared]) -> None:
    """A label that moved on a prompt no suite evaluates is an error, never a pass."""
    evaluated = {p.plan.suite.prompt for p in prepared}
    for p in prepared:
        for m in p.plan.moved:
            if m.prompt not in evaluated:
                raise UserError(
                    f"{m} moved against the baseline, but no suite evaluates {m.prompt}",
                    hint=f"add a suite for {m.prompt} to llmops.yaml",
                )


class _Evaluation:
    """Runs prepared suites: the store is opened and the model called only here."""

    def __init__(
        self, project: Project, progress: Progress, budget: TimeBudget | None = None
    ) -> None:
        self.project = project
        self.progress = progress
        self.budget = budget

    # --- the last check: it may write, so it comes after every preflight -------------

    def check_rag(self, prepared: Prepared) -> None:
        """RAG indexes' freshness (after every other check: it may write a digest cache)."""
        self._check_rag(prepared.plan, prepared.options.require_fresh)

    def _check_rag(self, plan: SuitePlan, require_fresh: bool) -> None:
        if not any(p.rag is not None for p in plan.versions):
            return
        from llmops import rag as rag_api

        checked: set[str] = set()
        for p in plan.versions:
            rag_version = p.rag
            if rag_version is None or rag_version.digest in checked:
                continue
            checked.add(rag_version.digest)
            ref = p.label
            report = rag_api.check_freshness(self.project, rag_version)
            if getattr(report, "fresh", True):
                continue
            if not getattr(report, "built", True) and not require_fresh:
                # Never built: retrieval builds it on first use, so it will be fresh.
                self.progress.warn(f"{ref}: the index of {rag_version.ref} is not built yet; "
                                   "building it before the first retrieval")
                continue
            message = (
                f"{ref}: the index of {rag_version.ref} is stale "
                f"(run `llmops index sync {rag_version.ref}`)"
            )
            if require_fresh:
                raise StaleIndexError(message)
            plan.warnings.append(message)
            self.progress.warn(message)

    # --- the run ----------------------------------------------------------------------

    def _on_judged(self, scorer: str, ok: bool) -> None:
        judged = getattr(self.progress, "judged", None)  # a Progress written before judged()
        if judged is not None:
            judged(scorer, ok)

    def execute(self, prepared: Prepared) -> EvalResult:
        """Run a prepared suite: the store is opened and the model called only now."""
        from llmops.scorers import build_scorers

        started = time.perf_counter()
        if self.budget is not None and not self.budget.left():
            stopped = self.budget.spent()  # earlier suites used it up: start no new run
            stopped.hint = f"suite {prepared.plan.suite_name} was not started"
            raise stopped
        plan, prior, options = prepared.plan, prepared.prior, prepared.options
        repeat = options.repeat
        suite_name, suite = plan.suite_name, plan.suite
        caches = self._caches(prepared)
        store = open_store(self.project.store)
        try:
            ctx = (ScorerContext if caches else UncachedContext)(
                self.project, options.no_cache, evalset=plan.evalset.path,
                extras={"judge_config": self.project.judge_for(suite),
                        "on_judged": self._on_judged})
            scorers = build_scorers(suite.scorers, ctx)
            slots = scorer_slots(scorers)
            check_stored_baseline(store, plan, slots)
            endpoint = self.project.provider_for(suite)
            provider = self._provider(endpoint, options.concurrency, options.no_cache, caches)
            if prior is not None:
                run_id = prior.run_id
                store.claim_run(run_id)
                variants = self._stored_variants(store, run_id, plan)
            else:
                run_id = new_run_id()
                variants = self._new_run(
                    store, run_id, plan, repeat, provider, slots, options.reuse
                )
            # What comes after the last answer loads while the calls wait for answers.
            loading = AfterTheCalls(options.formats or ())

            def on_result(v: Variant, ok: bool, cached: bool) -> None:
                loading.start()
                self.progress.advance(v.label, ok, cached)

            runner = Runner(
                self.project, store, run_id, provider, plan.evalset, variants, slots,
                repeat=repeat,
                concurrency=options.concurrency or endpoint.max_concurrency,
                query_template=suite.query,
                on_result=on_result,
                budget=self.budget,
            )
            total = len(plan.evalset.cases) * len(variants) * repeat
            self.progress.start(suite_name, run_id, total, len(store.done_keys(run_id)))
            self.progress.watch(provider.rate_status)
            stats = self._execute(store, run_id, runner, provider, scorers)
            loading.join()  # done by now unless the calls were quicker than loading
            from llmops.eval.result import agreement

            result = self._result(store, run_id, plan, variants, [s.key for s in slots], stats)
            store.record_verdict(run_id, result.verdict())
            result.agreement = agreement(result, plan.evalset.cases, slots)
            if options.formats:
                self._reports(result, plan, options)
            result.timings["total_s"] = round(
                prepared.checked_s + time.perf_counter() - started, 4
            )
            return result
        finally:
            store.close()

    def _caches(self, prepared: Prepared) -> bool:
        """Sweep what killed runs left; whether the caches can be used (warned if not)."""
        sweep_killed_runs(self.project, prepared.options)
        problem = prepared.targets.cache_problem
        if problem is not None:
            prepared.plan.warnings.append(problem)
            self.progress.warn(problem)
        return prepared.targets.caches_writable

    def _result(
        self, store: ResultsStore, run_id: str, plan: SuitePlan, variants: list[Variant],
        keys: list[str], stats: RunStats,
    ) -> EvalResult:
        from llmops.eval.result import build_result, unscorable

        result = build_result(
            store, run_id, plan.evalset, variants, keys, plan.suite.gate, plan.warnings,
            stored_baseline=plan.stored_baseline,
        )
        result.evalset["path"] = relative(plan.evalset.path, self.project.root)
        result.timings["run_s"] = round(stats.wall_s, 4)
        result.calls_made = stats.calls - stats.cache_hits
        result.cache_hits = stats.cache_hits
        if result.n_results and result.n_results == result.n_errored:
            result.exit_code = EXIT_RUNTIME
        for key, error in unscorable(result, keys):
            message = f"scorer {key!r} could not score any case"
            result.warnings.append(f"{message} (it failed on every one: {error})")
            # No scores is no evidence the change is fine: the gate does not pass.
            result.gate.fail(message)
            result.exit_code = EXIT_RUNTIME
        return result

    def _reports(self, result: EvalResult, plan: SuitePlan, options: EvalOptions) -> None:
        from llmops.reports import write_reports

        out = Path(options.report_dir) if options.report_dir else self.project.reports_dir
        # Keyed by the labels comparisons use, so a baseline from git or a stored run
        # is told apart from a working-tree version of the same name.
        versions = {p.label: p.version for p in plan.versions}
        stored = plan.stored_baseline
        if stored is not None and stored.prompt_version is not None:
            versions[stored.label] = stored.prompt_version
        written = write_reports(result, out / result.run_id, list(options.formats or ()),
                                versions, self.project, summary_chars=options.summary_chars)
        result.report_dir = str(written)

    def _execute(
        self, store: ResultsStore, run_id: str, runner: Runner, provider: Provider,
        scorers: list[Any],
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
        except RunStopped as exc:
            store.finish_run(run_id, "interrupted")
            self.progress.finish()
            done = len(store.done_keys(run_id))
            exc.hint = f"{done} results kept; finish with `llmops eval --resume {run_id}`"
            raise
        except BaseException:
            store.finish_run(run_id, "interrupted")
            self.progress.finish()
            raise
        store.finish_run(run_id, "finished")
        self.progress.finish()
        return stats

    def _provider(
        self, config: ProviderConfig, concurrency: int | None, no_cache: bool, cached: bool
    ) -> Provider:
        from llmops.providers import make_provider

        if concurrency:
            config = config.model_copy(update={"max_concurrency": concurrency})
        return make_provider(
            config,
            cache_path=self.project.state_dir / "cache.db" if cached else None,
            no_cache=no_cache,
            root=self.project.root,
        )

    def _new_run(
        self,
        store: ResultsStore,
        run_id: str,
        plan: SuitePlan,
        repeat: int,
        provider: Provider,
        slots: list[ScorerSlot],
        reuse: bool,
    ) -> list[Variant]:
        git_commit, git_dirty = git_state(self.project.root)
        from llmops import __version__

        store.create_run(
            run_id, plan.suite_name,
            git_commit=git_commit, git_dirty=git_dirty,
            config_digest=config_digest(self.project), package_version=__version__,
            evalset_path=str(plan.evalset.path), evalset_digest=plan.evalset.digest,
            n_cases=len(plan.evalset.cases), repeat=repeat,
            baseline=baseline_record(plan.baseline),
        )
        # A case's input may hold a key (a log sampled into the eval set): stored masked.
        store.add_cases([
            CaseRecord(case_digest=c.digest, case_id=c.id, vars=mask_credentials_in(dict(c.vars)),
                       expected=mask_credentials_in(c.expected),
                       contexts=mask_credentials_in(list(c.contexts)),
                       rubric=mask_credentials_in(c.rubric), tags=list(c.tags),
                       human_score=c.human_score)
            for c in plan.evalset.cases
        ])
        model = provider.default_model
        defaults = provider.default_params
        taken = {p.version.ref for p in plan.versions if p.origin is None}
        # The baseline's stored results stand in only when it is there to be compared
        # with: a run of the baseline alone is a fresh evaluation of it (e.g. nightly).
        reuse = reuse and any(p.role == "candidate" for p in plan.versions)
        variants = []
        for p in plan.versions:
            pv = p.version
            # A baseline from git may share its name@version with a candidate in the
            # working tree (an unlocked version being edited): store it under its origin.
            version = pv.version
            if p.origin is not None and pv.ref in taken:
                version = f"{pv.version} ({p.origin})"
            variant_model = str(pv.params.get("model") or model or provider.identity)
            # What the model receives: the provider's default params, then the prompt's.
            params = {k: v for k, v in {**defaults, **pv.params}.items() if not k.startswith("_")}
            vid = store.add_variant(
                run_id, prompt=pv.name, version=version, digest=pv.digest,
                model=variant_model, params=params, provider=provider.identity,
                role=p.role, origin=p.origin,
            )
            variants.append(Variant(vid, pv, dict(pv.params), p.role, p.rag, p.origin))
            if reuse and p.role == "baseline" and p.rag is None:
                self._reuse(store, run_id, vid, p, plan, variant_model, params, provider, slots,
                            repeat)
        return variants

    def _reuse(
        self, store: ResultsStore, run_id: str, variant_id: int, planned: Planned, plan: SuitePlan,
        model: str, params: dict[str, Any], provider: Provider, slots: list[ScorerSlot],
        repeat: int,
    ) -> None:
        """Copy the baseline's results from a stored run of the same variant, if there is one.

        Same prompt digest, eval set digest, model, params and endpoint, every result of
        every repeat without an error. RAG prompts are not reused: their answers depend
        on the index's contents, which the digest does not cover.
        """
        pv = planned.version
        found = store.find_reusable(
            digest=pv.digest, evalset_digest=plan.evalset.digest, model=model,
            params=params, n_results=len(plan.evalset.cases) * repeat,
            provider=provider.identity, exclude_run=run_id, repeat=repeat,
        )
        if found is None:
            return
        store.copy_results(
            found, run_id=run_id, variant_id=variant_id, repeat=repeat,
            scorers={s.key: (s.scorer.version, s.scorer.args) for s in slots},
        )
        store.set_reused_from(variant_id, found.run_id)

    def _stored_variants(self, store: ResultsStore, run_id: str, plan: SuitePlan) -> list[Variant]:
        return [
            Variant(v.variant_id, p.version, dict(v.params), p.role, p.rag, p.origin)
            for v, p in zip(store.variants(run_id), plan.versions, strict=True)
        ]
