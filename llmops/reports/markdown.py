"""summary.md: the evaluation as a pull-request comment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llmops.reports.cases import judge_lines, review_lines
from llmops.reports.markdown_text import code, html_text, inline

if TYPE_CHECKING:
    from llmops.eval.result import EvalResult, ScoreSummary, VariantResult
    from llmops.prompts import PromptVersion
    from llmops.reports import Report

MAX_LISTED = 20
GITHUB_COMMENT_LIMIT = 65_536  # characters in a GitHub comment
_MIN_COMPARISON = 8_000  # room kept for the comparison before fewer failing cases are listed


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}%"


def _score(s: ScoreSummary) -> str:
    if s.mean is None:
        return "n/a"
    if s.ci_low is None or s.ci_high is None:
        return f"{s.mean:.3f}"
    return f"{s.mean:.3f} [{s.ci_low:.3f}, {s.ci_high:.3f}]"


def _ms(x: float | None) -> str:
    return "–" if x is None else f"{x:.0f}"


def variant_table(result: EvalResult) -> list[str]:
    """The per-variant summary table (Markdown lines)."""
    keys = list(result.variants[0].summary.scores) if result.variants else []
    head = ["variant", "role", "pass rate", "errors", *map(inline, keys), "tokens in/out",
            "p50/p95 ms"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for v in result.variants:
        s = v.summary
        cells = [
            f"{code(v.label)} ({v.digest[:8]})", v.role, _pct(s.pass_rate),
            f"{s.n_errors}/{s.n_cases}",
            *(_score(s.scores[k]) for k in keys),
            f"{s.prompt_tokens}/{s.completion_tokens}",
            f"{_ms(s.latency_p50_ms)}/{_ms(s.latency_p95_ms)}",
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def _comparisons(
    result: EvalResult, versions: Mapping[str, PromptVersion] | None, max_chars: int
) -> list[str]:
    if not result.comparisons:
        return []
    try:
        from llmops.reports.comparison import comparison_markdown
    except ImportError:
        return _comparison_table(result)
    return ["", comparison_markdown(result, versions=versions, max_chars=max_chars).rstrip()]


def _comparison_table(result: EvalResult) -> list[str]:
    marks = {
        "improved": "🟢 improved", "regressed": "🔴 regressed", "inconclusive": "⚪ inconclusive"
    }
    lines = ["", f"### Compared with {code(result.comparisons[0].baseline)}", "",
             "| candidate | scorer | delta | 95% CI | verdict |", "|---|---|---|---|---|"]
    for c in result.comparisons:
        delta = "n/a" if c.delta is None else f"{c.delta:+.3f}"
        ci = "n/a" if c.ci_low is None else f"[{c.ci_low:+.3f}, {c.ci_high:+.3f}]"
        lines.append(f"| {code(c.candidate)} | {inline(c.scorer)} | {delta} | {ci} | "
                     f"{marks.get(c.verdict, c.verdict)} |")
    return lines


def _problems(v: VariantResult, listed: int = MAX_LISTED) -> list[str]:
    bad = [c for c in v.cases if c.error or not all(s.passed for s in c.scores.values())]
    if not bad:
        return []
    lines = ["", f"<details><summary><code>{html_text(v.label)}</code>: {len(bad)} case(s) "
             "errored or failed</summary>", "", "| case | problem | output |", "|---|---|---|"]
    for c in bad[:listed]:
        if c.error:
            problem = "error: " + c.error
        else:
            problem = ", ".join(
                f"{k} {'error' if s.value is None else f'{s.value:.2f}'}"
                for k, s in c.scores.items() if not s.passed
            )
        lines.append(f"| {code(c.id, 60)} | {inline(problem, 120)} "
                     f"| {inline(c.output or '', 120)} |")
    if len(bad) > listed:
        lines.append(f"| … | {len(bad) - listed} more in results.json | |")
    lines += ["", "</details>"]
    return lines


def summary_markdown(
    result: EvalResult,
    versions: Mapping[str, PromptVersion] | None = None,
    max_chars: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """The whole comment: verdict line, variant table, comparisons, gate, problem cases.

    The comment stays within ``max_chars`` (GitHub's limit by default): the comparison
    section gets whatever room the rest leaves, and says what it left out; when the
    rest alone is large, fewer errored or failing cases are listed.

    Args:
        result: the evaluation.
        versions: variant label (``name@version``) → version, so the comparison shows
            the prompt diffs.
        max_chars: the most characters the comment may have.
    """
    if result.exit_code == 3 and result.n_results and result.n_results == result.n_errored:
        verdict = "💥 every model call failed"
    elif result.exit_code == 3:
        verdict = "💥 a scorer could not score any case"
    else:
        verdict = "✅ passed" if result.gate.passed else "❌ gate failed"
    ev = result.evalset
    commit = ""
    if result.git_commit:
        commit = f" · commit `{result.git_commit[:10]}`" + (" (dirty)" if result.git_dirty else "")
    head = [
        f"## llmops eval {code(result.suite)}: {verdict}",
        "",
        f"Run {code(result.run_id)} · eval set {code(ev.get('path', ''))} "
        f"({ev.get('n_cases', 0)} cases,"
        f" digest `{str(ev.get('digest', ''))[:12]}`)" + (f" × {result.repeat} repeats"
                                                       if result.repeat > 1 else "") + commit,
        "",
        *variant_table(result),
        *_reused(result),
        *judge_lines(result),
    ]
    tail: list[str] = []
    if result.gate.reasons:
        tail += ["", "### Gate", ""] + [f"- {inline(r)}" for r in result.gate.reasons]
    if result.warnings:
        tail += ["", "### Warnings", ""] + [f"- {inline(w)}" for w in result.warnings]
    for listed in (MAX_LISTED, 5, 0):
        problems = [line for v in result.variants for line in _problems(v, listed)]
        problems += review_lines(result, listed)
        rest = len("\n".join(head + tail + problems)) + 1
        # The comparison adds two lines: an empty one and the section itself.
        room = max_chars - rest - 2
        if room >= _MIN_COMPARISON or not result.comparisons:
            break
    lines = [*head, *_comparisons(result, versions, max(room, 0)), *tail, *problems]
    return _fit("\n".join(lines) + "\n", max_chars)


def _reused(result: EvalResult) -> list[str]:
    lines = []
    for v in result.variants:
        if v.reused_from:
            lines.append(f"{code(v.label)}: results reused from run {code(v.reused_from)} "
                         "(same prompt, eval set, model and params; no model calls).")
        elif v.origin and v.origin.startswith("run:"):
            lines.append(f"{code(v.label)}: results of run {code(v.origin[4:])}, read from the "
                         "store.")
    return ["", *lines] if lines else []


def _fit(text: str, max_chars: int) -> str:
    """The last resort: cut at a line so the comment fits, and say so."""
    if len(text) <= max_chars:
        return text
    note = ("\n> **Shortened to fit a GitHub comment**: the end of this summary was left out; "
            "see `results.json`.\n")
    cut = text.rfind("\n", 0, max(max_chars - len(note), 0))
    return text[: max(cut, 0)] + note


def render(report: Report) -> str:
    """The report format's entry: the PR comment."""
    return summary_markdown(report.result, report.versions, report.summary_chars)
