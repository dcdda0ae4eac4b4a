"""`llmops eval`: parse options, call :func:`llmops.eval.evaluate_suites`, render."""

from __future__ import annotations

import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._app import load
from llmops.eval.options import EvalOptions, parse_formats
from llmops.reports import FORMATS, default_formats

FORMAT_HELP = (
    f"Report formats: {','.join(FORMATS)} (or none; default {','.join(default_formats())})."
)

if TYPE_CHECKING:
    from llmops.eval.result import EvalResult
    from llmops.providers.base import RateStatus


class _PlainProgress:
    """Progress as occasional plain lines on stderr (CI logs, pipes)."""

    every_s = 5.0

    def __init__(self) -> None:
        self.total = self.done = self.errors = self.cached = 0
        self.suite = ""
        self._last = 0.0
        self._next_pct = 10
        self._rate: Callable[[], RateStatus | None] = lambda: None
        self.started_at = 0
        self.judged_n: dict[str, int] = {}
        self._judge_last = 0.0

    def watch(self, rate_status: Callable[[], RateStatus | None]) -> None:
        self._rate = rate_status

    def rate(self) -> str:
        """``, concurrency 16/32, 12 429s`` for a rate-limited endpoint, else ''."""
        status = self._rate()
        if status is None:
            return ""
        paused = f", paused {status.paused_s:.1f} s" if status.paused_s else ""
        return (f", concurrency {status.concurrency}/{status.max_concurrency}, "
                f"{status.rate_limited} 429s{paused}")

    def start(self, suite: str, run_id: str, total: int, done: int) -> None:
        self.suite, self.total, self.done = suite, total, done
        self.errors = self.cached = 0
        self.started_at = done
        self.judged_n = {}
        self._last = time.monotonic()
        resumed = f", {done} already done" if done else ""
        typer.echo(f"{suite}: run {run_id}, {total} calls{resumed}", err=True)

    def advance(self, variant: str, ok: bool, cached: bool) -> None:
        self.done += 1
        self.errors += not ok
        self.cached += cached
        pct = 100 * self.done // max(self.total, 1)
        now = time.monotonic()
        if pct >= self._next_pct or now - self._last >= self.every_s:
            self._next_pct = pct - pct % 10 + 10
            self._last = now
            self.line()

    def line(self) -> None:
        typer.echo(
            f"{self.suite}: {self.done}/{self.total} done, {self.errors} errors, "
            f"{self.cached} cached{self.rate()}",
            err=True,
        )

    def outputs(self) -> int:
        """Outputs this process made (what a judge has to score)."""
        return max(self.done - self.started_at - self.errors, 0)

    def judged(self, scorer: str, ok: bool) -> None:
        n = self.judged_n[scorer] = self.judged_n.get(scorer, 0) + 1
        now = time.monotonic()
        if n == 1 or n >= self.outputs() or now - self._judge_last >= self.every_s:
            self._judge_last = now
            self.judge_line(scorer)

    def judge_line(self, scorer: str) -> None:
        typer.echo(f"{self.suite}: {scorer} judged {self.judged_n[scorer]}/{self.outputs()} "
                   "outputs", err=True)

    def finish(self) -> None:
        pass

    def warn(self, message: str) -> None:
        typer.echo(f"warning: {message}", err=True)


class _RichProgress(_PlainProgress):
    """A live progress bar on a terminal."""

    def __init__(self) -> None:
        super().__init__()
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeRemainingColumn

        self.bar = Progress(
            "[bold]{task.description}",
            BarColumn(),
            MofNCompleteColumn(),
            "{task.fields[errors]} errors",
            "{task.fields[cached]} cached{task.fields[rate]}",
            TimeRemainingColumn(),
            console=Console(stderr=True),
            transient=True,
        )
        self.task: Any = None
        self.judge_tasks: dict[str, Any] = {}

    def start(self, suite: str, run_id: str, total: int, done: int) -> None:
        super().start(suite, run_id, total, done)
        self.judge_tasks = {}
        self.bar.start()
        self.task = self.bar.add_task(suite, total=total, completed=done, errors=0, cached=0,
                                      rate="")

    def advance(self, variant: str, ok: bool, cached: bool) -> None:
        self.done += 1
        self.errors += not ok
        self.cached += cached
        self.bar.update(self.task, advance=1, errors=self.errors, cached=self.cached,
                        rate=self.rate())

    def judged(self, scorer: str, ok: bool) -> None:
        n = self.judged_n[scorer] = self.judged_n.get(scorer, 0) + 1
        if scorer not in self.judge_tasks:
            self.judge_tasks[scorer] = self.bar.add_task(
                f"{self.suite}: {scorer} judging", total=None, errors="–", cached="–",
                rate="")
        self.bar.update(self.judge_tasks[scorer], completed=n, total=max(self.outputs(), n))

    def finish(self) -> None:
        self.bar.stop()
        self.line()
        for scorer in self.judge_tasks:
            self.judge_line(scorer)


