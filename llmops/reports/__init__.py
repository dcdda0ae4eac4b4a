"""Reports of an evaluation: summary.md (PR comment), results.json, junit.xml, report.html."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from llmops.eval_result import EvalResult

FILES = {"md": "summary.md", "json": "results.json", "junit": "junit.xml", "html": "report.html"}


def write_reports(result: EvalResult, directory: Path, formats: Sequence[str]) -> Path:
    """Write the chosen formats into ``directory`` (created); return the directory."""
    directory.mkdir(parents=True, exist_ok=True)
    for fmt in formats:
        target = directory / FILES[fmt]
        if fmt == "md":
            from llmops.reports.markdown import summary_markdown

            text = summary_markdown(result)
        elif fmt == "json":
            text = result.dumps() + "\n"
        elif fmt == "junit":
            from llmops.reports.junit import junit_xml

            text = junit_xml(result)
        else:
            from llmops.reports.html import eval_html

            text = eval_html(result)
        tmp = target.with_name(target.name + ".tmp")
        tmp.write_text(text, encoding="utf-8")
        tmp.replace(target)
    return directory
