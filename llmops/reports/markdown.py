"""summary.md: the evaluation as a pull-request comment."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from llmops.reports.cases import judge_lines, review_section
from llmops.reports.markdown_text import code, inline

if TYPE_CHECKING:
    from llmops.eval.result import EvalResult, ScoreSummary
    from llmops.prompts import PromptVersion
    from llmops.reports import Report

GITHUB_COMMENT_LIMIT = 65_536  # characters in a GitHub comment
_MIN_COMPARISON = 8_000  # room the comparison may take even when the rest is large


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
    text = comparison_markdown(result, versions=versions, max_chars=max_chars, cases=False)
    return ["", text.rstrip()]


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


def summary_markdown(
    result: EvalResult,
    versions: Mapping[str, PromptVersion] | None = None,
    max_chars: int = GITHUB_COMMENT_LIMIT,
) -> str:
    """The whole comment: verdict line, variant table, comparisons, gate, cases to review.

    The comment stays within ``max_chars`` (GitHub's limit by default) by listing fewer
    cases, never by leaving out the verdict table: the comparison (table, then prompt
    diffs) comes first, within half the room; the cases to review, worse first, fill
    what is left, and the summary says how many more are in ``results.json``.

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
    room = max_chars - len("\n".join(head + tail)) - 2
    comparison = _comparisons(result, versions, max(room // 2, _MIN_COMPARISON))
    used = len("\n".join(head + comparison + tail)) + 1
    cases = review_section(result, max_chars - used - 1)
    return _fit("\n".join([*head, *comparison, *tail, *cases]) + "\n", max_chars)


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