def _summary_lines(result: EvalResult) -> list[list[str]]:
    keys = list(result.variants[0].summary.scores) if result.variants else []
    rows = [["variant", "role", *keys, "pass rate", "errors", "tokens in/out", "p50/p95 ms"]]
    for v in result.variants:
        s = v.summary

        def ms(x: float | None) -> str:
            return "-" if x is None else f"{x:.0f}"

        rows.append(
            [
                v.label,
                v.role,
                *("n/a" if s.scores[k].mean is None else f"{s.scores[k].mean:.3f}" for k in keys),
                "n/a" if s.pass_rate is None else f"{100 * s.pass_rate:.1f}%",
                f"{s.n_errors}/{s.n_cases}",
                f"{s.prompt_tokens}/{s.completion_tokens}",
                f"{ms(s.latency_p50_ms)}/{ms(s.latency_p95_ms)}",
            ]
        )
    return rows


def failure(result: EvalResult) -> str:
    """Why a run ended with exit code 3: every model call failed, or a scorer scored nothing."""
    if result.n_results and result.n_results == result.n_errored:
        first = next((v.summary.first_error for v in result.variants if v.summary.first_error), "")
        return f"every model call failed ({first})"
    unscorable = [w for w in result.warnings if "could not score any case" in w]
    if unscorable:
        return "; ".join(unscorable)
    return "runtime failure"


def render(result: EvalResult, err: bool) -> None:
    """The summary table, errors, comparisons and gate verdict of one suite."""
    from rich.console import Console
    from rich.table import Table

    stream = sys.stderr if err else sys.stdout
    # Not a terminal (CI logs, pipes): no 80-column limit, so no column is cut short.
    width = None if stream.isatty() else 200
    console = Console(stderr=err, highlight=False, soft_wrap=True, width=width)
    rows = _summary_lines(result)
    table = Table(title=f"{result.suite} · run {result.run_id}", title_justify="left")
    for head in rows[0]:
        table.add_column(head, justify="left" if head in ("variant", "role") else "right")
    for row in rows[1:]:
        table.add_row(*row)
    console.print(table)
    for v in result.variants:
        errored = [c for c in v.cases if c.error]
        for c in errored[:5]:
            console.print(f"  error {v.label} case {c.id}: {c.error}", markup=False)
        if len(errored) > 5:
            console.print(f"  ... and {len(errored) - 5} more errored cases in {v.label}")
    for v in result.variants:
        if v.reused_from:
            console.print(f"  {v.label}: results reused from run {v.reused_from} "
                          "(no model calls)", markup=False)
    for comp in result.comparisons:
        console.print(f"  {comp.candidate} vs {comp.baseline}: {comp.description}", markup=False)
    for label, by_scorer in result.agreement.items():
        for key, a in by_scorer.items():
            rho = "n/a" if a["spearman"] is None else f"{a['spearman']:.2f}"
            acc = "n/a" if a["accuracy"] is None else f"{a['accuracy']:.0%}"
            console.print(f"  {label} {key} vs human labels (n={a['n']}): "
                          f"Spearman {rho}, agreement at {a['threshold']:g}: {acc}", markup=False)
    for w in result.warnings:
        console.print(f"  warning: {w}", markup=False)
    if result.report_dir:
        console.print(f"  reports: {result.report_dir}", markup=False)
    if result.exit_code == 3:
        console.print(f"FAILED: {failure(result)}", markup=False)
    elif result.gate.passed:
        console.print("gate passed")
    else:
        console.print("gate FAILED: " + "; ".join(result.gate.reasons), markup=False)


