"""Where a run writes, checked before the first model call.

A run writes the results store, the caches under ``.llmops/`` and the reports folder
(``--json PATH`` is checked by the command line). Each is tested with a small write
that leaves nothing behind, so a read-only folder or a full disk is found before any
call is paid for:

- the results store or the reports folder cannot be written → exit 2 (read-only, no
  permission) or 3 (disk full), naming the path and what to do;
- the caches cannot be written → a warning before the first call; the run goes on
  without them (a cache saves calls, it never holds results).

:func:`sweep_killed_runs` removes the temporary files that killed runs left in the
reports folder and under ``.llmops/``, and run folders that held nothing else.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmops._files import check_writable, sweep_stale_temp_files, write_error
from llmops.errors import LlmopsError

if TYPE_CHECKING:
    from llmops.eval.options import EvalOptions
    from llmops.project import Project

CACHE_FILES = ("cache.db", "embeddings.db")
STORE_HINT = "make it writable, or point LLMOPS_STORE at another store"


@dataclass(frozen=True)
class WriteTargets:
    """The outcome of the check: whether the caches can be used, and why not."""

    caches_writable: bool = True
    cache_problem: str | None = None


def check_write_targets(project: Project, options: EvalOptions) -> WriteTargets:
    """Check the store, the reports folder and the caches (nothing is left behind).

    Raises:
        UserError: the store or the reports folder is read-only or not permitted.
        RuntimeFailure: the disk under either is full.
    """
    if options.formats:
        check_writable(options.report_dir or project.reports_dir)
    if project.store.backend == "sqlite":
        check_store_writable(project.store.path)
    problem = cache_problem(project.state_dir)
    return WriteTargets(problem is None, problem)


def sweep_killed_runs(project: Project, options: EvalOptions) -> None:
    """Remove temporary files of processes gone, and the run folders they alone were in."""
    if options.formats:
        sweep_stale_temp_files(options.report_dir or project.reports_dir, depth=1)
    sweep_stale_temp_files(project.state_dir)


def check_store_writable(path: Path) -> None:
    """The SQLite store at ``path`` (and its folder, for the journal) can be written."""
    what = "cannot write the results store"
    if path.exists():
        _open_for_writing(path, what, STORE_HINT)
    check_writable(path.parent, name=path, what=what, hint=STORE_HINT)


def cache_problem(state_dir: Path) -> str | None:
    """Why the caches under ``state_dir`` cannot be written, or None when they can."""
    try:
        for name in CACHE_FILES:
            if (state_dir / name).exists():
                _open_for_writing(state_dir / name, "cannot write", None)
        check_writable(state_dir)
    except LlmopsError as exc:
        return (f"the caches cannot be written ({exc}): the run goes on without them, "
                "and every call is paid for")
    return None


def _open_for_writing(path: Path, what: str, hint: str | None) -> None:
    """Open ``path`` for writing and close it: nothing is written, its rights are tested."""
    try:
        os.close(os.open(path, os.O_WRONLY))
    except OSError as exc:
        raise write_error(path, exc, what, hint=hint) from None
