"""`llmops view`: browse the results store in a local web page (read-only)."""

from __future__ import annotations

from typing import Annotated

import typer

from llmops.cli._app import load


def view_command(
    host: Annotated[str, typer.Option("--host", help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", min=0, max=65535, help="Port.")] = 8765,
    open_browser: Annotated[
        bool, typer.Option("--open", help="Open the page in the default browser.")
    ] = False,
) -> None:
    """Serve runs, cases, comparisons and history at http://127.0.0.1:8765/."""
    try:
        import starlette  # noqa: F401
        import uvicorn  # noqa: F401
    except ImportError:
        from llmops.errors import UserError

        raise UserError("llmops view needs the `view` extra",
                        hint="pip install 'llmops-prompts[view]'") from None
    from llmops.view.serve import bind, serve

    project = load()
    sock = bind(host, port)
    serve(project, host=host, port=port, open_browser=open_browser, sock=sock)


def register(app: typer.Typer) -> None:
    app.command("view")(view_command)
