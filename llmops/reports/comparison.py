"""The comparison section of ``summary.md``: verdicts, prompt diffs and per-case regressions.

A pull-request comment on GitHub holds at most 65,536 characters. The section is built in
order of importance (the comparison table, then the prompt diffs, then the regressed
cases) within a character budget; whatever does not fit is cut at a line or case
boundary and the section says what it left out.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from llmops.reports.cases import judges_of
from llmops.reports.markdown_text import code
from llmops.reports.markdown_text import html_text as _html
from llmops.reports.markdown_text import inline as _cell

if TYPE_CHECKING:
    from llmops.eval.prompt_diff import PromptDiff
    from llmops.prompts import PromptVersion

GITHUB_COMMENT_LIMIT = 65_536
DEFAULT_BUDGET = 45_000  # leaves room for the rest of summary.md (tables, failed cases)
_OUTPUT_CHARS = 600  # per output shown in a regressed case
_EPS = 1e-9


def comparison_markdown(
    result: Mapping[str, Any] | Any,
    *,
    versions: Mapping[str, PromptVersion] | None = None,
    diffs: Sequence[PromptDiff] = (),
    max_chars: int = DEFAULT_BUDGET,
    cases: bool = True,
) -> str:
    """Markdown for the comparisons of one eval run, at most ``max_chars`` long.

    Args:
        result: the run's machine-readable result (the ``--json`` shape: ``variants``
            with ``cases``, and ``comparisons``), as a dict or a model with ``to_json()``;
            or just the list of comparisons (then no per-case regressions are listed).
        versions: ``name@version`` → loaded version, to show the prompt diff of each
            compared pair (or pass ``diffs`` made by :func:`llmops.eval.prompt_diff.version_diff`).
        diffs: ready-made prompt diffs.
        max_chars: the character budget for this section.
        cases: list the cases that got worse (``summary.md`` lists them in its own
            "Cases to review" section, with their inputs and expected answers).

    Returns:
        The section, or an empty string when the run compared nothing.
    """
    if isinstance(result, list | tuple):  # only the comparisons: no cases to list
        result = {"comparisons": list(result)}
    data = _as_dict(result)
    comparisons = [_as_dict(c) for c in data.get("comparisons") or []]
    if not comparisons:
        return ""
    pairs = _pairs(comparisons)
    all_diffs = list(diffs) + _diffs_for(pairs, versions or {}, already=diffs)
    variants = variants_by_label(data.get("variants") or [])
    out = _Budget(max_chars)
    out.add_required(_table(comparisons, judges_of(data.get("variants") or [])))
    out.add_required(_flags(comparisons))
    for d in all_diffs:  # a long diff may not crowd out the regressed cases
        share = max(2_000, out.room() // (3 * len(all_diffs)))
        out.add_block(*_diff_block(d), f"the prompt diff {d.b} vs {d.a}", limit=share)
    for candidate, baseline in pairs if cases else []:
        regressed = regressed_cases(_cases_of(variants, candidate), _cases_of(variants, baseline))
        if regressed:
            out.add_cases(candidate, baseline, regressed)
    return out.text()


# --- pieces --------------------------------------------------------------------------


def _scorer_cell(scorer: str, judges: Mapping[str, list[str]]) -> str:
    """The scorer, and for a judged one the judge's model beside it."""
    names = judges.get(scorer)
    if not names:
        return _cell(scorer)
    return f"{_cell(scorer)} (judge: {', '.join(code(n, 80) for n in names)})"


