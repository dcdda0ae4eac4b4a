"""The ``llmops`` command: a thin shell over the Python API.

Heavy libraries (torch, sentence-transformers, chromadb, openai, pandas) are imported
inside the commands that need them, never here.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path
from typing import Annotated

import typer

from llmops import __version__
from llmops.cli import diff, eval, evalsets, guard, index, init, prompts, runs, view
from llmops.cli._app import RootGroup, state

app = typer.Typer(
    cls=RootGroup,
    name="llmops",
    help="Versioned LLM prompts, evaluated in every pull request.",
    no_args_is_help=True,
    add_completion=True,  # --install-completion / --show-completion for bash, zsh, fish
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"llmops {__version__}")
        raise typer.Exit()


@app.callback()
def root(
    project: Annotated[
        Path | None,
        typer.Option("--project", "-C", help="Project directory (default: cwd or a parent)."),
    ] = None,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks.")] = False,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Show the version."),
    ] = False,
) -> None:
    """Versioned LLM prompts, evaluated in every pull request."""
    state.project = project
    state.debug = debug


init.register(app)
app.add_typer(prompts.app, name="prompts")
eval.register(app)
diff.register(app)
app.add_typer(runs.app, name="runs")
app.add_typer(guard.app, name="guard")
app.add_typer(index.app, name="index")
app.add_typer(evalsets.app, name="evalsets")
view.register(app)


def main() -> None:
    """Console-script entry point."""
    # Looking for pydantic plugins scans every installed package's entry points: a
    # noticeable share of start-up, for plugins the command line never uses.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    try:
        app()
    finally:
        # The interpreter's last garbage collection walks every object still alive, the
        # openai SDK's hundreds of model classes among them: a quarter to half a second
        # after the command's work is done. Frozen objects are left out of it; the
        # process frees its memory on exit all the same.
        gc.freeze()
