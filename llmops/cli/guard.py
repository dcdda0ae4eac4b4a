"""`llmops guard`: scan production logs with the guardrail detectors, and their history."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import typer

from llmops.cli._app import state, write_json
from llmops.errors import EXIT_FAILED, EXIT_USER_ERROR, UserError
from llmops.severity import SEVERITIES, choices

if TYPE_CHECKING:
    from llmops.guard.result import ScanResult
    from llmops.project import GuardConfig, Project

app = typer.Typer(
    help="Scan production logs for PII, secrets, prompt injection and policy breaches.",
    no_args_is_help=True,
)


def _project_or_none() -> Project | None:
    """The project when there is one; guard scan also runs outside any project."""
    from llmops.project import find_root, load_project

    if state.project is None and not os.environ.get("LLMOPS_PROJECT") and find_root() is None:
        return None
    return load_project(state.project)


def _split(value: str | None) -> list[str] | None:
    return None if value is None else [v for v in (s.strip() for s in value.split(",")) if v]


@app.command("scan")
def scan_command(
    paths: Annotated[list[Path], typer.Argument(help="JSONL or JSONL.gz log files.")],
    checks: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated categories (pii,secrets,injection,policy,format) "
            "or detector names."
        ),
    ] = None,
    fail_on: Annotated[
        str | None,
        typer.Option("--fail-on", help="Exit 1 on a new finding at or above: low, medium, high."),
    ] = None,
    workers: Annotated[int, typer.Option(min=1, max=64, help="Worker processes.")] = 1,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write the JSON report here ('-' = stdout).")
    ] = None,
    baseline: Annotated[
        Path | None,
        typer.Option(
            help="A previous --json report (or fingerprints): known findings are suppressed."
        ),
    ] = None,
    markdown_path: Annotated[
        str | None, typer.Option("--markdown", help="Write a Markdown summary here.")
    ] = None,
    history: Annotated[bool, typer.Option(help="Keep the summary in the results store.")] = True,
    log_format: Annotated[
        str | None,
        typer.Option(
            "--format",
            help="Read every record as this log shape instead of detecting it "
            "(see `llmops guard formats`).",
        ),
    ] = None,
    max_without_text: Annotated[
        float | None,
        typer.Option(
            min=0.0,
            max=1.0,
            help="Largest share of records that may give no text before the scan is not ok "
            "(exit 2); default guard.max_without_text, else 0.05.",
        ),
    ] = None,
) -> None:
    """Scan log files: exit 1 on a new finding at --fail-on or above, 2 on unreadable input
    or when too many records gave no text to scan."""
    from llmops.guard.report import load_baseline, markdown
    from llmops.guard.scanner import scan_files

    if fail_on is not None and fail_on not in SEVERITIES:
        raise UserError(f"--fail-on must be {choices()}, got {fail_on!r}")
    project = _project_or_none()
    config = project.config.guard if project is not None else None
    if max_without_text is not None:
        config = _with_max_without_text(config, max_without_text)
    known = load_baseline(baseline) if baseline is not None else set()
    out: TextIO = sys.stderr if "-" in (json_path, markdown_path) else sys.stdout
    with _progress(paths) as advance:
        result = scan_files(
            paths, checks=_split(checks), config=config, workers=workers, baseline=known,
            fail_on=fail_on, spool=True, progress=advance, shape=log_format,
        )  # fmt: skip
    try:
        try:
            if json_path is not None:
                result.write_json(json_path)
            if markdown_path is not None:
                _write_text(markdown_path, markdown(result))
            _print_summary(result, out)
            sys.stdout.flush()
        except BrokenPipeError:
            _stdout_closed()
        if project is not None and history and not result.nothing_read:
            _record(project, result, [str(p) for p in paths])
    finally:
        result.close()
    if result.file_errors or result.too_little_text:
        raise typer.Exit(EXIT_USER_ERROR)
    if result.failed():
        raise typer.Exit(EXIT_FAILED)


def _with_max_without_text(config: GuardConfig | None, share: float) -> GuardConfig:
    from llmops.project import GuardConfig

    return (config or GuardConfig()).model_copy(update={"max_without_text": share})


class _progress:
    """A rich progress bar over the input bytes, on a terminal only (no thread: no fork issues)."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths
        self.bar: Any = None

    def __enter__(self) -> Any:
        if not sys.stderr.isatty():
            return None
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            DownloadColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        from llmops.guard.sources import file_size

        total = sum(file_size(p) for p in self.paths if Path(p).is_file())
        self.bar = Progress(
            TextColumn("scanning"), BarColumn(), DownloadColumn(), TimeRemainingColumn(),
            console=Console(stderr=True), auto_refresh=False, transient=True,
        )  # fmt: skip
        self.bar.start()
        task = self.bar.add_task("scan", total=total or None)

        def advance(n: int) -> None:
            self.bar.advance(task, n)
            self.bar.refresh()

        return advance

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.stop()


