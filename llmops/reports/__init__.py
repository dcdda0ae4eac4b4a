"""Reports of an evaluation, one format per module, named in :data:`FORMATS`.

A format is a module of this package with a ``render(report) -> str`` function (or a
``write(report, path)`` one, to stream a large document) and an entry in :data:`FORMATS`
(its name, file name and aliases); the eval preflight, the ``--format`` help and
:func:`write_reports` all read that table. Renderers import lazily,
so the table costs nothing at start-up.
"""

from __future__ import annotations

import contextlib
import importlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from llmops._files import write_atomic, write_error
from llmops.errors import UserError

if TYPE_CHECKING:
    from llmops.eval.result import EvalResult
    from llmops.project import Project
    from llmops.prompts import PromptVersion

__all__ = ["FORMATS", "Report", "ReportFormat", "normalise_formats", "write_reports"]


@dataclass(frozen=True)
class Report:
    """What a renderer gets: the run's result, and what lets it show more."""

    result: EvalResult
    # ``name@version`` (as comparisons label variants) → version, for prompt diffs
    versions: Mapping[str, PromptVersion]
    project: Project | None = None  # for the prompt's history, read from the store
    summary_chars: int = 65_536  # the most summary.md may hold (a GitHub comment)


@dataclass(frozen=True)
class ReportFormat:
    """A report format: its name on the command line, its file and its renderer."""

    name: str
    filename: str
    module: str  # defines ``render(report: Report) -> str`` or ``write(report, path)``
    aliases: tuple[str, ...] = ()
    default: bool = True  # written when --format is not given

    def write(self, report: Report, path: Path) -> None:
        """Render ``report`` into ``path``, atomically."""
        module = importlib.import_module(self.module)
        writer: Callable[[Report, Path], None] | None = getattr(module, "write", None)
        if writer is not None:
            writer(report, path)
            return
        render: Callable[[Report], str] = module.render
        write_atomic(path, render(report))


FORMATS: dict[str, ReportFormat] = {
    f.name: f
    for f in (
        ReportFormat("md", "summary.md", "llmops.reports.markdown", aliases=("markdown",)),
        ReportFormat("json", "results.json", "llmops.reports.json"),
        ReportFormat("junit", "junit.xml", "llmops.reports.junit", aliases=("xml",)),
        ReportFormat("html", "report.html", "llmops.reports.html"),
    )
}


def default_formats() -> tuple[str, ...]:
    return tuple(name for name, f in FORMATS.items() if f.default)


def normalise_formats(names: Iterable[str]) -> list[str]:
    """Format names as given (any case, aliases) → known names, each once, in order.

    Raises:
        UserError: a name that is no format.
    """
    by_alias = {alias: f.name for f in FORMATS.values() for alias in (f.name, *f.aliases)}
    out: list[str] = []
    for given in names:
        name = by_alias.get(given.strip().lower())
        if name is None:
            raise UserError(f"unknown report format {given.strip()!r}",
                            hint=f"use {', '.join(FORMATS)}")
        if name not in out:
            out.append(name)
    return out


def write_reports(
    result: EvalResult,
    directory: Path,
    formats: Sequence[str],
    versions: Mapping[str, PromptVersion] | None = None,
    project: Project | None = None,
    *,
    summary_chars: int = 65_536,
) -> Path:
    """Write the chosen formats into ``directory`` (created); return the directory.

    ``versions`` (``name@version`` → version) lets the reports show prompt diffs;
    ``project`` lets the HTML report chart the prompt's history from the store;
    ``summary_chars`` bounds summary.md (see
    :func:`llmops.reports.markdown.summary_markdown`). Each file is written whole or not
    at all; a folder this call created stays only if a file made it in.

    Raises:
        UserError: the folder cannot be written (read-only, no permission).
        RuntimeFailure: the disk is full; the message names the file.
    """
    report = Report(result, versions or {}, project, summary_chars)
    names = normalise_formats(formats)
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(directory, exc) from None
    try:
        for name in names:
            fmt = FORMATS[name]
            fmt.write(report, directory / fmt.filename)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
        raise
    return directory
