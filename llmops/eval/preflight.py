"""The preflight: everything the user can get wrong, checked before any call or write.

Suite, prompt references, eval set, variables, scorer options, gate, API keys and the
run to resume are checked by :meth:`Preflight.prepare` without opening the results
store for writing or building anything that keeps a cache; it returns the
:class:`Prepared` suite that :mod:`llmops.eval.run` runs. :func:`check_stored_baseline`
reads the store when the run starts, before the first call, and only warns.
"""

from __future__ import annotations

import difflib
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import ConfigError, PromptError, UserError
from llmops.eval.gate import unknown_gate_scorers
from llmops.eval.options import EvalOptions
from llmops.eval.plan import SuitePlan, check_locks, plan_suite
from llmops.eval.runner import ScorerSlot, scorer_slots
from llmops.eval.targets import WriteTargets, check_write_targets
from llmops.scorers.base import ScorerContext
from llmops.store import ResultsStore, open_store
from llmops.store.sql import canonical

if TYPE_CHECKING:
    from llmops.project import Project, SuiteConfig
    from llmops.prompts.registry import Registry
    from llmops.store import RunInfo

@dataclass
class Prepared:
    """A suite that passed the preflight: what its run needs, nothing called or written yet."""

    plan: SuitePlan
    prior: RunInfo | None  # the run being resumed
    options: EvalOptions  # checked; a resumed run's repeat
    checked_s: float  # time the preflight took
    targets: WriteTargets = field(default_factory=WriteTargets)  # can caches be written


class UncachedContext(ScorerContext):
    """A scorer context without cache files (the preflight's, or a run's without caches)."""

    def cache_path(self, filename: str) -> Path | None:
        return None


class Preflight:
    """Checks suites of one project; the registry is loaded and each endpoint built once."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self._registry: Registry | None = None
        self._endpoints_checked: set[str] = set()

    def prepare(self, suite_name: str | None, options: EvalOptions) -> Prepared:
        """Check one suite: prompt refs, eval set, variables, scorers, gate, endpoints.

        The results store is only read, and only when it exists; scorers are built
        without their caches. Raises :class:`UserError` on the first problem found.
        """
        started = time.perf_counter()
        options = options.checked()
        # A read-only or full store or reports folder is found before any call.
        targets = check_write_targets(self.project, options)
        registry = self._load_registry()
        store = self._existing_store()
        try:
            prior = _prior_run(store, options.resume, self.project.store.where)
            if prior is not None:
                if suite_name is not None and suite_name != prior.suite:
                    raise UserError(
                        f"run {prior.run_id} is a run of suite {prior.suite!r}, "
                        f"not {suite_name!r}",
                        hint=f"`llmops eval --resume {prior.run_id}` resumes it; "
                        f"`llmops eval {suite_name}` starts a new run",
                    )
                suite_name = prior.suite
                options = options.but(repeat=int(prior.meta["repeat"] or 1))
            assert suite_name is not None
            suite = self.project.suite(suite_name)
            self._check_endpoint("provider", suite_name, suite)
            self._check_suite_prompt(registry, suite_name, suite)
            plan = plan_suite(
                self.project, registry, suite_name, suite, list(options.prompts),
                options.baseline, store, prior,
            )
        finally:
            if store is not None:
                store.close()
        if self.project.provider_for(suite).kind == "recorded":
            from llmops.providers.recorded import require_outputs

            require_outputs(plan.evalset)
        scorers = self._check_scorers(plan, options.no_cache)
        self._check_gate(plan, [s.key for s in scorer_slots(scorers)])
        if any(s.name == "rubric" for s in scorers) and (
            suite.judge is not None or self.project.config.judge is not None
        ):
            self._check_endpoint("judge", suite_name, suite)
        return Prepared(plan, prior, options, time.perf_counter() - started, targets)

    def _load_registry(self) -> Registry:
        from llmops.prompts import load_registry

        if self._registry is None:
            registry = load_registry(self.project)
            check_locks(registry)
            self._registry = registry
        return self._registry

    def _existing_store(self) -> ResultsStore | None:
        """The results store, to read runs from; None while it does not exist (no file made)."""
        location = self.project.store
        return open_store(location) if location.exists() else None

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

    def _check_endpoint(self, key: str, suite_name: str, suite: SuiteConfig) -> None:
        """Build the suite's ``provider:`` (or ``judge:``) without a cache: a missing key or
        a target that cannot be imported fails here, naming where it is configured."""
        own = (suite.provider if key == "provider" else suite.judge) is not None
        where = ["suites", suite_name, key] if own else [key]
        if ".".join(where) in self._endpoints_checked:
            return
        from llmops.providers import make_provider

        provider = self.project.provider_for(suite)
        config = provider if key == "provider" else self.project.judge_for(suite)
        try:
            make_provider(config, cache_path=None, root=self.project.root)
        except UserError as exc:
            parts = (exc.field or "").split(".")
            if parts[0] in ("provider", "judge"):
                parts = parts[1:]
            parts = [p for p in parts if p]
            raise self._located(exc, [*where, *parts], ".".join([*where, *parts])) from None
        self._endpoints_checked.add(".".join(where))

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

    def _check_scorers(self, plan: SuitePlan, no_cache: bool) -> list[Any]:
        """Build the suite's scorers (without caches) and let each validate the cases."""
        from llmops.scorers import build_scorers

        name = plan.suite_name
        ctx = UncachedContext(self.project, no_cache, evalset=plan.evalset.path)
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

    def _check_gate(self, plan: SuitePlan, keys: list[str]) -> None:
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


def check_stored_baseline(store: ResultsStore, plan: SuitePlan, slots: list[ScorerSlot]) -> None:
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
    stored = store.scorer_signatures(variant_id=base.variant_id)
    for slot in slots:
        now = (slot.scorer.version, canonical(slot.scorer.args))
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


def _prior_run(store: ResultsStore | None, resume: str | None, where: str) -> Any:
    """The run to resume (None for a new run); refused while its process still runs."""
    if not resume:
        return None
    if store is None:  # no store yet, so no runs
        raise UserError(f"no run {resume!r} in the store", file=where,
                        hint="see `llmops runs list`")
    prior = store.run(resume)
    if prior.status == "running":
        raise UserError(
            f"run {resume} is still running (pid {prior.meta['pid']})",
            hint="wait for it, or stop it first",
        )
    return prior
