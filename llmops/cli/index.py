"""`llmops index`."""

from __future__ import annotations

import typer

app = typer.Typer(help="index", no_args_is_help=True)