def _interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt


def _run(suite: str | None, options: EvalOptions) -> list[EvalResult]:
    from llmops.eval.run import evaluate, evaluate_suites

    project = load()
    progress = _RichProgress() if sys.stderr.isatty() else _PlainProgress()
    if options.resume:  # SUITE, when given, must be the run's suite
        return [evaluate(project, suite, options, progress=progress)]
    return evaluate_suites(project, [suite] if suite else [], options, progress=progress)


def register(app: typer.Typer) -> None:
    """Add the command to the root app."""

    @app.command("eval")
    def eval_command(
        suite: Annotated[
            str | None, typer.Argument(metavar="SUITE", help="Suite to run (default: all).")
        ] = None,
        prompt: Annotated[
            list[str] | None,
            typer.Option(
                "--prompt", "-p", metavar="NAME@REF", help="Candidate version (repeatable)."
            ),
        ] = None,
        baseline: Annotated[
            str | None,
            typer.Option(
                metavar="REF",
                help="Compared with: LABEL, VERSION, NAME@REF, git:REF[:REF], run:RUN_ID[:VERSION]"
                " (default: production).",
            ),
        ] = None,
        repeat: Annotated[
            int, typer.Option(min=1, metavar="N", help="Calls per case and variant.")
        ] = 1,
        concurrency: Annotated[
            int | None, typer.Option(min=1, metavar="N", help="Calls in flight at once.")
        ] = None,
        no_cache: Annotated[
            bool, typer.Option("--no-cache", help="Ignore cached answers.")
        ] = False,
        no_reuse: Annotated[
            bool,
            typer.Option("--no-reuse", help="Evaluate the baseline again, even when a stored "
                         "run already has its results."),
        ] = False,
        resume: Annotated[
            str | None, typer.Option(metavar="RUN_ID", help="Finish an interrupted run.")
        ] = None,
        json_path: Annotated[
            str | None,
            typer.Option("--json", metavar="PATH", help="Write the result as JSON ('-' = stdout)."),
        ] = None,
        report_dir: Annotated[
            Path | None, typer.Option(metavar="DIR", help="Directory for <run_id>/ reports.")
        ] = None,
        format: Annotated[
            str | None,
            typer.Option("--format", metavar="LIST", help=FORMAT_HELP),
        ] = None,
        require_fresh: Annotated[
            bool, typer.Option("--require-fresh", help="Fail (exit 1) on a stale RAG index.")
        ] = False,
        max_time: Annotated[
            float | None,
            typer.Option("--max-time", min=0.001, metavar="SECONDS",
                         help="Stop after this long (exit 3, finished results kept for "
                         "--resume)."),
        ] = None,
    ) -> None:
        """Run suites: every variant on every case, scored, compared and gated."""
        # SIGTERM (a CI job cancelled) stops the run like Ctrl-C: finished results are
        # written and the run is marked interrupted, ready for --resume.
        previous = signal.signal(signal.SIGTERM, _interrupt)
        try:
            options = EvalOptions(
                prompts=tuple(prompt or ()), baseline=baseline, repeat=repeat,
                concurrency=concurrency, no_cache=no_cache, resume=resume,
                report_dir=report_dir, formats=None if format is None else parse_formats(format),
                require_fresh=require_fresh, reuse=not no_reuse, max_time_s=max_time,
            )
            if json_path and json_path != "-":  # found before any call, like the reports folder
                from llmops._files import check_file_writable

                check_file_writable(json_path)
            results = _run(suite, options)
        finally:
            signal.signal(signal.SIGTERM, previous)
        to_stdout = json_path == "-"
        for r in results:
            render(r, err=to_stdout)
        if json_path:
            from llmops.reports.json import write_results_json

            write_results_json(results, json_path)
        code = max(r.exit_code for r in results)
        if code == 3:
            failed = next(r for r in results if r.exit_code == 3)
            typer.echo(f"error: {failed.suite}: {failure(failed)}", err=True)
        if code:
            raise typer.Exit(code)
