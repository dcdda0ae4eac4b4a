"""`llmops prompts`."""

from __future__ import annotations

import typer

app = typer.Typer(help="prompts", no_args_is_help=True)
