"""``rubric``: an LLM judge grades each output against criteria, on a 1-5 scale.

The judge is the project's ``judge:`` endpoint (the provider under test when unset),
called through the provider layer, so its answers are cached, retried and bounded like
any model call. The judge prompt is a versioned template (``llmops/judge/rubric/v1.yaml``
unless ``prompt: NAME@REF`` names one of the project's prompt versions); its reference
and digest are stored with every score.

The score is the G-Eval probability-weighted mean of the score tokens when the endpoint
returns logprobs and they are informative (one score holds at least half the mass), else
the parsed integer (``details.flat_distribution`` keeps a flat one); 1-5 is mapped to 0-1.
An answer without a usable score is asked again once, then recorded as an error — never
a pass.

Options:
    criteria: what to grade (added to each case's own `rubric`).
    preset: correctness (vs `expected`), groundedness (vs retrieved context),
        relevance (answers the question).
    threshold: the 0-1 score at or above which a case passes (default 0.75, i.e. 4 of 5).
    samples: ask the judge N times; the score is the mean, ``details.spread`` the stdev.
    prompt: NAME@REF of a project prompt version to use as the judge prompt.
    temperature: the judge's temperature (default: the judge prompt's, else 0; 0.7 with
        samples > 1 when that would be 0).
    logprobs: ask for token logprobs for G-Eval weighting (default true).
    json_mode: the response_format asked for: ``auto`` (default: a JSON schema, then
        llama.cpp's ``json_object`` + schema, then none, stepping down when the endpoint
        rejects one), ``json_schema``, ``json_object`` or ``off``. The answer is parsed
        tolerantly whatever the endpoint returns.
"""

from __future__ import annotations

import asyncio
import statistics
from typing import TYPE_CHECKING, Any

from llmops.errors import EvalSetError, UserError
from llmops.scorers import _judge_prompt as jp
from llmops.scorers._common import expected_texts, require_expected
from llmops.scorers._judge import (
    JudgeParseError,
    informative,
    normalise,
    parse_verdict,
    weighted_score,
)
from llmops.scorers.base import Sample, Score, ScorerContext
from llmops.scorers.registry import scorer

if TYPE_CHECKING:
    from llmops.evalsets import Case
    from llmops.providers.base import Provider

PRESETS = {
    "correctness": "The answer is factually consistent with the reference answer: it states "
    "the same key facts and contradicts none of them. Missing key facts lowers the score.",
    "groundedness": "Every claim in the answer is supported by the context. Claims the "
    "context does not support lower the score; saying the context does not contain the "
    "answer, when it does not, is grounded.",
    "relevance": "The answer addresses the question that was asked, directly and "
    "completely, without unrelated content.",
}

RESPONSE_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "enum": [1, 2, 3, 4, 5]},
        "reason": {"type": "string"},
    },
    "required": ["score", "reason"],
    "additionalProperties": False,
}
_JSON_SCHEMA = {
    "type": "json_schema",
    "json_schema": {"name": "judgement", "schema": RESPONSE_SCHEMA},
}
# llama.cpp's server knows only "text" and "json_object"; it takes a schema inside the latter.
_JSON_OBJECT_SCHEMA = {"type": "json_object", "schema": RESPONSE_SCHEMA}
JSON_MODES: dict[str, list[dict[str, Any] | None]] = {
    "auto": [_JSON_SCHEMA, _JSON_OBJECT_SCHEMA, None],
    "json_schema": [_JSON_SCHEMA],
    "json_object": [{"type": "json_object"}],
    "off": [None],
}


def _rejects_format(exc: Exception) -> bool:
    text = str(exc).lower()
    return "response_format" in text or "json_schema" in text


