"""Stored runs as MLflow tracking runs: one MLflow run per variant of an llmops run.

Params: suite, prompt, version, prompt digest, model, provider, the model's params, the
eval set's path and digest. Metrics: each scorer's mean and pass rate, errors, tokens,
latency percentiles; for a candidate with a baseline, each scorer's delta and its 95% CI
bounds. Tags: the llmops run id, variant and role, the git commit when known. The run's
reports (``reports/RUN_ID/``) go in as artifacts. The MLflow run is found again by its
``llmops.variant`` tag, so exporting the same run twice updates it, never duplicates it.
Any tracking URI MLflow accepts; the ``mlflow`` extra (``mlflow-skinny``) provides it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from llmops._credentials import mask_credentials
from llmops.errors import RuntimeFailure, UserError
from llmops.eval.plan import relative
from llmops.eval.result import CaseResult, load_cases
from llmops.eval.stats import compare
from llmops.store import ResultsStore, RunInfo, VariantRecord, flat, without_password

if TYPE_CHECKING:
    from llmops.project import Project

RUN_TAG = "llmops.run_id"
VARIANT_TAG = "llmops.variant"  # RUN_ID/PROMPT@VERSION: what makes an export unique
_MAX_PARAM = 500  # MLflow's limit on a param value's length


def _client_class(tracking_uri: str) -> Any:
    """MLflow's client class (UserError naming the extra when MLflow is not installed)."""
    try:
        from mlflow.tracking import MlflowClient
    except ImportError:
        raise UserError("--mlflow needs MLflow, which is not installed",
                        hint="pip install 'llmops-prompts[mlflow]'") from None
    scheme = urlsplit(tracking_uri).scheme
    if scheme in ("", "file"):
        # Named on purpose: MLflow 3 refuses its file store unless this is set.
        os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
    return MlflowClient


def export_runs(store: ResultsStore, run_ids: Sequence[str], tracking_uri: str, *,
                experiment: str | None = None, project: Project | None = None
                ) -> Iterator[str]:
    """Log every variant of ``run_ids``; yields one line per MLflow run written.

    Raises:
        UserError: an unknown run (before anything is logged), MLflow not installed.
        RuntimeFailure: the tracking store failed or cannot be reached (one line naming
            the tracking URI without its credentials).
    """
    runs = [store.run(run_id) for run_id in run_ids]  # unknown run: exit 2 before writing
    client_class = _client_class(tracking_uri)
    shown = without_password(tracking_uri)
    from mlflow.exceptions import MlflowException

    try:
        client = client_class(tracking_uri=tracking_uri)
        yield from _export(store, runs, client, shown, experiment, project)
    except MlflowException as exc:
        reason = (mask_credentials(str(exc)) or "failed").strip().splitlines()[0][:300]
        raise RuntimeFailure(f"MLflow tracking store failed: {reason}", file=shown) from None
    except ImportError as exc:  # a store kind whose driver MLflow imports on first use
        raise UserError(f"this MLflow tracking store needs {exc.name or 'a module'}, which"
                        " is not installed", file=shown,
                        hint="pip install 'llmops-prompts[mlflow]'") from None


def _export(store: ResultsStore, runs: Sequence[RunInfo], client: Any, shown: str,
            experiment: str | None, project: Project | None) -> Iterator[str]:
    for run in runs:
        experiment_id = _experiment(client, experiment or f"llmops-{run.suite}")
        variants = store.variants(run.run_id)
        cases = {v.variant_id: load_cases(store, v.variant_id) for v in variants}
        baseline = next((v for v in variants if v.role == "baseline"), None)
        for v in variants:
            metrics = _metrics(store, v, cases[v.variant_id])
            if baseline is not None and v is not baseline:
                metrics.update(_deltas(cases[v.variant_id], cases[baseline.variant_id]))
            mlflow_run_id, verb = _find_or_create(client, experiment_id, run, v)
            root = project.root if project is not None else None
            _log(client, mlflow_run_id, _params(run, v, root), metrics, _tags(run, v))
            reports = project.reports_dir / run.run_id if project is not None else None
            if reports is not None and reports.is_dir():
                client.log_artifacts(mlflow_run_id, str(reports), artifact_path="reports")
            client.set_terminated(mlflow_run_id, status=_status(run))
            yield (f"{verb} MLflow run {mlflow_run_id} for {run.run_id} "
                   f"{v.prompt}@{v.version} at {shown}")


def _experiment(client: Any, name: str) -> str:
    found = client.get_experiment_by_name(name)
    if found is not None:
        return str(found.experiment_id)
    return str(client.create_experiment(name))


def _find_or_create(client: Any, experiment_id: str, run: RunInfo, v: VariantRecord
                    ) -> tuple[str, str]:
    key = f"{run.run_id}/{v.prompt}@{v.version}"
    existing = client.search_runs([experiment_id], filter_string=f"tags.`{VARIANT_TAG}` = '{key}'",
                                  max_results=1)
    if existing:
        return str(existing[0].info.run_id), "updated"
    created = client.create_run(experiment_id, run_name=f"{v.prompt}@{v.version} {run.run_id}",
                                tags={VARIANT_TAG: key})
    return str(created.info.run_id), "created"


