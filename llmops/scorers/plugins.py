"""Custom scorers from the project's ``plugins:`` modules and the ``llmops.scorers`` entry points.

A plugin module registers its scorers with ``@llmops.scorers.scorer`` when imported.
Modules are imported with the project root on ``sys.path``, so ``plugins: [my_scorers]``
finds ``my_scorers.py`` next to ``llmops.yaml``. An entry point in the group
``llmops.scorers`` may name a module (imported) or a registered factory.
"""

from __future__ import annotations

import importlib
import sys
import traceback
from importlib.metadata import entry_points
from typing import TYPE_CHECKING

from llmops.errors import ConfigError, UserError

if TYPE_CHECKING:
    from llmops.project import Project

ENTRY_POINT_GROUP = "llmops.scorers"

_loaded: set[str] = set()
_scanned: set[tuple[str, ...]] = set()  # the sys.path values whose entry points are loaded


def load_plugins(project: Project | None) -> None:
    """Import the entry-point scorers and the project's plugin modules (once each)."""
    if project is not None and str(project.root) not in sys.path:
        sys.path.insert(0, str(project.root))
    _load_entry_points()
    if project is None:
        return
    root = str(project.root)
    for module in project.config.plugins:
        if module in _loaded:
            continue
        try:
            importlib.import_module(module)
        except Exception as exc:
            where = _where(exc, root)
            raise ConfigError(
                f"plugin module {module!r} failed to import: {type(exc).__name__}: {exc}{where}",
                file=project.config_path,
                field="plugins",
            ) from None
        _loaded.add(module)


def _load_entry_points() -> None:
    # Listing the installed distributions takes tens of ms: once per search path.
    path = tuple(sys.path)
    if path in _scanned:
        return
    for ep in entry_points(group=ENTRY_POINT_GROUP):
        key = f"ep:{ep.name}={ep.value}"
        if key in _loaded:
            continue
        try:
            ep.load()
        except Exception as exc:
            raise UserError(
                f"scorer entry point {ep.name!r} ({ep.value}) failed to load: "
                f"{type(exc).__name__}: {exc}",
                hint="fix or uninstall the package that provides it",
            ) from None
        _loaded.add(key)
    _scanned.add(path)


def _where(exc: BaseException, root: str) -> str:
    """`` (at file:line)`` for the innermost frame inside the project, if any."""
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        if frame.filename.startswith(root):
            return f" (at {frame.filename}:{frame.lineno})"
    if isinstance(exc, SyntaxError) and exc.filename:
        return f" (at {exc.filename}:{exc.lineno})"
    return ""
