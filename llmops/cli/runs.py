"""`llmops runs list|show|export`: what the results store holds."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

if TYPE_CHECKING:
    from llmops.store import ResultsStore

import typer

from llmops.cli._app import load, write_json

app = typer.Typer(help="Runs in the results store.", no_args_is_help=True)


def _store() -> ResultsStore:
    from llmops.store import open_store

    return open_store(load().store)


@app.command("list")
def list_runs(
    limit: Annotated[int, typer.Option(min=1, help="Show at most this many runs.")] = 50,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write JSON ('-' = stdout).")
    ] = None,
) -> None:
    """Runs, newest first, with their status (running, finished, interrupted)."""
    with _store() as store:
        runs = store.runs(limit)
    rows = [
        {"run_id": r.run_id, "suite": r.suite, "status": r.status, "started_at": r.started_at,
         "finished_at": r.finished_at, "n_cases_done": r.n_done,
         "git_commit": r.meta.get("git_commit")}
        for r in runs
    ]
    if json_path:
        write_json(rows, json_path)
        return
    if not rows:
        typer.echo("no runs yet")
        return
    typer.echo(f"{'RUN':24} {'SUITE':16} {'STATUS':12} {'STARTED (UTC)':20} DONE")
    for r in rows:
        started = str(r["started_at"])[:19].replace("T", " ")
        typer.echo(f"{r['run_id']:24} {r['suite']:16} {r['status']:12} {started:20} "
                   f"{r['n_cases_done']}")


@app.command("show")
def show(
    run_id: Annotated[str, typer.Argument(help="The run's id (see `runs list`).")],
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write JSON ('-' = stdout).")
    ] = None,
) -> None:
    """One run: its provenance and a summary per variant."""
    from llmops.eval.stored import run_details

    with _store() as store:
        d = run_details(store, run_id)
    if json_path:
        write_json(d, json_path)
        return
    dirty = " (dirty)" if d.get("git_dirty") else ""
    typer.echo(f"run {d['run_id']}  suite {d['suite']}  {d['status']}")
    typer.echo(f"  started {d['started_at']}  finished {d['finished_at'] or '-'}")
    typer.echo(f"  commit {d.get('git_commit') or '-'}{dirty}  llmops {d.get('package_version')}")
    typer.echo(f"  eval set {d.get('evalset_path')} ({d.get('n_cases')} cases, "
               f"digest {str(d.get('evalset_digest'))[:12]}) × {d.get('repeat')}")
    if d.get("baseline"):
        typer.echo(f"  baseline {d['baseline']}")
    for v in d["variants"]:
        rate = "n/a" if v["pass_rate"] is None else f"{100 * v['pass_rate']:.1f}%"
        means = ", ".join(
            f"{k} {'n/a' if m is None else f'{m:.3f}'}" for k, m in v["means"].items()
        )
        typer.echo(f"  {v['prompt']}@{v['version']} [{v['role']}] {v['digest'][:12]} "
                   f"model {v['model'] or '-'}: {v['n_cases']} results, {v['n_errors']} errors, "
                   f"pass rate {rate}" + (f"; {means}" if means else ""))
        if v["reused_from"]:
            typer.echo(f"    results reused from run {v['reused_from']}")
        if v["first_error"]:
            typer.echo(f"    first error: {v['first_error']}")


@app.command("export")
def export(
    run_ids: Annotated[list[str], typer.Argument(help="The runs' ids.")],
    out: Annotated[Path | None, typer.Option("--out", help="File to write.")] = None,
    fmt: Annotated[str | None, typer.Option(
        "--format", help="csv, jsonl or parquet (default: from --out's extension, else csv).",
    )] = None,
    csv: Annotated[Path | None, typer.Option("--csv", help="CSV file to write.")] = None,
    mlflow: Annotated[str | None, typer.Option(
        "--mlflow", help="Log each variant as an MLflow run at this tracking URI.",
    )] = None,
    experiment: Annotated[str | None, typer.Option(
        "--experiment", help="The MLflow experiment (default: llmops-SUITE).",
    )] = None,
) -> None:
    """Every result and score of the runs as a file (one row per result and scorer),
    and/or each variant as an MLflow run."""
    from llmops.errors import UserError

    if csv is not None:
        out, fmt = csv, "csv"
    if out is None and mlflow is None:
        raise UserError("runs export: say where: --out PATH (or --csv PATH) or --mlflow URI")
    with _store() as store:
        if out is not None:
            from llmops.export.frames import export_format, runs_frame, write_frame

            kind = export_format(fmt, out)
            frame = runs_frame(store, run_ids)
            write_frame(frame, out, kind)
            typer.echo(f"{len(frame)} rows written to {out}")
        if mlflow is not None:
            from llmops.export.mlflow import export_runs

            for line in export_runs(store, run_ids, mlflow, experiment=experiment,
                                    project=load()):
                typer.echo(line)


def _register_history() -> None:
    from llmops.cli.history import history_command

    app.command("history")(history_command)


_register_history()


def _register_report() -> None:
    from llmops.cli.runs_report import report_command

    app.command("report")(report_command)


_register_report()
