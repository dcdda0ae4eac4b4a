"""The rubric judge against the fault-injecting test server and the real llama.cpp server."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.errors import EvalSetError, PromptError, UserError
from llmops.evalsets import Case
from llmops.project import load_project
from llmops.providers.base import TokenLogprob
from llmops.scorers import Sample, Score, ScorerContext, build_scorers
from llmops.scorers._judge import JudgeParseError, parse_verdict, weighted_score
from llmops.scorers._judge_prompt import packaged
from tests.openai_server import FakeOpenAI, Reply


def make_project(root: Path, judge: dict[str, Any], **extra: Any) -> ScorerContext:
    config = {"provider": judge, "judge": judge, **extra}
    (root / "llmops.yaml").write_text(yaml.safe_dump(config))
    return ScorerContext(project=load_project(root))


def sample(cid: str = "c1", output: str = "Refunds within 30 days.", **kw: Any) -> Sample:
    case = Case(id=cid, vars={"question": "Can I get a refund?"},
                expected=kw.pop("expected", "Yes, within 30 days."), rubric=kw.pop("rubric", None))
    messages = [{"role": "user", "content": "Can I get a refund?"}]
    return Sample(case, output, messages, **kw)


def score(ctx: ScorerContext, batch: list[Sample], **options: Any) -> list[Score]:
    (s,) = build_scorers([{"rubric": {"criteria": "Mentions the 30-day limit", **options}}], ctx)
    s.validate([x.case for x in batch])

    async def go() -> list[Score]:
        try:
            return await s.score(batch)
        finally:
            await s.aclose()  # type: ignore[attr-defined]

    return asyncio.run(go())


@pytest.fixture
def ctx(openai_server: FakeOpenAI, tmp_path: Path) -> ScorerContext:
    return make_project(tmp_path, openai_server.provider_config(max_retries=1))


# --- parsing -------------------------------------------------------------------------


@pytest.mark.parametrize(("text", "expected"), [
    ('{"score": 4, "reason": "fine"}', 4),
    ('```json\n{"score": "5"}\n```', 5),
    ('Here you go: {"rating": 2, "reasoning": "meh"} hope it helps', 2),
    ("Score: 3\nThe answer is partly right.", 3),
    ("I would give it 4/5.", 4),
    ("5", 5),
])
def test_tolerant_parser(text: str, expected: int) -> None:
    assert parse_verdict(text).score == expected


@pytest.mark.parametrize(("text", "problem"), [
    ("", "empty"),
    ("   ", "empty"),
    ('{"score": 9}', "outside 1..5"),
    ('{"score": 0, "reason": "bad"}', "outside 1..5"),
    ('{"score": "high"}', "not a number"),
    ("The answer is good.", "no score"),
])
def test_parser_rejects(text: str, problem: str) -> None:
    with pytest.raises(JudgeParseError, match=problem):
        parse_verdict(text)


def test_weighted_score_from_logprobs() -> None:
    lps = [TokenLogprob('{"score": ', -0.01), TokenLogprob("4", -0.5, {"4": -0.5, "5": -1.2,
                                                                         "3": -2.0, "x": -3.0}),
           TokenLogprob("}", -0.01)]
    mean, dist = weighted_score(lps) or (0.0, {})
    import math
    p = {4: math.exp(-0.5), 5: math.exp(-1.2), 3: math.exp(-2.0)}
    assert mean == pytest.approx(sum(k * v for k, v in p.items()) / sum(p.values()))
    assert set(dist) == {"3", "4", "5"}
    assert weighted_score([TokenLogprob("nothing", -0.1)]) is None
    assert weighted_score(None) is None


def test_packaged_prompt_has_a_stable_digest() -> None:
    a, b = packaged(), packaged()
    assert a.ref == "rubric@v1" and a.digest == b.digest and len(a.digest) == 64
    rendered = a.render({"criteria": "- c", "question": "Q?", "answer": "A.",
                         "expected": None, "context": ["doc one"]})
    assert "Reference answer" not in rendered[1]["content"]
    assert "[1] doc one" in rendered[1]["content"]


# --- against the test server ---------------------------------------------------------


def test_valid_json_with_logprobs_gives_the_g_eval_score(
    openai_server: FakeOpenAI, ctx: ScorerContext
) -> None:
    top = {"4": {"4": -0.3, "5": -1.5, "3": -2.0}}
    openai_server.script(Reply(text='{"score": 4, "reason": "mentions 30 days"}', top_for=top))
    (result,) = score(ctx, [sample()])
    import math
    p = {4: math.exp(-0.3), 5: math.exp(-1.5), 3: math.exp(-2.0)}
    weighted = sum(k * v for k, v in p.items()) / sum(p.values())
    assert result.error is None
    assert result.value == pytest.approx((weighted - 1) / 4)
    assert result.details["method"] == "logprobs"
    assert result.details["parsed_score"] == 4
    assert result.details["judge_prompt"] == "rubric@v1"
    assert result.details["judge_prompt_digest"] == packaged().digest
    assert result.details["reason"] == "mentions 30 days"
    assert result.passed is (result.value >= 0.75)
    body = openai_server.requests.bodies[-1]
    assert body["logprobs"] is True and body["top_logprobs"] == 5
    assert body["response_format"]["type"] == "json_schema"
    assert "Mentions the 30-day limit" in body["messages"][1]["content"]


def test_without_logprobs_the_parsed_integer_counts(ctx: ScorerContext,
                                                    openai_server: FakeOpenAI) -> None:
    openai_server.script('{"score": 5, "reason": "ok"}')
    (result,) = score(ctx, [sample()], logprobs=False)
    assert result.value == 1.0 and result.passed is True
    assert result.details["method"] == "parsed"
    assert "logprobs" not in openai_server.requests.bodies[-1]


def test_broken_json_is_parsed_tolerantly(ctx: ScorerContext, openai_server: FakeOpenAI) -> None:
    openai_server.script('Sure! {"score": 2, "reason": "misses the limit"')  # unclosed
    (result,) = score(ctx, [sample()], logprobs=False)
    assert result.value == 0.25 and result.passed is False
    assert openai_server.requests.count("/v1/chat/completions") == 1


# (An empty answer never reaches the judge: the provider retries it as a failed call.)
@pytest.mark.parametrize("bad", ['{"score": 7, "reason": "great"}', " ", "I cannot grade this."])
def test_unusable_answer_is_retried_once_then_recovered(
    ctx: ScorerContext, openai_server: FakeOpenAI, bad: str
) -> None:
    openai_server.script(bad, '{"score": 3, "reason": "partly"}')
    (result,) = score(ctx, [sample()], logprobs=False)
    assert result.value == 0.5 and result.details["retried"] is True
    assert openai_server.requests.count("/v1/chat/completions") == 2


@pytest.mark.parametrize("bad", ['{"score": 7, "reason": "great"}', " ", "no idea"])
def test_unusable_answer_twice_is_an_error_never_a_pass(
    ctx: ScorerContext, openai_server: FakeOpenAI, bad: str
) -> None:
    openai_server.script(bad, bad)
    (result,) = score(ctx, [sample()], logprobs=False)
    assert result.value is None and result.passed is None
    assert result.error is not None and result.error.startswith("unusable judge answer")
    assert openai_server.requests.count("/v1/chat/completions") == 2


def test_retry_is_not_answered_from_the_cache(ctx: ScorerContext,
                                              openai_server: FakeOpenAI) -> None:
    openai_server.script("garbage", '{"score": 5, "reason": "ok"}')
    assert score(ctx, [sample()], logprobs=False)[0].value == 1.0
    # A second run is answered from the response cache: no new calls, same score.
    assert score(ctx, [sample()], logprobs=False)[0].value == 1.0
    assert openai_server.requests.count("/v1/chat/completions") == 2


def test_samples_give_mean_and_spread(ctx: ScorerContext, openai_server: FakeOpenAI) -> None:
    openai_server.script('{"score": 5, "reason": "a"}', '{"score": 3, "reason": "b"}',
                         '{"score": 4, "reason": "c"}')
    (result,) = score(ctx, [sample()], logprobs=False, samples=3)
    assert result.value == pytest.approx(0.75)
    assert result.details["judge_score"] == 4.0
    assert result.details["spread"] == pytest.approx(0.8165, abs=1e-4)
    assert len(result.details["samples"]) == 3
    temps = {b["temperature"] for b in openai_server.requests.bodies}
    assert temps == {0.7}


def test_judge_endpoint_down_errors_every_case(tmp_path: Path) -> None:
    from tests.fixtures_servers import free_port

    dead = {"kind": "openai", "base_url": f"http://127.0.0.1:{free_port()}/v1",
            "api_key_env": "LLMOPS_DEAD_KEY", "model": "m", "timeout_s": 2, "max_retries": 0}
    import os
    os.environ["LLMOPS_DEAD_KEY"] = "x"
    try:
        ctx = make_project(tmp_path, dead)
        results = score(ctx, [sample("a"), sample("b")])
    finally:
        del os.environ["LLMOPS_DEAD_KEY"]
    assert all(r.value is None and r.passed is None for r in results)
    assert all(r.error and r.error.startswith("judge call failed") for r in results)


def test_500s_are_retried_by_the_provider(ctx: ScorerContext, openai_server: FakeOpenAI) -> None:
    openai_server.script(Reply.error(500), '{"score": 4, "reason": "ok"}')
    (result,) = score(ctx, [sample()], logprobs=False)
    assert result.value == 0.75


# --- criteria, presets, custom prompts, bad input --------------------------------------


def test_case_rubric_is_added_to_the_criteria(ctx: ScorerContext,
                                              openai_server: FakeOpenAI) -> None:
    openai_server.script('{"score": 4, "reason": "ok"}')
    score(ctx, [sample(rubric="Cites the policy")], logprobs=False, preset="correctness")
    content = openai_server.requests.bodies[-1]["messages"][1]["content"]
    assert "Mentions the 30-day limit" in content and "Cites the policy" in content
    assert "factually consistent with the reference" in content
    assert "Yes, within 30 days." in content


def test_no_criteria_anywhere_is_an_evalset_error(ctx: ScorerContext) -> None:
    (s,) = build_scorers([{"rubric": {}}], ctx)
    cases = [Case(id="a", vars={}, rubric="ok"), Case(id="b", vars={}, line=4)]
    with pytest.raises(EvalSetError, match="case 'b' has no `rubric`"):
        s.validate(cases)


def test_correctness_needs_expected(ctx: ScorerContext) -> None:
    (s,) = build_scorers([{"rubric": {"preset": "correctness"}}], ctx)
    with pytest.raises(EvalSetError, match="case 'x' has no `expected`"):
        s.validate([Case(id="x", vars={})])


def test_groundedness_without_context_errors_the_case(ctx: ScorerContext,
                                                      openai_server: FakeOpenAI) -> None:
    (r,) = score(ctx, [sample()], preset="groundedness")
    assert r.error is not None and "retrieved context" in r.error
    assert openai_server.requests.count("/v1/chat/completions") == 0
    openai_server.script('{"score": 5, "reason": "ok"}')
    (r,) = score(ctx, [sample(retrieved=[{"text": "Refunds: 30 days.", "source": "a.md"}])],
                 preset="groundedness", logprobs=False)
    assert r.value == 1.0
    assert "[1] Refunds: 30 days." in openai_server.requests.bodies[-1]["messages"][1]["content"]


@pytest.mark.parametrize(("options", "message"), [
    ({"preset": "tone"}, "unknown preset 'tone'"),
    ({"threshold": 2}, "outside 0..1"),
    ({"samples": 0}, "samples must be"),
    ({"criteria": ["a"]}, "criteria must be a string"),
])
def test_bad_options(ctx: ScorerContext, options: dict[str, Any], message: str) -> None:
    with pytest.raises(UserError, match=message):
        build_scorers([{"rubric": options}], ctx)


def test_user_judge_prompt_version(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    ctx = make_project(tmp_path, openai_server.provider_config(max_retries=1))
    (tmp_path / "prompts" / "my_judge").mkdir(parents=True)
    (tmp_path / "prompts" / "my_judge" / "v1.yaml").write_text(yaml.safe_dump({
        "variables": ["criteria", "answer"],
        "messages": [{"role": "user", "content":
                      "Grade 1-5 against {{ criteria }}: {{ answer }}. JSON {\"score\": n}"}],
    }))
    openai_server.script('{"score": 2}')
    (r,) = score(ctx, [sample()], prompt="my_judge@v1", logprobs=False)
    assert r.value == 0.25
    assert r.details["judge_prompt"] == "my_judge@v1"
    assert r.details["judge_prompt_digest"] != packaged().digest
    sent = openai_server.requests.bodies[-1]["messages"]
    assert sent == [{"role": "user", "content": "Grade 1-5 against - Mentions the 30-day limit:"
                     " Refunds within 30 days.. JSON {\"score\": n}"}]


def test_user_judge_prompt_with_unknown_variables(openai_server: FakeOpenAI,
                                                  tmp_path: Path) -> None:
    ctx = make_project(tmp_path, openai_server.provider_config())
    (tmp_path / "prompts" / "bad_judge").mkdir(parents=True)
    (tmp_path / "prompts" / "bad_judge" / "v1.yaml").write_text(yaml.safe_dump({
        "variables": ["answer", "tone"],
        "messages": [{"role": "user", "content": "{{ answer }} {{ tone }}"}],
    }))
    with pytest.raises(PromptError, match="cannot fill: tone"):
        build_scorers([{"rubric": {"criteria": "x", "prompt": "bad_judge@v1"}}], ctx)
    with pytest.raises(PromptError):
        build_scorers([{"rubric": {"criteria": "x", "prompt": "nope@v1"}}], ctx)


# --- the real embedded model -----------------------------------------------------------


@pytest.mark.slow
@pytest.mark.llama
def test_judge_on_the_real_llama_server(llama_server: Any, tmp_path: Path) -> None:
    ctx = make_project(tmp_path, llama_server.provider_config())
    samples = [sample("good", "You can get a refund within 30 days of purchase."),
               sample("bad", "Bananas are yellow.")]
    results = score(ctx, samples)
    for r in results:
        assert r.error is None, r.error
        assert r.value is not None and 0.0 <= r.value <= 1.0
        assert r.details["judge_prompt_digest"] == packaged().digest
        # The real model returns logprobs: weighted when one score holds half the mass,
        # else (a small model's flat answer) the parsed score, with the flat distribution.
        if r.details["method"] == "logprobs":
            dist = r.details["distribution"]
            assert max(dist.values()) >= 0.5
        else:
            assert r.details["method"] == "parsed", r.details
            dist = r.details["flat_distribution"]
            assert max(dist.values()) < 0.5
            assert r.details["judge_score"] == r.details["parsed_score"]
        assert abs(sum(dist.values()) - 1.0) < 1e-3
        assert 1 <= r.details["judge_score"] <= 5
    # The JSON mode was honoured: the raw answers parse as JSON with an integer score.
    print(json.dumps([r.details for r in results], indent=1))


def test_rejected_response_format_steps_down(ctx: ScorerContext,
                                             openai_server: FakeOpenAI) -> None:
    rejected = Reply.error(400, "response_format: Input should be 'text' or 'json_object'")
    openai_server.script(rejected, '{"score": 4, "reason": "ok"}', '{"score": 2, "reason": "x"}')
    (a,) = score(ctx, [sample("a")], logprobs=False)
    assert a.value == 0.75 and a.details["response_format"] == "json_object"
    formats = [b.get("response_format", {}).get("type") for b in openai_server.requests.bodies]
    assert formats == ["json_schema", "json_object"]
    assert openai_server.requests.bodies[1]["response_format"]["schema"]["required"] == [
        "score", "reason"]


def test_truncated_json_still_uses_logprobs(ctx: ScorerContext, openai_server: FakeOpenAI) -> None:
    # A long reason cut off by max_tokens: the JSON is broken, the score token is not.
    top = {"2": {"2": -0.1, "3": -2.5}}
    cut = '{"score": 2, "reason": "the answer goes on and on'
    openai_server.script(Reply(text=cut, top_for=top))
    (r,) = score(ctx, [sample()])
    assert r.details["method"] == "logprobs" and r.details["parsed_score"] == 2
    assert 0.25 < r.value < 0.5  # type: ignore[operator]


def test_logprobs_of_another_digit_are_not_used() -> None:
    lps = [TokenLogprob('{"score": ', -0.01), TokenLogprob("3", -0.1, {"3": -0.1, "4": -2.0})]
    assert weighted_score(lps, 3.0) is not None
    assert weighted_score(lps, 4.0) is None
    assert weighted_score([TokenLogprob('{"score":', -0.1), TokenLogprob("4,", -0.1,
                                                                          {"4,": -0.1})], 4)


def test_rubric_without_a_project_is_a_user_error() -> None:
    with pytest.raises(UserError, match="needs a project with a judge endpoint"):
        build_scorers([{"rubric": {"criteria": "x"}}])


def test_judge_prompt_errors_show_in_validation(openai_server: FakeOpenAI,
                                                tmp_path: Path) -> None:
    from llmops.errors import TemplateError

    ctx = make_project(tmp_path, openai_server.provider_config())
    (tmp_path / "prompts" / "typo_judge").mkdir(parents=True)
    (tmp_path / "prompts" / "typo_judge" / "v1.yaml").write_text(yaml.safe_dump({
        "variables": ["answer", "expected"],
        "messages": [{"role": "user", "content": "{{ answer }} vs {{ expected.text }}"}],
    }))
    (s,) = build_scorers([{"rubric": {"criteria": "x", "prompt": "typo_judge@v1"}}], ctx)
    with pytest.raises(TemplateError):
        s.validate([Case(id="a", vars={}, expected="yes")])
    assert openai_server.requests.count("/v1/chat/completions") == 0
