"""``llmops view``: a read-only local web viewer of the results store.

Runs, a run's cases, comparisons of two versions or two runs, a prompt's history and the
guard scans, as pages and as JSON under ``/api/``. Needs the ``view`` extra (Starlette,
uvicorn). Everything it shows is masked (:func:`llmops.guard.redact.redact`) and escaped.
"""

from __future__ import annotations

from llmops.view.serve import DEFAULT_HOST, DEFAULT_PORT, bind, serve

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "bind", "create_app", "serve"]


def __getattr__(name: str) -> object:
    if name == "create_app":
        from llmops.view.app import create_app

        return create_app
    raise AttributeError(name)