def _table(
    comparisons: list[dict[str, Any]], judges: Mapping[str, list[str]] | None = None
) -> str:
    lines = [
        "### Comparison with the baseline",
        "",
        "| candidate | baseline | scorer | baseline mean | candidate mean | delta | 95% CI "
        "| verdict | cases |",
        "|---|---|---|---:|---:|---:|---|---|---:|",
    ]
    for c in comparisons:
        verdict = c["verdict"]
        shown = {"regressed": "**regressed** ▼", "improved": "improved ▲"}.get(verdict, verdict)
        ci = ("—" if c.get("ci_low") is None
              else f"{c['ci_low']:+.3f} … {c['ci_high']:+.3f}")
        lines.append(
            f"| {_cell(c['candidate'])} | {_cell(c['baseline'])} "
            f"| {_scorer_cell(c['scorer'], judges or {})} "
            f"| {_num(c.get('baseline_mean'))} | {_num(c.get('candidate_mean'))} "
            f"| {_num(c.get('delta'), signed=True)} | {ci} | {shown} | {_cases_cell(c)} |"
        )
    lines.append("")
    lines.append(
        "Paired bootstrap over the cases both versions share; a verdict needs the 95% CI "
        "to exclude 0 (and, for pass/fail scorers, an exact McNemar test to agree)."
    )
    return "\n".join(lines) + "\n"


def _cases_cell(c: Mapping[str, Any]) -> str:
    text = str(c.get("n_shared", "—"))
    missing = [
        f"{c[key]} {label}"
        for key, label in (
            ("n_missing_candidate", "missing in candidate"),
            ("n_missing_baseline", "missing in baseline"),
            ("n_errored_candidate", "errored in candidate"),
            ("n_errored_baseline", "errored in baseline"),
        )
        if c.get(key)
    ]
    return text + (f" ({', '.join(missing)})" if missing else "")


def _flags(comparisons: list[dict[str, Any]]) -> str:
    lines = []
    for c in comparisons:
        if c.get("delta") == 0 and c.get("ci_low") == 0 and c.get("ci_high") == 0:
            lines.append(
                f"- {_cell(c['scorer'])} ({_cell(c['candidate'])}): no change; every shared "
                "case scored the same on both sides."
            )
        elif c["verdict"] == "inconclusive" and str(c.get("reason", "")).startswith("exact"):
            lines.append(
                f"- {_cell(c['scorer'])} ({_cell(c['candidate'])}): inconclusive although the "
                f"CI excludes 0: {_cell(c['reason'])} ({c.get('n_improved_pairs') or 0} cases "
                f"fail → pass, {c.get('n_regressed_pairs') or 0} pass → fail); the fewest that "
                "can give a pass/fail verdict are 6 cases changing one way and none the other."
            )
        elif c["verdict"] == "inconclusive" and c.get("mde") is not None:
            lines.append(
                f"- {_cell(c['scorer'])} ({_cell(c['candidate'])}): inconclusive; with "
                f"{c.get('n_shared')} cases only changes larger than about {c['mde']:.3f} "
                "can be detected."
            )
        for side in ("candidate", "baseline"):
            flaky = c.get(f"flaky_{side}") or []
            if flaky:
                shown = ", ".join(code(f) for f in flaky[:10])
                more = f" and {len(flaky) - 10} more" if len(flaky) > 10 else ""
                lines.append(f"- {_cell(c['scorer'])}: flaky cases in the {side} "
                             f"(pass/fail changes across repeats): {shown}{more}")
    return ("\n".join(lines) + "\n") if lines else ""


def _diff_block(d: PromptDiff) -> tuple[list[str], list[str], list[str]]:
    body = list(d.messages) + list(d.params_diff)
    for change in d.rag:
        body.append(f"# {change.key}: {change.a!r} -> {change.b!r}")
    if d.variables_added or d.variables_removed:
        body.append(f"# variables: added {d.variables_added}, removed {d.variables_removed}")
    if not body:
        body = ["# no change in messages, params, variables or RAG config"]
    fence = _fence(body)
    head = [f"<details><summary>Prompt diff: {_html(d.a)} → {_html(d.b)}</summary>", "",
            f"{fence}diff"]
    return head, body, [fence, "", "</details>", ""]