class Rubric:
    def __init__(
        self,
        *,
        criteria: str | None,
        preset: str | None,
        threshold: float,
        samples: int,
        params: dict[str, Any],
        formats: list[dict[str, Any] | None],
        template: jp.JudgePrompt,
        ctx: ScorerContext,
    ) -> None:
        self.formats = formats
        self._format_at = 0
        self.criteria = criteria
        self.preset = preset
        self.threshold = threshold
        self.samples = samples
        self.params = params
        self.template = template
        self.ctx = ctx
        self._provider: Provider | None = None

    def validate(self, cases: list[Case]) -> None:
        if self.preset == "correctness":
            require_expected(cases, "rubric (preset correctness)", self.ctx)
        for case in cases:
            # A judge prompt that cannot render fails here, before any model call.
            self.template.render(self._variables(Sample(case, "")))
            if self.criteria or self.preset:
                continue
            if not (case.rubric and case.rubric.strip()):
                raise EvalSetError(
                    f"case {case.id!r} has no `rubric` and the rubric scorer has no criteria",
                    file=self.ctx.evalset,
                    line=case.line,
                    hint="add `rubric` to the case, or `criteria:` or `preset:` to the scorer",
                )

    def provider(self) -> Provider:
        if self._provider is None:
            given = self.ctx.extras.get("judge_provider")
            if given is not None:
                self._provider = given
            else:
                from llmops.providers import make_provider

                assert self.ctx.project is not None  # checked when the scorer was built
                cache = self.ctx.extras.get("cache_path") or self.ctx.cache_path("cache.db")
                judge = self.ctx.extras.get("judge_config") or self.ctx.project.judge
                self._provider = make_provider(
                    judge, cache_path=cache, no_cache=self.ctx.no_cache,
                    root=self.ctx.project.root,
                )
        return self._provider

    async def aclose(self) -> None:
        if self._provider is not None and "judge_provider" not in self.ctx.extras:
            await self._provider.aclose()
        self._provider = None

    def _criteria_for(self, case: Case) -> str:
        parts = [PRESETS[self.preset]] if self.preset else []
        parts += [t.strip() for t in (self.criteria, case.rubric) if t and t.strip()]
        return "\n".join(f"- {p}" for p in parts)

    def _variables(self, sample: Sample) -> dict[str, Any]:
        expected = expected_texts(sample.case)
        context = [str(c.get("text", "")) for c in sample.retrieved or []]
        return {
            "criteria": self._criteria_for(sample.case),
            "question": jp.question_of(sample),
            "answer": sample.output,
            "expected": "\n".join(expected) if expected else None,
            "context": context or None,
        }

    async def score(self, samples: list[Sample]) -> list[Score]:
        provider = self.provider()
        return list(await asyncio.gather(*(self._reported(provider, s) for s in samples)))

    async def _reported(self, provider: Provider, sample: Sample) -> Score:
        """One case judged, then told to ``extras["on_judged"]`` (the run's progress)."""
        result = await self._one(provider, sample)
        on_judged = self.ctx.extras.get("on_judged")
        if on_judged is not None:
            on_judged("rubric", result.error is None)
        return result

    async def _one(self, provider: Provider, sample: Sample) -> Score:
        if self.preset == "groundedness" and not sample.retrieved:
            return Score.failed("groundedness needs retrieved context; this case has none")
        messages = self.template.render(self._variables(sample))
        details: dict[str, Any] = {
            "judge_prompt": self.template.ref,
            "judge_prompt_digest": self.template.digest,
            "judge": provider.identity,
        }
        runs = await asyncio.gather(
            *(self._ask(provider, messages, i) for i in range(self.samples))
        )
        good = [r for r in runs if "error" not in r]
        if not good:
            return Score.failed(str(runs[0]["error"]), details)
        values = [float(r["score"]) for r in good]
        mean = statistics.fmean(values)
        if self.samples == 1:
            details.update(good[0])
        else:
            details["samples"] = runs
            details["spread"] = round(statistics.pstdev(values), 4)
            details["failed_samples"] = len(runs) - len(good)
        details["judge_score"] = round(mean, 4)
        return Score.of(normalise(mean), self.threshold, details)

    async def _complete(
        self, provider: Provider, messages: list[dict[str, Any]], params: dict[str, Any]
    ) -> tuple[Any, dict[str, Any] | None]:
        """One call, stepping down the response formats the endpoint rejects."""
        from llmops.providers.base import ProviderCallError

        while True:
            at = self._format_at
            fmt = self.formats[at]
            sent = {**params, "response_format": fmt} if fmt is not None else params
            try:
                return await provider.complete(messages, sent), fmt
            except ProviderCallError as exc:
                if fmt is None or at + 1 >= len(self.formats) or not _rejects_format(exc):
                    raise
                self._format_at = max(self._format_at, at + 1)

    async def _ask(
        self, provider: Provider, messages: list[dict[str, Any]], i: int
    ) -> dict[str, Any]:
        """One judgement: ask, parse; on a parse failure ask once more, bypassing the cache."""
        from llmops.providers.base import ProviderCallError

        params = dict(self.params)
        if i:
            params["_sample"] = i
            params.setdefault("seed", i)
        problem = ""
        for attempt in range(2):
            if attempt:
                params["_retry"] = attempt
            try:
                completion, fmt = await self._complete(provider, messages, params)
            except ProviderCallError as exc:
                return {"error": f"judge call failed: {exc}"}
            try:
                verdict = parse_verdict(completion.text)
            except JudgeParseError as exc:
                problem = str(exc)
                continue
            result: dict[str, Any] = {"parsed_score": verdict.score, "method": "parsed"}
            result["response_format"] = fmt["type"] if fmt is not None else "none"
            weighted = weighted_score(completion.logprobs, verdict.score)
            if weighted is not None and informative(weighted[1]):
                result.update(score=weighted[0], method="logprobs", distribution=weighted[1])
            else:
                result["score"] = verdict.score
                if weighted is not None:  # flat: the weighting would only pull towards 3
                    result["flat_distribution"] = weighted[1]
            if verdict.reason:
                result["reason"] = verdict.reason[:500]
            if attempt:
                result["retried"] = True
            return result
        return {"error": f"unusable judge answer after a retry: {problem}"}


