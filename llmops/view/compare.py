"""The compare page: two prompt versions (or two runs) on the same eval set.

Two versions go through :func:`llmops.eval.prompt_diff.diff` (the template and config
diff, the paired comparison with its CI, the cases that moved); two runs compare their
candidate variants with :func:`llmops.eval.prompt_diff.compare_variants`. The cases come
side by side with a word-level diff of the outputs (already masked by the diff).
"""

from __future__ import annotations

import contextlib
import difflib
import re
from typing import TYPE_CHECKING, Any

from llmops.errors import LlmopsError, UserError

if TYPE_CHECKING:
    from llmops.eval.prompt_diff import DiffResults
    from llmops.project import Project
    from llmops.prompts import PromptVersion
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


def compare_versions(project: Project, store: ResultsStore, a: str, b: str, *,
                     run: str | None = None, suite: str | None = None,
                     page: int = 1) -> dict[str, Any]:
    """Two versions (``NAME@VERSION`` or ``NAME@LABEL``) of a prompt, results from ``store``."""
    from llmops.eval.prompt_diff import diff

    page = max(1, page)
    d = diff(project, a, b, suite=suite, run=run or None, top=CASES_PER_PAGE * page,
             store=store)
    data = d.model_dump(mode="json", exclude={"results"})
    data["mode"] = "versions"
    data["results"] = _results(d.results, page) if d.results is not None else None
    return data


def compare_runs(project: Project, store: ResultsStore, run_a: str, run_b: str, *,
                 prompt: str | None = None, page: int = 1) -> dict[str, Any]:
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
            **_stored_config_diff(project, va, vb), "results_note": "",
            "results": _results(res, page)}


def _stored_config_diff(project: Project, va: VariantRecord, vb: VariantRecord
                        ) -> dict[str, Any]:
    """The template diff (when the working tree still holds both versions, same digests)
    and the config diff from what the runs stored: model and params as sent."""
    from llmops.eval.prompt_diff import version_diff
    from llmops.prompts import load_registry

    config_a = {"model": va.model, "provider": va.provider, **va.params}
    config_b = {"model": vb.model, "provider": vb.provider, **vb.params}
    params = [{"key": k, "a": config_a.get(k), "b": config_b.get(k)}
              for k in sorted(set(config_a) | set(config_b)) if config_a.get(k) != config_b.get(k)]
    out: dict[str, Any] = {"params": params, "messages": [], "template_note": ""}
    if va.digest == vb.digest:
        return out
    a: PromptVersion | None = None
    b: PromptVersion | None = None
    with contextlib.suppress(LlmopsError):
        registry = load_registry(project)
        a, b = registry.get(va.prompt, va.version), registry.get(vb.prompt, vb.version)
    if a is None or b is None or (a.digest, b.digest) != (va.digest, vb.digest):
        out["template_note"] = ("the templates the runs used are not both in the working tree "
                                "(or they changed since): only the stored config is compared")
        return out
    out["messages"] = version_diff(a, b).messages
    return out


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