def regressed_cases(
    candidate: Iterable[Mapping[str, Any]], baseline: Iterable[Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """Cases that got worse: a lower score, a pass turned fail, or a new error.

    Takes the ``cases`` lists of two variants in the ``--json`` shape; returns one
    entry per case, worst drop first.
    """
    base = {c["id"]: c for c in baseline}
    out = []
    for case in candidate:
        before = base.get(case["id"])
        if before is None:
            continue
        drops = _drops(case, before)
        new_error = case.get("error") is not None and before.get("error") is None
        if drops or new_error:
            worst = min((d["delta"] for d in drops if d["delta"] is not None), default=0.0)
            out.append({"id": case["id"], "drops": drops, "worst": worst,
                        "new_error": new_error, "candidate": case, "baseline": before})
    out.sort(key=lambda r: (not r["new_error"], r["worst"], str(r["id"])))
    return out


def _drops(case: Mapping[str, Any], before: Mapping[str, Any]) -> list[dict[str, Any]]:
    drops = []
    after_scores = case.get("scores") or {}
    for scorer, old in (before.get("scores") or {}).items():
        new = after_scores.get(scorer) or {}
        v0, v1 = old.get("value"), new.get("value")
        lower = v0 is not None and v1 is not None and v1 < v0 - _EPS
        flipped = old.get("passed") is True and new.get("passed") is not True
        if lower or flipped:
            delta = v1 - v0 if v0 is not None and v1 is not None else None
            drops.append({"scorer": scorer, "before": v0, "after": v1, "delta": delta,
                          "passed_before": old.get("passed"), "passed_after": new.get("passed")})
    return drops


def _case_block(entry: Mapping[str, Any]) -> str:
    rows = []
    for d in entry["drops"]:
        verdict = ("pass → fail" if d["passed_before"] is True and d["passed_after"] is not True
                   else "")
        rows.append(f"| {_cell(d['scorer'])} | {_num(d['before'])} | {_num(d['after'])} "
                    f"| {_num(d['delta'], signed=True)} | {verdict} |")
    cand, base = entry["candidate"], entry["baseline"]
    parts = [f"<details><summary><code>{_html(str(entry['id']))}</code>"
             f"{' — new error' if entry['new_error'] else ''}</summary>", ""]
    if rows:
        parts += ["| scorer | baseline | candidate | delta | |", "|---|---:|---:|---:|---|",
                  *rows, ""]
    parts += ["Baseline output:", "", _quoted(base), "", "Candidate output:", "",
              _quoted(cand), "", "</details>", ""]
    return "\n".join(parts) + "\n"


def _quoted(case: Mapping[str, Any]) -> str:
    if case.get("error") is not None:
        text = f"error: {case['error']}"
    else:
        text = str(case.get("output") or "")
    if len(text) > _OUTPUT_CHARS:
        text = text[:_OUTPUT_CHARS] + f"… ({len(text) - _OUTPUT_CHARS} more characters)"
    fence = _fence(text.splitlines())
    return f"{fence}text\n{text}\n{fence}"


# --- the budget ----------------------------------------------------------------------


class _Budget:
    """Appends parts while they fit, and keeps a note of everything left out."""

    _NOTE_RESERVE = 400

    def __init__(self, max_chars: int) -> None:
        self.max_chars = max_chars
        self.parts: list[str] = []
        self.size = 0
        self.left_out: list[str] = []

    def room(self) -> int:
        return self.max_chars - self._NOTE_RESERVE - self.size

    def add_required(self, text: str) -> None:
        if len(text) > self.room():  # even the table is too long: cut whole lines
            self.add_block([], text.splitlines(), [], "the comparison table")
            return
        self._append(text)

    def add_block(
        self, head: list[str], body: list[str], tail: list[str], what: str,
        limit: int | None = None,
    ) -> None:
        """Head and tail always (when they fit), as many body lines as there is room for."""
        room = self.room() if limit is None else min(limit, self.room())
        fixed = sum(len(line) + 1 for line in head + tail)
        if fixed + sum(len(line) + 1 for line in body) <= room:
            self._append("\n".join(head + body + tail) + "\n")
            return
        kept: list[str] = []
        used = fixed + 80  # the cut marker
        for line in body:
            if used + len(line) + 1 > room:
                break
            kept.append(line)
            used += len(line) + 1
        cut = len(body) - len(kept)
        if kept or fixed + 80 <= room:
            marker = [f"... {cut} more lines not shown"] if body else []
            self._append("\n".join(head + kept + marker + tail) + "\n")
        self.left_out.append(f"{cut} lines of {what}")

    def add_cases(self, candidate: str, baseline: str, cases: list[dict[str, Any]]) -> None:
        head = (f"#### Cases that got worse: {_cell(candidate)} vs {_cell(baseline)} "
                f"({len(cases)})\n\n")
        if len(head) + len(_case_block(cases[0])) > self.room():
            self.left_out.append(f"{len(cases)} of {len(cases)} regressed cases of {candidate}")
            return
        self._append(head)
        for shown, entry in enumerate(cases):
            block = _case_block(entry)
            if len(block) > self.room():
                self.left_out.append(
                    f"{len(cases) - shown} of {len(cases)} regressed cases of {candidate}")
                return
            self._append(block)

    def _append(self, text: str) -> None:
        self.parts.append(text)
        self.size += len(text)

    def text(self) -> str:
        body = "\n".join(self.parts)
        if self.left_out:
            note = ("\n> **Shortened to fit a GitHub comment.** Left out: "
                    + "; ".join(self.left_out)
                    + ". The full results are in `results.json` and the HTML report.\n")
            body = body[: self.max_chars - len(note)] + note
        return body[: self.max_chars]


# --- helpers -------------------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    for method in ("to_json", "model_dump"):
        fn = getattr(value, method, None)
        if fn is not None:
            out = fn()
            return dict(out) if isinstance(out, Mapping) else dict(_loads(out))
    raise TypeError(f"cannot read a result from {type(value).__name__}")


def _loads(text: str) -> Any:
    import json

    return json.loads(text)


def _pairs(comparisons: list[dict[str, Any]]) -> list[tuple[str, str]]:
    seen: dict[tuple[str, str], None] = {}
    for c in comparisons:
        seen[(str(c["candidate"]), str(c["baseline"]))] = None
    return list(seen)


def _ref(label: str) -> str:
    """``name@v2 (git:main)`` → ``name@v2``."""
    return label.split(" ", 1)[0]


def variant_label(v: Mapping[str, Any]) -> str:
    """How comparisons name a variant of the ``--json`` shape: ``name@v1 (git:main)``."""
    ref = f"{v.get('prompt')}@{v.get('version')}"
    return f"{ref} ({v['origin']})" if v.get("origin") else ref


def variants_by_label(variants: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    """Variant label → variant; the bare ``name@version`` also maps to a variant with an
    origin, unless a variant without one has that name."""
    out: dict[str, Mapping[str, Any]] = {}
    plain: set[str] = set()
    for v in variants:
        label, ref = variant_label(v), f"{v.get('prompt')}@{v.get('version')}"
        out[label] = v
        if label == ref:
            plain.add(ref)
        elif ref not in plain:
            out.setdefault(ref, v)
    return out


def _cases_of(variants: Mapping[str, Mapping[str, Any]], label: str) -> list[Any]:
    found = find_by_label(variants, label)
    return list(found.get("cases") or []) if found is not None else []


def find_by_label(by_label: Mapping[str, Any], label: str) -> Any:
    """The entry for a comparison's label: exact first, then without its origin."""
    found = by_label.get(label)
    return found if found is not None else by_label.get(_ref(label))


def _diffs_for(
    pairs: list[tuple[str, str]], versions: Mapping[str, PromptVersion],
    already: Sequence[PromptDiff],
) -> list[PromptDiff]:
    from llmops.eval.prompt_diff import version_diff

    done = {(d.b, d.a) for d in already}
    out = []
    for candidate, baseline in pairs:
        a, b = find_by_label(versions, baseline), find_by_label(versions, candidate)
        if a is not None and b is not None and (b.ref, a.ref) not in done:
            d = version_diff(a, b)
            d.a = baseline  # keep the baseline's origin (git:, run:) in the title
            out.append(d)
    return out


def _fence(lines: Iterable[str]) -> str:
    longest = max((len(run) for line in lines for run in _backtick_runs(line)), default=0)
    return "`" * max(3, longest + 1)


def _backtick_runs(line: str) -> list[str]:
    import re

    return re.findall(r"`+", line)


def _num(value: float | None, signed: bool = False) -> str:
    if value is None:
        return "—"
    return f"{value:+.3f}" if signed else f"{value:.3f}"