def _status(run: RunInfo) -> str:
    return {"finished": "FINISHED", "running": "RUNNING"}.get(run.status, "KILLED")


def _params(run: RunInfo, v: VariantRecord, root: Path | None) -> dict[str, str]:
    """The variant's params; the eval set's path relative to the project when inside it,
    and every value with URL credentials and the project's keys masked."""
    evalset = run.meta.get("evalset_path")
    if evalset and root is not None:
        evalset = relative(Path(str(evalset)), root)
    params: dict[str, Any] = {
        "suite": run.suite, "prompt": v.prompt, "version": v.version, "prompt_digest": v.digest,
        "model": v.model, "provider": v.provider, "role": v.role,
        "evalset_path": evalset,
        "evalset_digest": run.meta.get("evalset_digest"), "repeat": run.meta.get("repeat"),
    }
    for key, value in sorted(v.params.items()):
        params[f"params.{key}"] = value
    return {k: (mask_credentials(str(val)) or "")[:_MAX_PARAM]
            for k, val in params.items() if val is not None}


def _tags(run: RunInfo, v: VariantRecord) -> dict[str, str]:
    tags = {RUN_TAG: run.run_id, "llmops.role": v.role, "llmops.status": run.status}
    for key, tag in (("git_commit", "mlflow.source.git.commit"), ("git_commit", "git_commit"),
                     ("package_version", "llmops.version")):
        if run.meta.get(key):
            tags[tag] = str(run.meta[key])
    if v.origin:
        tags["llmops.origin"] = v.origin
    if v.reused_from:
        tags["llmops.reused_from"] = v.reused_from
    return tags


def _metrics(store: ResultsStore, v: VariantRecord, cases: Sequence[CaseResult]
             ) -> dict[str, float]:
    keys = sorted({k for c in cases for k in c.scores})
    figures = store.variant_figures(v.variant_id, keys)
    metrics: dict[str, float | None] = {
        "n_cases": figures.n_cases, "errors": figures.n_errors,
        "pass_rate": figures.n_passed / figures.n_cases if figures.n_cases else None,
        "prompt_tokens": figures.prompt_tokens, "completion_tokens": figures.completion_tokens,
        "latency_p50_ms": figures.latency_p50_ms, "latency_p95_ms": figures.latency_p95_ms,
    }
    for key in keys:
        values = [x for x in flat(figures.values[key]) if x is not None]
        metrics[f"{key}.mean"] = sum(values) / len(values) if values else None
        passed = [c.scores[key].passed for c in cases if key in c.scores]
        metrics[f"{key}.pass_rate"] = sum(passed) / len(passed) if passed else None
        metrics[f"{key}.errors"] = sum(1 for c in cases if key in c.scores
                                       and c.scores[key].error is not None)
    return {k: float(x) for k, x in metrics.items() if x is not None}


def _by_case(cases: Sequence[CaseResult], key: str) -> tuple[dict[str, list[float | None]],
                                                              dict[str, list[bool | None]]]:
    values: dict[str, list[float | None]] = {}
    passed: dict[str, list[bool | None]] = {}
    for c in cases:
        score = c.scores.get(key)
        if score is None:
            continue
        values.setdefault(c.id, []).append(score.value)
        passed.setdefault(c.id, []).append(score.passed)
    return values, passed


def _deltas(candidate: Sequence[CaseResult], baseline: Sequence[CaseResult]
            ) -> dict[str, float]:
    """Each scorer's difference from the baseline, with its bootstrap 95% CI bounds."""
    out: dict[str, float] = {}
    keys = sorted({k for c in candidate for k in c.scores} & {k for c in baseline
                                                             for k in c.scores})
    for key in keys:
        cand, cand_passed = _by_case(candidate, key)
        base, base_passed = _by_case(baseline, key)
        result = compare(_single(cand), _single(base), scorer=key,
                         candidate_passed=_single(cand_passed),
                         baseline_passed=_single(base_passed))
        for name in ("delta", "ci_low", "ci_high"):
            value = getattr(result, name)
            if value is not None:
                out[f"{key}.{name}"] = float(value)
    return out


def _single(by_case: Mapping[str, list[Any]]) -> dict[str, Any]:
    """One value per case when there were no repeats, else the list of repeats."""
    return {case: vals[0] if len(vals) == 1 else vals for case, vals in by_case.items()}


def _log(client: Any, run_id: str, params: Mapping[str, str], metrics: Mapping[str, float],
         tags: Mapping[str, str]) -> None:
    from mlflow.entities import Metric, Param, RunTag

    data = client.get_run(run_id).data
    # A param is write-once in MLflow: an unchanged one is not logged again, nor is an
    # unchanged metric (its history would grow with every export).
    new_params = [Param(k, val) for k, val in params.items() if data.params.get(k) != val]
    client.log_batch(
        run_id,
        metrics=[Metric(k, val, _now_ms(), 0) for k, val in metrics.items()
                 if data.metrics.get(k) != val],
        params=new_params,
        tags=[RunTag(k, val) for k, val in tags.items()],
    )


def _now_ms() -> int:
    import time

    return int(time.time() * 1000)