def _stdout_closed() -> None:
    # The reader went away (`llmops guard scan ... | head -1`). What is left to print goes
    # nowhere, but the scan is still recorded and the exit code still tells its result.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def _write_text(path: str, text: str) -> None:
    if path == "-":
        sys.stdout.write(text + "\n")
        return
    from llmops._files import write_atomic

    write_atomic(path, text + "\n")


def _print_summary(result: ScanResult, out: TextIO) -> None:
    if result.nothing_read:  # only the errors: there is nothing to summarise
        for summary in result.file_errors:
            print(f"error: {summary.path}: {summary.error}", file=sys.stderr)
        return
    status = result.status()
    if status == "INCOMPLETE":
        status += ": " + _incomplete(result)
    print(
        f"guard scan: {result.records_scanned} records, {result.bad_records} bad lines, "
        f"{result.records_without_text} without text, {result.n_findings} new findings "
        f"({result.n_suppressed} suppressed) - {status} (fail on {result.fail_on})",
        file=out,
    )
    for name, n in sorted(result.counts.items(), key=lambda x: (-x[1], x[0])):
        print(f"  {name:<32} {n:>8}", file=out)
    for f in result.sample[:20]:
        where = f"{Path(f.file).name if f.file else ''}:{f.line}"
        record = f" [{f.record}]" if f.record else ""
        print(f"  {where}{record} {f.field} {f.detector} {f.severity}: {f.evidence}", file=out)
    for summary in result.files:
        if summary.error:
            print(f"error: {summary.path}: {summary.error}", file=sys.stderr)
        elif summary.warning:
            print(f"warning: {summary.path}: {summary.warning}", file=sys.stderr)
    for bad in result.bad_lines[:10]:
        print(f"warning: {bad['file']}:{bad['line']}: {bad['reason']}", file=sys.stderr)
    if result.bad_records > 10:
        print(f"warning: {result.bad_records - 10} more bad lines (see --json)", file=sys.stderr)
    _print_without_text(result)


def _incomplete(result: ScanResult) -> str:
    reasons = []
    if result.file_errors:
        n = len(result.file_errors)
        reasons.append(f"{n} input{'s' if n > 1 else ''} with errors")
    if result.too_little_text:
        share = result.records_without_text / result.records_scanned
        reasons.append(
            f"{share:.0%} of the records gave no text to scan "
            f"(more than {result.max_without_text:.0%})"
        )
    return "; ".join(reasons)


def _print_without_text(result: ScanResult) -> None:
    if result.too_little_text:
        print(f"error: {_incomplete(result).split('; ')[-1]}", file=sys.stderr)
    for name in result.shapes_without_text:
        n = result.by_shape[name]["records"]
        print(
            f"warning: {name}: none of its {n} record{'s' if n > 1 else ''} gave text to scan",
            file=sys.stderr,
        )
    for item in result.without_text[:10]:
        record = f" [{item['record']}]" if item["record"] else ""
        print(f"warning: {item['file']}:{item['line']}{record}: {item['reason']}", file=sys.stderr)
    if result.records_without_text > 10:
        more = result.records_without_text - 10
        print(f"warning: {more} more records without text (see --json)", file=sys.stderr)


def _record(project: Project, result: ScanResult, paths: list[str]) -> None:
    from llmops.guard.history import record_scan

    try:
        record_scan(project.store, result, paths)
    except Exception as exc:  # history is a convenience: never fail the scan for it
        print(f"warning: scan not recorded in the results store: {exc}", file=sys.stderr)


@app.command("history")
def history_command(
    days: Annotated[int, typer.Option(min=1, help="How many days back.")] = 30,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write the rows as JSON ('-' = stdout).")
    ] = None,
) -> None:
    """Findings per day from the scans kept in the results store."""
    from llmops.cli._app import load
    from llmops.guard.history import daily

    project = load()
    rows = daily(project.store, days)
    if json_path is not None:
        write_json(rows, json_path)
        if json_path == "-":
            return
    if not rows:
        typer.echo(f"no guard scans in the last {days} days")
        return
    typer.echo(f"{'day':<12}{'scans':>6}{'records':>10}{'bad':>6}{'findings':>10}  top detectors")
    for row in rows:
        top = sorted(row["counts"].items(), key=lambda x: (-x[1], x[0]))[:3]
        tops = ", ".join(f"{name} {n}" for name, n in top)
        typer.echo(
            f"{row['day']:<12}{row['scans']:>6}{row['records_scanned']:>10}{row['bad_records']:>6}"
            f"{row['findings']:>10}  {tops}"
        )


@app.command("detectors")
def detectors_command() -> None:
    """List the detectors: name, version, category, severity, roles scanned by default."""
    from llmops.guard import DEFAULT_ROLES, known

    for d in known():
        roles = ",".join(DEFAULT_ROLES[d.category])
        typer.echo(
            f"{d.name:<30} v{d.version:<3} {d.category:<10} {d.severity:<7} {roles:<18} "
            f"{d.description}"
        )


@app.command("formats")
def formats_command() -> None:
    """List the log shapes `guard scan` detects (and `--format NAME` forces)."""
    from llmops.guard.readers import known_shapes

    for s in known_shapes():
        typer.echo(f"{s.name:<18} {s.description}  [{s.fields}]")
