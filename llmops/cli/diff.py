"""`llmops diff`: two prompt versions side by side."""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from llmops.cli._app import load, write_json

if TYPE_CHECKING:
    from llmops.eval.prompt_diff import PromptDiff

_OUTPUT_CHARS = 400  # per output in the side-by-side table; --json keeps them whole


def register(app: typer.Typer) -> None:
    """Add the command to the root app."""
    app.command("diff")(diff_command)


def diff_command(
    a: Annotated[
        str, typer.Argument(metavar="A",
                            help="The old version: NAME@VERSION, NAME@LABEL or git:REF[:X].")
    ],
    b: Annotated[str, typer.Argument(metavar="B", help="The new version, in the same forms.")],
    suite: Annotated[str | None, typer.Option("--suite", help="Use this suite's results.")] = None,
    run: Annotated[
        str | None, typer.Option("--run", help="Take both versions' results from this run.")
    ] = None,
    top: Annotated[int, typer.Option("--top", min=0, help="Cases that moved most to show.")] = 5,
    json_path: Annotated[
        str | None, typer.Option("--json", help="Write the diff as JSON ('-' = stdout).")
    ] = None,
) -> None:
    """Show what changed between two versions and, with results, what it did to scores."""
    from llmops.eval.prompt_diff import diff

    result = diff(load(), a, b, suite=suite, run=run, top=top)
    if json_path is not None:
        write_json(result.model_dump(mode="json"), json_path)
        if json_path == "-":
            return
    render(result)


def render(result: PromptDiff) -> None:
    """Print a diff; colours only on a terminal.

    Text lines are never wrapped: a unified-diff line cut in two loses its ``-``/``+``
    prefix. Off a terminal (``llmops diff a b > x.diff``) they are written as they are,
    without rich, so the file is a plain diff; only the results tables use rich.
    """
    from rich.console import Console

    console = Console(highlight=False)

    def line(text: str, style: str | None = None) -> None:
        if console.is_terminal:
            console.print(text, style=style, markup=False, emoji=False, soft_wrap=True)
        else:
            console.file.write(text + "\n")

    line(f"{result.a} → {result.b}  ({result.a_digest[:12]} → {result.b_digest[:12]})", "bold")
    if result.same_behaviour:
        line("same digest: the two versions behave identically")
    if result.description is not None:
        line(f"description: {result.description.a!r} → {result.description.b!r}")
    for text in result.messages + result.params_diff:
        line(text, _diff_style(text))
    if result.variables_added or result.variables_removed:
        line(f"variables: +{result.variables_added} -{result.variables_removed}")
    for change in result.rag:
        line(f"{change.key}: {change.a!r} → {change.b!r}")
    if result.results is None:
        if result.results_note:
            line(result.results_note, "dim")
        return
    _render_results(console, result)


def _diff_style(line: str) -> str | None:
    if line.startswith(("+++", "---")):
        return "bold"
    if line.startswith("@@"):
        return "cyan"
    if line.startswith("+"):
        return "green"
    if line.startswith("-"):
        return "red"
    return None


def _render_results(console: Any, result: PromptDiff) -> None:
    from rich.table import Table

    assert result.results is not None
    res = result.results
    runs = res.a_run if res.a_run == res.b_run else f"{res.a_run} / {res.b_run}"
    table = Table(title=f"suite {res.suite}, run {runs}: {result.b} vs {result.a}")
    for column in ("scorer", "baseline", "candidate", "delta", "95% CI", "verdict", "n"):
        table.add_column(column)
    for c in res.comparisons:
        table.add_row(
            c.scorer, _num(c.baseline_mean), _num(c.candidate_mean), _num(c.delta, signed=True),
            "—" if c.ci_low is None else f"{c.ci_low:+.3f} … {c.ci_high:+.3f}",
            c.verdict, str(c.n_shared),
        )
    console.print(table)
    if not res.moved:
        return
    moved = Table(title="cases that moved most", show_lines=True)
    moved.add_column("case")
    moved.add_column("delta")
    moved.add_column(result.a, overflow="fold")
    moved.add_column(result.b, overflow="fold")
    for case in res.moved:
        deltas = "\n".join(f"{k} {v:+.3f}" for k, v in case.deltas.items())
        moved.add_row(case.case_id, deltas, _output(case.a_output, case.a_error),
                      _output(case.b_output, case.b_error))
    console.print(moved)


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"


def _output(text: str | None, error: str | None) -> str:
    if error is not None:
        return f"error: {error}"
    text = text or ""
    return text if len(text) <= _OUTPUT_CHARS else text[:_OUTPUT_CHARS] + "…"
