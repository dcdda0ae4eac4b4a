"""Shared pieces of the command line: the root group's error handling and output helpers."""

from __future__ import annotations

import json
import sys
import warnings
from pathlib import Path
from typing import Any

import typer
from typer.core import TyperGroup

try:  # typer >= 0.16 carries its own copy of click
    from typer._click.exceptions import ClickException
except ImportError:  # pragma: no cover
    from click.exceptions import ClickException  # type: ignore[assignment]

from llmops.errors import EXIT_OK, EXIT_RUNTIME, LlmopsError


class State:
    """Options given before the command name."""

    project: Path | None = None
    debug: bool = False


state = State()


class RootGroup(TyperGroup):
    """Maps llmops errors to one stderr line and the contract's exit codes."""

    def invoke(self, ctx: Any) -> Any:
        with warnings.catch_warnings():
            # A warning (a corrupt cache moved aside, a cache that cannot be written) is
            # one masked line, like an error, not Python's file:line and source excerpt.
            warnings.showwarning = _show_warning
            return self._invoke(ctx)

    def _invoke(self, ctx: Any) -> Any:
        try:
            return super().invoke(ctx)
        except LlmopsError as exc:
            if state.debug:
                raise
            typer.echo(f"error: {_shown(exc)}", err=True)
            raise typer.Exit(exc.exit_code) from None
        except (ClickException, typer.Exit, typer.Abort):
            raise
        except BrokenPipeError:
            # The reader went away (`llmops ... | head`): stop quietly, as Unix tools do.
            import os

            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            raise typer.Exit(EXIT_OK) from None
        except KeyboardInterrupt:
            typer.echo("interrupted", err=True)
            raise typer.Exit(130) from None
        except Exception as exc:  # an internal error: one line, traceback with --debug
            if state.debug:
                raise
            typer.echo(
                f"internal error: {type(exc).__name__}: {_masked(str(exc))} "
                "(rerun with --debug for the traceback)",
                err=True,
            )
            raise typer.Exit(EXIT_RUNTIME) from None


def _shown(exc: LlmopsError) -> str:
    """An llmops error as shown. Where it is (a file, a store's host and port) is the
    user's own configuration: only credentials are masked there; the rest as any text."""
    from llmops._credentials import mask_credentials

    return (mask_credentials(exc.location()) or "") + _masked(exc.what())



def _show_warning(message: Warning | str, category: type[Warning], filename: str,
                  lineno: int, file: Any = None, line: str | None = None) -> None:
    typer.echo(f"warning: {_masked(str(message))}", err=True)


def _masked(text: str) -> str:
    """An error line as shown: PII, secrets and the project's credentials masked."""
    from llmops.guard.redact import redact

    return redact(text) or text


def load() -> Any:
    """Load the project named by --project, else from the cwd upwards."""
    from llmops.project import load_project

    return load_project(state.project)


def write_json(data: Any, path: str) -> None:
    """Write JSON to a file, or stdout for ``-``; files are written atomically."""
    text = json.dumps(data, indent=2, ensure_ascii=False, default=str) + "\n"
    if path == "-":
        sys.stdout.write(text)
        return
    from llmops._files import write_atomic

    write_atomic(path, text)
