"""The cases a reviewer needs to see: input, expected answer, both outputs, scorer details.

For each candidate, the cases it failed or errored, those the baseline passed first
(the cases that got worse). Texts arrive masked (:func:`llmops.eval.result.load_cases`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from llmops.reports.markdown_text import code, html_code, inline

if TYPE_CHECKING:
    from llmops.eval.result import CaseResult, CaseScore, EvalResult, VariantResult


def flat(text: str, limit: int = 300) -> str:
    """One line of literal Markdown table text (:func:`llmops.reports.markdown_text.inline`)."""
    return inline(text, limit)


def _inputs(variables: dict[str, Any] | None) -> str:
    return "; ".join(f"{k}: {v if isinstance(v, str) else json.dumps(v, ensure_ascii=False)}"
                     for k, v in (variables or {}).items())


# Identities: the judge's model is named beside its verdicts; the rest is in results.json.
_SHOWN_ELSEWHERE = frozenset({"embedder", "judge", "judge_prompt", "judge_prompt_digest"})


def detail_text(details: dict[str, Any] | None) -> str:
    """A scorer's detail in a few words: reason, detectors fired, numbers."""
    if not details:
        return ""
    parts = []
    for key, value in details.items():
        if key in _SHOWN_ELSEWHERE:
            continue
        if key == "findings" and isinstance(value, list):
            names = sorted({str(f.get("detector", f.get("kind", "?"))) for f in value
                            if isinstance(f, dict)})
            parts.append("fired: " + ", ".join(names))
        elif isinstance(value, float):
            parts.append(f"{key} {value:.3f}")
        elif isinstance(value, str | int | bool) or value is None:
            parts.append(f"{key}: {value}")
        else:
            parts.append(f"{key}: {json.dumps(value, ensure_ascii=False)[:200]}")
    return "; ".join(parts)


def score_text(key: str, s: CaseScore) -> str:
    value = "error" if s.value is None else f"{s.value:.2f}"
    mark = "✓" if s.passed else "✗"
    detail = s.error or detail_text(s.details)
    return f"{key} {value} {mark}" + (f" ({detail})" if detail else "")


def _failed(c: CaseResult) -> bool:
    return bool(c.error) or not all(s.passed for s in c.scores.values())


def _worse(c: CaseResult, b: CaseResult | None) -> bool:
    """The candidate errored or failed a scorer where the baseline passed."""
    if b is None or b.error:
        return False
    if c.error:
        return True
    return any(not s.passed and b.scores.get(k) is not None and b.scores[k].passed
               for k, s in c.scores.items())


Review = tuple["VariantResult", "CaseResult", "CaseResult | None"]


def cases_to_review(result: EvalResult) -> list[Review]:
    """(candidate, its failed case, the baseline's same case), worse cases first; in a
    run with no candidate, the baseline's failed cases."""
    baseline = next((v for v in result.variants if v.role == "baseline"), None)
    base_cases = {(c.id, c.repeat): c for c in baseline.cases} if baseline else {}
    shown = [v for v in result.variants if v.role == "candidate"] or result.variants[:1]
    found = []
    for v in shown:
        for c in v.cases:
            if _failed(c):
                b = base_cases.get((c.id, c.repeat)) if v is not baseline else None
                found.append((not _worse(c, b), v, c, b))
    found.sort(key=lambda t: t[0])
    return [(v, c, b) for _, v, c, b in found]


def review_section(result: EvalResult, max_chars: int) -> list[str]:
    """The "Cases to review" section of the summary: as many cases as ``max_chars``
    holds, worse ones first, and how many more are in results.json (empty when none)."""
    cases = cases_to_review(result)
    if not cases:
        return []
    baseline = next((v for v in result.variants if v.role == "baseline"), None)
    head = ["", f"### Cases to review ({len(cases)})", ""]
    lines, size = list(head), len("\n".join(head)) + 60  # 60: room for the closing line
    listed = 0
    for v, c, b in cases:
        block = _review_block(v, c, b, baseline)
        cost = len("\n".join(block)) + 1
        if size + cost > max_chars:
            break
        lines += block
        size += cost
        listed += 1
    if listed == 0:
        return ["", f"### Cases to review ({len(cases)}): listed in results.json"]
    if listed < len(cases):
        lines += ["", f"{len(cases) - listed} more in results.json."]
    return lines


def _review_block(
    v: VariantResult, c: CaseResult, b: CaseResult | None, baseline: VariantResult | None
) -> list[str]:
    """One case: input, expected answer, both outputs with each scorer's detail."""
    worse = _worse(c, b)
    lines = [f"<details><summary>{html_code(c.id, 80)}: "
             f"{'worse than the baseline' if worse else 'failed'} "
             f"({html_code(v.label, 80)})</summary>", "", "| | |", "|---|---|"]
    lines.append(f"| input | {flat(_inputs(c.vars)) or '–'} |")
    expected = c.expected if isinstance(c.expected, str) or c.expected is None \
        else " / ".join(c.expected)
    lines.append(f"| expected | {flat(expected or '–')} |")
    if b is not None and baseline is not None:
        lines.append(_output_row(baseline.label, b))
    return [*lines, _output_row(v.label, c), "", "</details>"]


def _output_row(label: str, c: CaseResult) -> str:
    out = f"error: {c.error}" if c.error else (c.output or "")
    scores = "; ".join(score_text(k, s) for k, s in c.scores.items())
    return f"| {flat(label, 80)} | {flat(out)}<br>{flat(scores)} |"


def judges_of(variants: Iterable[Mapping[str, Any]]) -> dict[str, list[str]]:
    """Scorer key → the models that judged its scores (``details.judge``), sorted."""
    found: dict[str, set[str]] = {}
    for v in variants:
        for case in v.get("cases") or []:
            for key, score in (case.get("scores") or {}).items():
                judge = (score.get("details") or {}).get("judge")
                if judge:
                    found.setdefault(key, set()).add(str(judge))
    return {key: sorted(names) for key, names in found.items()}


def judge_lines(result: EvalResult) -> list[str]:
    """Per judged scorer: the judge's model, how often its probabilities were too flat to
    weight (the parsed score stood), and a warning when it is the bundled local model."""
    judges: dict[str, set[str]] = {}
    flat: dict[str, list[int]] = {}
    for v in result.variants:
        for c in v.cases:
            for key, s in c.scores.items():
                d = s.details or {}
                if not d.get("judge"):
                    continue
                judges.setdefault(key, set()).add(str(d["judge"]))
                counts = flat.setdefault(key, [0, 0])
                counts[1] += 1
                counts[0] += "flat_distribution" in d
    lines = []
    for key, names in judges.items():
        who = ", ".join(code(name) for name in sorted(names))
        n_flat, n = flat[key]
        line = f"Judge of {code(key)}: {who}"
        if n_flat:
            line += (f" · {n_flat} of {n} scores are the parsed score: the judge's "
                     "probabilities were too flat to weight")
        lines.append(line + ".")
        if any(name.startswith("local:") for name in names):
            lines.append(f"> ⚠️ {code(key)} is judged by the bundled local model: a rough signal, "
                         "not a verdict to trust; set `judge:` in llmops.yaml to a stronger "
                         "model.")
    return ["", *lines] if lines else []
