"""`llmops init`: scaffold a working project."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer


def init(
    directory: Annotated[
        Path, typer.Argument(help="Where to create the project (default: here).")
    ] = Path("."),
) -> None:
    """Scaffold a working project (never overwrites).

    Writes llmops.yaml, a prompt with a released v1 (production) and a draft v2, an eval
    set of 8 cases and a .gitignore; the first `llmops eval` compares v2 with v1.
    """
    from llmops.scaffold import scaffold

    for path in scaffold(directory):
        typer.echo(f"created {path}")
    cd = "" if directory.resolve() == Path.cwd().resolve() else f"cd {directory} && "
    typer.echo(f"next: {cd}llmops prompts list && llmops eval")


def register(app: typer.Typer) -> None:
    """Add the command to the root app."""
    app.command("init")(init)
