"""Start the viewer: bind the port first (a clear error when taken), then run uvicorn."""

from __future__ import annotations

import contextlib
import socket
import webbrowser
from typing import TYPE_CHECKING

from llmops.errors import UserError

if TYPE_CHECKING:
    from llmops.project import Project

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; :class:`UserError` (exit 2) when it is taken."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise UserError(f"cannot listen on {host}:{port}: {exc.strerror or exc}",
                        field="--port", hint="pick another with --port") from None
    sock.set_inheritable(True)
    return sock


def serve(project: Project, *, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT,
          open_browser: bool = False, sock: socket.socket | None = None) -> None:
    """Serve ``project``'s results store until interrupted."""
    import uvicorn

    from llmops.view.app import create_app

    sock = sock or bind(host, port)
    real_port = sock.getsockname()[1]
    config = uvicorn.Config(create_app(project), log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    url = f"http://{'[' + host + ']' if ':' in host else host}:{real_port}/"
    print(f"llmops view: {url} (results store {project.store.where}; Ctrl-C to stop)",
          flush=True)
    if not project.store.exists():
        print(f"no results store yet at {project.store.where}: run `llmops eval` to create one",
              flush=True)
    if open_browser:
        webbrowser.open(url)
    # Ctrl-C is how a viewer is stopped: not a failure, exit 0.
    with contextlib.suppress(KeyboardInterrupt):
        server.run(sockets=[sock])
