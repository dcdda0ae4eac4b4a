"""The compare page: two prompt versions (or two runs) on the same eval set.

Two versions go through :func:`llmops.eval.prompt_diff.diff` (the template and config
diff, the paired comparison with its CI, the cases that moved); two runs compare their
candidate variants with :func:`llmops.eval.prompt_diff.compare_variants`. The cases come
side by side with a word-level diff of the outputs (already masked by the diff).
"""

from __future__ import annotations

import difflib
import re
from typing import TYPE_CHECKING, Any

from llmops.errors import UserError

if TYPE_CHECKING:
    from llmops.eval.prompt_diff import DiffResults
    from llmops.project import Project
    from llmops.store import ResultsStore, VariantRecord

CASES_PER_PAGE = 25  # word diffs are the costly part of the page
_WORDS = re.compile(r"\s+|[^\s]+")


def word_diff(a: str | None, b: str | None) -> list[dict[str, str]]:
    """``a`` → ``b`` as segments ``{"op": same|del|ins, "text": ...}``, word by word."""
    wa, wb = _WORDS.findall(a or ""), _WORDS.findall(b or "")
    out: list[dict[str, str]] = []
    matcher = difflib.SequenceMatcher(None, wa, wb, autojunk=False)
    for op, i1, i2, j1, j2 in matcher.get_opcodes():
        if op == "equal":
            out.append({"op": "same", "text": "".join(wa[i1:i2])})
            continue
        if i2 > i1:
            out.append({"op": "del", "text": "".join(wa[i1:i2])})
        if j2 > j1:
            out.append({"op": "ins", "text": "".join(wb[j1:j2])})
    return out


def compare_versions(project: Project, a: str, b: str, *, run: str | None = None,
                     suite: str | None = None, page: int = 1) -> dict[str, Any]:
    """Two versions (``NAME@VERSION`` or ``NAME@LABEL``) of a prompt."""
    from llmops.eval.prompt_diff import diff

    page = max(1, page)
    d = diff(project, a, b, suite=suite, run=run or None, top=CASES_PER_PAGE * page)
    data = d.model_dump(mode="json", exclude={"results"})
    data["mode"] = "versions"
    data["results"] = _results(d.results, page) if d.results is not None else None
    return data


def compare_runs(store: ResultsStore, run_a: str, run_b: str, *, prompt: str | None = None,
                 page: int = 1) -> dict[str, Any]:
    """The candidate variants (of ``prompt`` when given) of two runs."""
    from llmops.eval.prompt_diff import compare_variants

    page = max(1, page)
    va, vb = _pick(store, run_a, prompt), _pick(store, run_b, prompt)
    ia, ib = store.run(run_a), store.run(run_b)
    if ia.meta.get("evalset_digest") != ib.meta.get("evalset_digest"):
        raise UserError(f"runs {run_a} and {run_b} did not use the same eval set",
                        hint="compare two runs of the same suite and eval set")
    pair = ({"variant_id": va.variant_id, "run_id": run_a, "suite": ia.suite},
            {"variant_id": vb.variant_id, "run_id": run_b, "suite": ib.suite})
    name_a, name_b = f"{va.prompt}@{va.version} ({run_a})", f"{vb.prompt}@{vb.version} ({run_b})"
    res = compare_variants(store, pair, top=CASES_PER_PAGE * page, a_name=name_a, b_name=name_b)
    return {"mode": "runs", "a": name_a, "b": name_b, "a_digest": va.digest,
            "b_digest": vb.digest, "same_behaviour": va.digest == vb.digest,
            "messages": [], "params": [], "results_note": "",
            "results": _results(res, page)}


def _pick(store: ResultsStore, run_id: str, prompt: str | None) -> VariantRecord:
    variants = [v for v in store.variants(run_id) if prompt is None or v.prompt == prompt]
    if not variants:
        raise UserError(f"run {run_id!r} has no variant" + (f" of {prompt}" if prompt else ""))
    return next((v for v in variants if v.role == "candidate"), variants[-1])


def _results(res: DiffResults, page: int) -> dict[str, Any]:
    moved = res.moved[(page - 1) * CASES_PER_PAGE:]
    return {
        "suite": res.suite, "a_run": res.a_run, "b_run": res.b_run,
        "comparisons": [c.model_dump(mode="json") for c in res.comparisons],
        "page": page, "has_prev": page > 1,
        "has_next": len(res.moved) >= CASES_PER_PAGE * page,
        "cases": [{**m.model_dump(mode="json"), "words": word_diff(m.a_output, m.b_output)}
                  for m in moved],
    }
