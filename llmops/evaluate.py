"""``evaluate()``: run a suite, score it, compare with the baseline, apply the gate.

Everything the user can get wrong (suite, prompt references, eval set, variables,
scorer options, gate, API key) is checked before the first model call and before
anything is written: :meth:`_Evaluation.prepare` checks a suite without opening the
results store for writing or building anything that keeps a cache, and
:func:`evaluate_suites` prepares every selected suite before running the first. The
returned :class:`EvalResult` carries DESIGN.md's stable JSON fields; the CLI only
renders it.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import (
    EXIT_FAILED,
    EXIT_RUNTIME,
    ConfigError,
    LlmopsError,
    PromptError,
    UserError,
)
from llmops.eval_plan import (
    Planned,
    baseline_record,
    check_locks,
    check_renders,
    config_digest,
    git_state,
    new_run_id,
    plan_baseline,
    relative,
    select_versions,
)
from llmops.eval_result import EvalResult, build_result
from llmops.evalsets import EvalSet, load_evalset
from llmops.gates import unknown_gate_scorers
from llmops.runner import Runner, RunStats, ScorerSlot, Variant, scorer_slots
from llmops.scorers.base import ScorerContext
from llmops.store import Store

if TYPE_CHECKING:
    from llmops.baselines import Baseline
    from llmops.project import Project, SuiteConfig
    from llmops.prompts import PromptVersion
    from llmops.prompts.registry import Registry
    from llmops.store import RunInfo

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
    versions: list[Planned]  # what this run calls: the baseline first, then the candidates
    baseline: Baseline | None  # as resolved; kind "run" is compared from the store
    warnings: list[str]

    @property
    def stored_baseline(self) -> Baseline | None:
        """A ``run:`` baseline: its results are read from the store, not made again."""
        return self.baseline if self.baseline is not None and self.baseline.kind == "run" else None


@dataclass
class _Prepared:
    """A suite that passed the preflight: what its run needs, nothing called or written yet."""

    plan: _Plan
    prior: RunInfo | None  # the run being resumed
    repeat: int
    concurrency: int | None
    no_cache: bool
    reuse: bool
    formats: list[str]
    report_dir: str | Path | None
    require_fresh: bool
    checked_s: float  # time the preflight took


class _UncachedContext(ScorerContext):
    """A scorer context without cache files: the preflight builds scorers to check them only."""

    def cache_path(self, filename: str) -> Path | None:
        return None


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
    reuse: bool = True,
) -> EvalResult:
    """Evaluate one suite and return its typed result.

    Args:
        project: a loaded project or its directory (None: the cwd or a parent).
        suite: the suite's name; may be omitted when the project has one suite. With
            ``resume``, the run's suite (another suite is refused).
        prompts: candidate versions (``NAME@REF``); default: the suite's prompt at
            ``production`` plus every version changed or not locked.
        baseline: what candidates are compared with (default ``production``): a label or
            version of the suite's prompt, ``NAME@REF``, ``git:REF[:LABEL_OR_VERSION]``
            (the prompt as it was at a git ref) or ``run:RUN_ID[:VERSION]`` (a stored
            run's results, compared without calling the model again).
        repeat: calls per case and variant.
        concurrency: calls in flight at once (default: the provider's max_concurrency).
        no_cache: do not answer from the response cache (stored baseline results are
            still reused; see ``reuse``).
        resume: finish this interrupted run instead of starting a new one.
        report_dir: where ``<run_id>/`` reports go (default the project's reports dir).
        formats: report formats among md, json, junit, html; empty or None for none.
        require_fresh: a stale RAG index is a failure (exit 1) instead of a warning.
        progress: receives progress events.
        reuse: copy the baseline's results from a stored run that evaluated the same
            prompt digest on the same eval set with the same model, params and endpoint,
            instead of calling the model for it again.

    Returns:
        The :class:`EvalResult`; ``exit_code`` says 0 (pass), 1 (gate failed) or 3
        (every call failed, or a scorer could score no case).

    Raises:
        UserError: anything wrong with the inputs, before any model call and before
            anything is written.
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
    evaluation = _Evaluation(proj, progress or Progress())
    prepared = evaluation.prepare(
        suite, list(prompts), baseline, repeat, concurrency, no_cache, resume,
        report_dir, formats, require_fresh, reuse,
    )
    evaluation.check_rag(prepared)
    return evaluation.execute(prepared)


def evaluate_suites(
    project: Project | str | Path | None = None,
    suites: Sequence[str] = (),
    prompts: Sequence[str] = (),
    **options: Any,
) -> list[EvalResult]:
    """Evaluate several suites (default: every suite); ``--prompt`` refs go to matching suites.

    Every suite is checked before the first one runs: a mistake in any of them is a
    :class:`UserError` before any model call and before anything is written.
    """
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
    progress = options.pop("progress", None) or Progress()
    evaluation = _Evaluation(proj, progress)
    prepared = [evaluation.prepare(n, by_suite[n], **options) for n in names]
    for p in prepared:
        evaluation.check_rag(p)
    return [evaluation.execute(p) for p in prepared]


class _Evaluation:
    def __init__(self, project: Project, progress: Progress) -> None:
        self.project = project
        self.progress = progress
        self._registry: Registry | None = None
        self._endpoints_checked: set[str] = set()

    # --- preflight: every check, nothing called, nothing written ----------------------

    def prepare(
        self,
        suite_name: str | None,
        prompts: list[str],
        baseline: str | None = None,
        repeat: int = 1,
        concurrency: int | None = None,
        no_cache: bool = False,
        resume: str | None = None,
        report_dir: str | Path | None = None,
        formats: Sequence[str] | None = DEFAULT_FORMATS,
        require_fresh: bool = False,
        reuse: bool = True,
    ) -> _Prepared:
        """Check one suite: prompt refs, eval set, variables, scorers, gate, endpoints.

        The results store is only read, and only when it exists; scorers are built
        without their caches. Raises :class:`UserError` on the first problem found.
        """
        if repeat < 1:
            raise UserError("--repeat must be at least 1")
        if concurrency is not None and concurrency < 1:
            raise UserError("--concurrency must be at least 1")
        started = time.perf_counter()
        fmts = _check_formats(formats)
        registry = self._load_registry()
        self._check_endpoint("provider")
        store = self._existing_store()
        try:
            prior = _prior_run(store, resume, self.project.store_path)
            if prior is not None:
                if suite_name is not None and suite_name != prior.suite:
                    raise UserError(
                        f"run {prior.run_id} is a run of suite {prior.suite!r}, "
                        f"not {suite_name!r}",
                        hint=f"`llmops eval --resume {prior.run_id}` resumes it; "
                        f"`llmops eval {suite_name}` starts a new run",
                    )
                suite_name, repeat = prior.suite, int(prior.meta["repeat"] or 1)
            assert suite_name is not None
            suite = self.project.suite(suite_name)
            self._check_suite_prompt(registry, suite_name, suite)
            plan = self._plan(registry, suite_name, suite, prompts, baseline, store, prior)
        finally:
            if store is not None:
                store.close()
        scorers = self._check_scorers(plan, no_cache)
        self._check_gate(plan, [s.key for s in scorer_slots(scorers)])
        if any(s.name == "rubric" for s in scorers) and self.project.config.judge is not None:
            self._check_endpoint("judge")
        return _Prepared(
            plan, prior, repeat, concurrency, no_cache, reuse, fmts, report_dir, require_fresh,
            time.perf_counter() - started,
        )

    def _load_registry(self) -> Registry:
        from llmops.prompts import load_registry

        if self._registry is None:
            registry = load_registry(self.project)
            check_locks(registry)
            self._registry = registry
        return self._registry

    def _existing_store(self) -> Store | None:
        """The results store, to read runs from; None while it does not exist (no file made)."""
        path = self.project.store_path
        return Store(path) if path.exists() else None

    def _located(
        self, exc: UserError, loc: Sequence[str | int], field: str, keep_field: bool = False
    ) -> UserError:
        """``exc`` again (same class and message), naming llmops.yaml, its line and ``field``."""
        path = self.project.config_path
        line = None
        if path is not None:
            from llmops._yaml import load_yaml

            try:
                line = load_yaml(path).line_of(list(loc))
            except UserError:
                line = None
        message = exc.message
        if keep_field and exc.field:
            message = f"{exc.field}: {message}"
        try:
            located = type(exc)(message, file=path, line=line, field=field, hint=exc.hint)
        except TypeError:  # a plugin's error class with another signature
            located = ConfigError(message, file=path, line=line, field=field, hint=exc.hint)
        return located

    def _check_endpoint(self, key: str) -> None:
        """Build ``provider:`` (or ``judge:``) without a cache: a missing key fails here."""
        if key in self._endpoints_checked:
            return
        from llmops.providers import make_provider

        config = self.project.config.provider if key == "provider" else self.project.judge
        try:
            make_provider(config, cache_path=None, root=self.project.root)
        except UserError as exc:
            parts = (exc.field or "").split(".")
            if parts[0] in ("provider", "judge"):
                parts = parts[1:]
            parts = [p for p in parts if p]
            field = ".".join([key, *parts])
            raise self._located(exc, [key, *parts], field) from None
        self._endpoints_checked.add(key)

    def _check_suite_prompt(self, registry: Registry, suite_name: str, suite: SuiteConfig) -> None:
        if suite.prompt in registry.names():
            return
        known = ", ".join(registry.names()) or "none"
        close = difflib.get_close_matches(suite.prompt, registry.names(), n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise self._located(
            PromptError(f"unknown prompt {suite.prompt!r}", hint=f"{hint}known prompts: {known}"),
            ["suites", suite_name, "prompt"],
            f"suites.{suite_name}.prompt",
        )

    def _check_scorers(self, plan: _Plan, no_cache: bool) -> list[Any]:
        """Build the suite's scorers (without caches) and let each validate the cases."""
        from llmops.scorers import build_scorers

        name = plan.suite_name
        ctx = _UncachedContext(self.project, no_cache, evalset=plan.evalset.path)
        scorers: list[Any] = []
        for index, entry in enumerate(plan.suite.scorers):
            try:
                scorers.extend(build_scorers([entry], ctx))
            except UserError as exc:
                if exc.file is not None:  # already names its file (a judge prompt, a model)
                    raise
                raise self._located(
                    exc, ["suites", name, "scorers", index], f"suites.{name}.scorers[{index}]",
                    keep_field=True,
                ) from None
        for s in scorers:
            s.validate(plan.evalset.cases)
        return scorers

    def _check_gate(self, plan: _Plan, keys: list[str]) -> None:
        """A ``min_mean`` floor must name a scorer the suite runs."""
        name = plan.suite_name
        for bad in unknown_gate_scorers(plan.suite.gate, keys):
            close = difflib.get_close_matches(bad, keys, n=1)
            hint = f"did you mean {close[0]!r}? " if close else ""
            raise self._located(
                ConfigError(
                    f"no scorer {bad!r} in this suite",
                    hint=f"{hint}the suite's scorers: {', '.join(keys) or 'none'}",
                ),
                ["suites", name, "gate", "min_mean", bad],
                f"suites.{name}.gate.min_mean.{bad}",
            )

    def check_rag(self, prepared: _Prepared) -> None:
        """RAG indexes' freshness (after every other check: it may write a digest cache)."""
        self._check_rag(prepared.plan, prepared.require_fresh)

    # --- the run ----------------------------------------------------------------------

    def execute(self, prepared: _Prepared) -> EvalResult:
        """Run a prepared suite: the store is opened and the model called only now."""
        from llmops.scorers import build_scorers

        started = time.perf_counter()
        plan, prior, repeat = prepared.plan, prepared.prior, prepared.repeat
        suite_name, suite = plan.suite_name, plan.suite
        store = Store(self.project.store_path)
        try:
            ctx = ScorerContext(self.project, prepared.no_cache, evalset=plan.evalset.path)
            scorers = build_scorers(suite.scorers, ctx)
            slots = scorer_slots(scorers)
            self._check_stored_baseline(store, plan, slots)
            provider = self._provider(prepared.concurrency, prepared.no_cache)
            if prior is not None:
                run_id = prior.run_id
                store.claim_run(run_id)
                variants = self._stored_variants(store, run_id, plan)
            else:
                run_id = new_run_id()
                variants = self._new_run(
                    store, run_id, plan, repeat, provider, slots, prepared.reuse
                )
            runner = Runner(
                self.project, store, run_id, provider, plan.evalset, variants, slots,
                repeat=repeat,
                concurrency=prepared.concurrency or self.project.config.provider.max_concurrency,
                query_template=suite.query,
                on_result=lambda v, ok, cached: self.progress.advance(v.label, ok, cached),
            )
            total = len(plan.evalset.cases) * len(variants) * repeat
            self.progress.start(suite_name, run_id, total, len(store.done_keys(run_id)))
            stats = self._execute(store, run_id, runner, provider, scorers)
            result = self._result(store, run_id, plan, variants, [s.key for s in slots], stats)
            result.agreement = _agreement(result, plan.evalset.cases, slots)
            if prepared.formats:
                self._reports(result, plan, prepared.formats, prepared.report_dir)
            result.timings["total_s"] = round(
                prepared.checked_s + time.perf_counter() - started, 4
            )
            return result
        finally:
            store.close()

    def _result(
        self, store: Store, run_id: str, plan: _Plan, variants: list[Variant], keys: list[str],
        stats: RunStats,
    ) -> EvalResult:
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
        for key, error in _unscorable(result, keys):
            message = f"scorer {key!r} could not score any case"
            result.warnings.append(f"{message} (it failed on every one: {error})")
            # No scores is no evidence the change is fine: the gate does not pass.
            result.gate.fail(message)
            result.exit_code = EXIT_RUNTIME
        return result

    def _reports(
        self, result: EvalResult, plan: _Plan, fmts: list[str], report_dir: str | Path | None
    ) -> None:
        from llmops.reports import write_reports

        out = Path(report_dir) if report_dir else self.project.reports_dir
        # Keyed by the labels comparisons use, so a baseline from git or a stored run
        # is told apart from a working-tree version of the same name.
        versions = {p.label: p.version for p in plan.versions}
        stored = plan.stored_baseline
        if stored is not None and stored.prompt_version is not None:
            versions[stored.label] = stored.prompt_version
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
        store: Store | None,
        prior: RunInfo | None,
    ) -> _Plan:
        warnings: list[str] = []
        if prior is not None:
            assert store is not None  # a run to resume was read from it
            base, versions = self._resumed_versions(registry, suite, store, prior)
        else:
            base = plan_baseline(self.project, registry, suite, baseline, prompts, store, warnings)
            versions = select_versions(registry, suite, prompts, base)
            if not versions:
                assert base is not None
                raise UserError(
                    f"nothing to evaluate against {base.label}: no candidate version",
                    hint="name one with --prompt NAME@VERSION",
                )
        evalset = load_evalset(self.project.path(suite.evalset))
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
                p.rag = self._rag_of(registry, p)
            check_renders(pv, evalset)
        return _Plan(suite_name, suite, evalset, versions, base, warnings)

    def _rag_of(self, registry: Registry, planned: Planned) -> PromptVersion:
        """The RAG config a prompt refers to; a git baseline's as it was at that ref."""
        pv = planned.version
        assert pv.rag is not None
        if planned.origin is not None and planned.origin.startswith("git:"):
            from llmops.baselines import version_at_git_ref

            return version_at_git_ref(self.project, planned.origin[4:], pv.rag)
        return registry.resolve(pv.rag)

    def _resumed_versions(
        self, registry: Registry, suite: SuiteConfig, store: Store, prior: RunInfo
    ) -> tuple[Baseline | None, list[Planned]]:
        """The variants of the run being resumed, in store order; refused if one changed."""
        from llmops.baselines import resolve_baseline

        spec = prior.meta.get("baseline")
        base = None
        if spec and str(spec).startswith(("git:", "run:")):
            base = resolve_baseline(self.project, str(spec), suite.prompt, store=store,
                                    registry=registry)
        versions = []
        for v in store.variants(prior.run_id):
            if v["role"] == "baseline" and base is not None and base.kind == "git":
                assert base.prompt_version is not None
                pv, origin = base.prompt_version, f"git:{base.git_ref}"
            else:
                pv, origin = registry.get(v["prompt"], v["version"]), None
            if pv.digest != v["digest"]:
                raise PromptError(
                    f"{pv.ref} changed since run {prior.run_id} started (digest "
                    f"{v['digest'][:12]} -> {pv.digest[:12]})",
                    file=pv.path,
                    hint="start a new run instead of resuming",
                )
            versions.append(Planned(pv, v["role"], origin))
        return base, versions

    def _check_stored_baseline(self, store: Store, plan: _Plan, slots: list[ScorerSlot]) -> None:
        """Say when a ``run:`` baseline was made on another eval set or with other scorers."""
        base = plan.stored_baseline
        if base is None or base.run_id is None or base.variant_id is None:
            return
        run = store.run(base.run_id)
        if run.meta.get("evalset_digest") != plan.evalset.digest:
            plan.warnings.append(
                f"the baseline run {base.run_id} used another version of the eval set: "
                "compared on the cases both have"
            )
        stored = {
            row["scorer"]: (row["scorer_version"], json.loads(row["args"] or "{}"))
            for row in store.db.execute(
                "select s.scorer, s.scorer_version, s.args from scores s join results r"
                " on r.result_id = s.result_id where r.variant_id = ? group by s.scorer",
                (base.variant_id,),
            )
        }
        for slot in slots:
            now = (slot.scorer.version, json.loads(json.dumps(slot.scorer.args, sort_keys=True,
                                                              default=str)))
            if slot.key not in stored:
                plan.warnings.append(
                    f"the baseline run {base.run_id} has no {slot.key} scores: "
                    f"{slot.key} is not compared"
                )
            elif stored[slot.key] != now:
                plan.warnings.append(
                    f"the baseline run {base.run_id} scored {slot.key} with another version "
                    "or options of the scorer"
                )

    def _check_rag(self, plan: _Plan, require_fresh: bool) -> None:
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
        self,
        store: Store,
        run_id: str,
        plan: _Plan,
        repeat: int,
        provider: Any,
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
        model = self.project.config.provider.model or getattr(provider, "default_model", None)
        defaults = self.project.config.provider.params
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
        self, store: Store, run_id: str, variant_id: int, planned: Planned, plan: _Plan,
        model: str, params: dict[str, Any], provider: Any, slots: list[ScorerSlot], repeat: int,
    ) -> None:
        """Copy the baseline's results from a stored run of the same variant, if there is one.

        Same prompt digest, eval set digest, model, params and endpoint, every result of
        every repeat without an error. RAG prompts are not reused: their answers depend
        on the index's contents, which the digest does not cover.
        """
        from llmops.baselines import find_reusable, reuse_results

        pv = planned.version
        found = find_reusable(
            store, digest=pv.digest, evalset_digest=plan.evalset.digest, model=model,
            params=params, n_results=len(plan.evalset.cases) * repeat,
            provider=provider.identity, exclude_run=run_id, repeat=repeat,
        )
        if found is None:
            return
        reuse_results(
            store, found, run_id=run_id, variant_id=variant_id, repeat=repeat,
            scorers={s.key: (s.scorer.version, s.scorer.args) for s in slots},
        )
        store.set_reused_from(variant_id, found.run_id)

    def _stored_variants(self, store: Store, run_id: str, plan: _Plan) -> list[Variant]:
        return [
            Variant(v["variant_id"], p.version, dict(v["params"]), p.role, p.rag, p.origin)
            for v, p in zip(store.variants(run_id), plan.versions, strict=True)
        ]


def _unscorable(result: EvalResult, keys: Sequence[str]) -> list[tuple[str, str]]:
    """Scorers that errored on every case they were given (e.g. the judge is down), each
    with its first error message."""
    out = []
    for key in keys:
        summaries = [v.summary.scores[key] for v in result.variants if key in v.summary.scores]
        errors = sum(s.n_errors for s in summaries)
        if errors and not sum(s.n for s in summaries):
            first = next(
                (c.scores[key].error for v in result.variants for c in v.cases
                 if key in c.scores and c.scores[key].error),
                None,
            )
            out.append((key, first or "no score"))
    return out


def _agreement(
    result: EvalResult, cases: Sequence[Any], slots: Sequence[ScorerSlot]
) -> dict[str, dict[str, dict[str, Any]]]:
    """How each thresholded scorer agrees with the cases' ``human_score`` labels."""
    from llmops.scorers import judge_agreement

    human = {c.id: c.human_score for c in cases if c.human_score is not None}
    if not human:
        return {}
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for v in result.variants:
        for slot in slots:
            threshold = getattr(slot.scorer, "threshold", None)
            if threshold is None:
                continue
            values: dict[str, list[float]] = {}
            for c in v.cases:
                score = c.scores.get(slot.key)
                if score is not None and score.value is not None:
                    values.setdefault(c.id, []).append(score.value)
            means = {k: sum(xs) / len(xs) for k, xs in values.items()}
            out.setdefault(v.label, {})[slot.key] = judge_agreement(means, human, threshold)
    return out


def _prior_run(store: Store | None, resume: str | None, store_path: Path) -> Any:
    """The run to resume (None for a new run); refused while its process still runs."""
    if not resume:
        return None
    if store is None:  # no store yet, so no runs
        raise UserError(f"no run {resume!r} in the store", file=store_path,
                        hint="see `llmops runs list`")
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
