"""`llmops runs history NAME`: a prompt's scores over runs (registered by the `runs` group)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from llmops.cli._app import load, write_json


def history_command(
    name: Annotated[str, typer.Argument(help="The prompt's name.")],
    suite: Annotated[str | None, typer.Option("--suite", help="Only runs of this suite.")] = None,
    limit: Annotated[int, typer.Option("--limit", min=1, help="The last N runs.")] = 50,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write the history as JSON ('-' = stdout).")
    ] = None,
    html_path: Annotated[
        Path | None, typer.Option("--html", help="Write a chart of the history to this file.")
    ] = None,
) -> None:
    """Show a prompt's mean scores per run and version, oldest run first."""
    from llmops.reports.history import history

    project = load()
    if suite is not None:
        project.suite(suite)  # unknown suite: one clear error, exit 2
    result = history(project, name, suite=suite, limit=limit)
    if html_path is not None:
        from llmops.reports.html import history_html

        html_path.parent.mkdir(parents=True, exist_ok=True)
        tmp = html_path.with_name(html_path.name + ".tmp")
        tmp.write_text(history_html(result), encoding="utf-8")
        tmp.replace(html_path)
    if json_path is not None:
        write_json(result.model_dump(mode="json"), json_path)
        if json_path == "-":
            return
    if not result.points:
        typer.echo(f"no stored runs of {name}" + (f" in suite {suite}" if suite else ""))
        return
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"history of {name}")
    for column in ("run", "started", "suite", "version", "role", *result.scorers):
        table.add_column(column)
    rows: dict[tuple[str, str], dict[str, str]] = {}
    meta: dict[tuple[str, str], list[str]] = {}
    for p in result.points:
        key = (p.run_id, p.version)
        meta[key] = [p.run_id, p.started_at[:16].replace("T", " "), p.suite, p.version, p.role]
        rows.setdefault(key, {})[p.scorer] = "—" if p.mean is None else f"{p.mean:.3f}"
    for key, cells in rows.items():
        table.add_row(*meta[key], *(cells.get(s, "") for s in result.scorers))
    Console(highlight=False).print(table)