@scorer("rubric", version="1")
def rubric(
    criteria: str | None = None,
    preset: str | None = None,
    threshold: float = 0.75,
    samples: int = 1,
    prompt: str | None = None,
    temperature: float | None = None,
    logprobs: bool = True,
    json_mode: str = "auto",
    ctx: ScorerContext | None = None,
) -> Rubric:
    """An LLM judge grading each output against criteria (1-5, reported 0-1)."""
    ctx = ctx or ScorerContext()
    if preset is not None and preset not in PRESETS:
        raise UserError(
            f"scorer 'rubric': unknown preset {preset!r}", hint=f"presets: {', '.join(PRESETS)}"
        )
    if criteria is not None and not isinstance(criteria, str):
        raise UserError("scorer 'rubric': criteria must be a string")
    if isinstance(threshold, bool) or not isinstance(threshold, int | float):
        raise UserError("scorer 'rubric': threshold must be a number")
    if not 0 <= threshold <= 1:
        raise UserError(f"scorer 'rubric': threshold {threshold} is outside 0..1")
    if isinstance(samples, bool) or not isinstance(samples, int) or not 1 <= samples <= 50:
        raise UserError("scorer 'rubric': samples must be a whole number from 1 to 50")
    if json_mode not in JSON_MODES:
        raise UserError(
            f"scorer 'rubric': json_mode must be one of {', '.join(JSON_MODES)}, got {json_mode!r}"
        )
    if ctx.project is None and "judge_provider" not in ctx.extras:
        raise UserError("scorer 'rubric' needs a project with a judge endpoint")
    template = jp.load(prompt, ctx)
    params = dict(template.params)
    params.setdefault("max_tokens", 120)
    if temperature is not None:
        params["temperature"] = float(temperature)
    elif samples > 1 and not params.get("temperature"):
        params["temperature"] = 0.7  # N identical greedy answers would say nothing
    else:
        params.setdefault("temperature", 0.0)
    if logprobs:
        params.update(logprobs=True, top_logprobs=5)
    return Rubric(
        criteria=criteria,
        preset=preset,
        threshold=float(threshold),
        samples=samples,
        params=params,
        formats=JSON_MODES[json_mode],
        template=template,
        ctx=ctx,
    )
