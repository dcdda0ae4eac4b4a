"""`llmops runs report RUN_ID`: write a stored run's reports again."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops.cli._app import load


def report_command(
    run_id: Annotated[str, typer.Argument(help="The run's id (see `runs list`).")],
    format: Annotated[
        str | None,
        typer.Option("--format", metavar="LIST",
                     help="Report formats, comma-separated (default: the default formats)."),
    ] = None,
    report_dir: Annotated[
        Path | None, typer.Option(metavar="DIR", help="Directory for <run_id>/ reports.")
    ] = None,
) -> None:
    """Render the reports of any stored run again (summary.md, report.html, ...)."""
    from llmops.eval.options import parse_formats
    from llmops.eval.rerender import stored_result, stored_versions
    from llmops.reports import default_formats, normalise_formats, write_reports
    from llmops.store import open_store

    project = load()
    formats = normalise_formats(default_formats() if format is None else parse_formats(format))
    with open_store(project.store) as store:
        result = stored_result(project, store, run_id)
        out = (report_dir or project.reports_dir) / run_id
        written = write_reports(result, out, formats, stored_versions(project, result),
                                project)
    for name in formats:
        from llmops.reports import FORMATS

        typer.echo(str(written / FORMATS[name].filename))
