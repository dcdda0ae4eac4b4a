"""Reports of an evaluation: summary.md (PR comment), results.json, junit.xml, report.html."""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from llmops._files import write_atomic, write_error

if TYPE_CHECKING:
    from llmops.eval_result import EvalResult
    from llmops.project import Project
    from llmops.prompts import PromptVersion

FILES = {"md": "summary.md", "json": "results.json", "junit": "junit.xml", "html": "report.html"}


def write_reports(
    result: EvalResult,
    directory: Path,
    formats: Sequence[str],
    versions: Mapping[str, PromptVersion] | None = None,
    project: Project | None = None,
) -> Path:
    """Write the chosen formats into ``directory`` (created); return the directory.

    ``versions`` (``name@version`` → version) lets the reports show prompt diffs;
    ``project`` lets the HTML report chart the prompt's history from the store. Each file
    is written whole or not at all; a folder this call created stays only if a file
    made it in.

    Raises:
        UserError: the folder cannot be written (read-only, no permission).
        RuntimeFailure: the disk is full; the message names the file.
    """
    created = not directory.exists()
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(directory, exc) from None
    try:
        _write_formats(result, directory, formats, versions, project)
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                directory.rmdir()  # only when empty
        raise
    return directory


def _write_formats(
    result: EvalResult,
    directory: Path,
    formats: Sequence[str],
    versions: Mapping[str, PromptVersion] | None,
    project: Project | None,
) -> None:
    for fmt in formats:
        target = directory / FILES[fmt]
        if fmt == "md":
            from llmops.reports.markdown import summary_markdown

            text = summary_markdown(result, versions)
        elif fmt == "json":
            from llmops.reports.json import write_results_json

            write_results_json([result], target)
            continue
        elif fmt == "junit":
            from llmops.reports.junit import junit_xml

            text = junit_xml(result)
        else:
            from llmops.reports.html import eval_html

            text = eval_html(result, project=project)
        write_atomic(target, text)
