"""`llmops evalsets from-logs`: an eval set of recorded answers from production logs."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="Build eval sets.", no_args_is_help=True)


@app.command("from-logs")
def from_logs(
    logs: Annotated[list[Path], typer.Argument(help="Log files (JSONL, .gz or .zst).")],
    sample: Annotated[int, typer.Option("--sample", min=1, help="How many cases to draw.")],
    out: Annotated[Path, typer.Option("--out", help="The eval set to write (JSONL).")],
    seed: Annotated[int, typer.Option("--seed", help="Seed of the random draw.")] = 0,
    keep_pii: Annotated[
        bool, typer.Option("--keep-pii", help="Write PII and secrets unmasked.")
    ] = False,
) -> None:
    """Sample production records into cases with `vars.input` and a recorded `output`.

    Score them with `provider: {kind: recorded}`. Reads every log shape `guard scan`
    reads; PII and secrets are masked in what is written unless --keep-pii (the
    project's key values and URL credentials always are).
    """
    from llmops.from_logs import sample_logs, write_cases

    _remember_project_keys()
    report = sample_logs(logs, sample, seed)
    if not report.cases:
        typer.echo(f"no record with both a user message and an answer in {report.records} "
                   "records; nothing written", err=True)
        if report.first_bad:
            typer.echo(f"first unreadable line: {report.first_bad}", err=True)
        raise typer.Exit(1)
    write_cases(report, out, keep_pii=keep_pii)
    files = "file" if report.files == 1 else "files"
    masked = "unmasked (--keep-pii)" if keep_pii else "PII and secrets masked"
    typer.echo(f"wrote {len(report.cases)} cases to {out} (drawn from {report.usable} of "
               f"{report.records} records in {report.files} {files}; {masked})")
    if report.without_pair:
        typer.echo(f"{report.without_pair} records without a user message and an answer "
                   "were skipped", err=True)
    if report.bad_lines:
        typer.echo(f"{report.bad_lines} unreadable lines were skipped; first: "
                   f"{report.first_bad}", err=True)


def _remember_project_keys() -> None:
    """Inside a project, the values of its key variables are masked in what is written."""
    import contextlib

    from llmops.cli._app import load
    from llmops.errors import ConfigError

    with contextlib.suppress(ConfigError):  # no project here: sampled all the same
        load()
