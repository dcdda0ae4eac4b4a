"""The scorer registry, the deterministic scorers, custom scorers and their checks."""

from __future__ import annotations

import asyncio
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import ConfigError, EvalSetError, UserError
from llmops.evalsets import Case
from llmops.project import load_project
from llmops.scorers import (
    Sample,
    Score,
    Scorer,
    ScorerContext,
    build_scorers,
    get,
    judge_agreement,
    known,
    scorer,
)
from llmops.scorers import plugins as plugin_loader


def case(cid: str = "c1", expected: Any = None, **kw: Any) -> Case:
    return Case(id=cid, vars={"question": "q"}, expected=expected, **kw)


def run(s: Scorer, outputs: list[str], expected: Any = None) -> list[Score]:
    samples = [Sample(case(f"c{i}", expected), out) for i, out in enumerate(outputs)]
    return asyncio.run(s.score(samples))


def values(scores: list[Score]) -> list[float | None]:
    return [s.value for s in scores]


def build(name: str, **options: Any) -> Scorer:
    return build_scorers([{name: options}])[0]


# --- registry -------------------------------------------------------------------------


def test_known_lists_the_builtins() -> None:
    names = known()
    for name in ("exact", "contains", "regex", "json_valid", "json_schema", "max_words",
                 "similarity", "rubric", "guardrails"):
        assert name in names


def test_unknown_scorer_lists_known_ones() -> None:
    with pytest.raises(UserError) as info:
        build_scorers([{"simlarity": {}}])
    message = str(info.value)
    assert "unknown scorer 'simlarity'" in message
    assert "similarity" in message and "exact" in message and "rubric" in message
    assert info.value.exit_code == 2


def test_unknown_option_names_the_accepted_ones() -> None:
    with pytest.raises(UserError, match=r"unknown option 'ignorecase'.*ignore_case"):
        build("exact", ignorecase=True)


def test_missing_required_option() -> None:
    with pytest.raises(UserError, match="option 'pattern' is required"):
        build("regex")


def test_built_scorer_records_name_version_and_args() -> None:
    s = build("contains", text="refund", ignore_case=False)
    assert (s.name, s.version) == ("contains", "1")
    assert s.args == {"text": "refund", "ignore_case": False}
    assert isinstance(s, Scorer)
    assert get("contains").version == "1"


def test_shorthand_entry_and_none_options() -> None:
    scorers = build_scorers(["json_valid", {"exact": None}])
    assert [s.name for s in scorers] == ["json_valid", "exact"]


# --- deterministic scorers -------------------------------------------------------------


def test_exact() -> None:
    s = build("exact")
    assert values(run(s, ["Paris", " Paris\n", "paris"], "Paris")) == [1.0, 1.0, 0.0]
    s = build("exact", ignore_case=True)
    assert values(run(s, ["paris", "Lyon"], ["Lyon", "PARIS"])) == [1.0, 1.0]
    scores = run(build("exact"), ["x"], "y")
    assert scores[0].passed is False


def test_exact_needs_expected() -> None:
    s = build_scorers([{"exact": {}}], ScorerContext(evalset=Path("evalsets/s.jsonl")))[0]
    with pytest.raises(EvalSetError) as info:
        s.validate([case("ok", "a"), case("no-answer", None, line=7)])
    assert str(info.value).startswith("evalsets/s.jsonl:7: case 'no-answer' has no `expected`")


def test_contains() -> None:
    assert values(run(build("contains"), ["The capital is Paris."], "paris")) == [1.0]
    s = build("contains", text=["30 days", "receipt"], match="all")
    scores = run(s, ["within 30 days with a receipt", "within 30 days"])
    assert values(scores) == [1.0, 0.0]
    assert scores[1].details == {"missing": ["receipt"]}
    assert values(run(build("contains", text=["a", "zz"]), ["a"])) == [1.0]
    with pytest.raises(UserError, match="match must be"):
        build("contains", text="x", match="some")


def test_regex() -> None:
    assert values(run(build("regex", pattern=r"\d{3}"), ["abc 123", "abc"])) == [1.0, 0.0]
    assert values(run(build("regex", pattern=r"\d+", full_match=True), ["123", "123a"])) == [1, 0]
    assert values(run(build("regex", pattern="sorry", ignore_case=True, invert=True),
                      ["Sorry!", "Sure."])) == [0.0, 1.0]
    with pytest.raises(UserError, match="invalid pattern"):
        build("regex", pattern="(unclosed")


def test_json_valid() -> None:
    scores = run(build("json_valid"), ['{"a": 1}', "```json\n[1, 2]\n```", "{a: 1}", ""])
    assert values(scores) == [1.0, 1.0, 0.0, 0.0]
    assert "line 1 column 2" in scores[2].details["reason"]
    assert values(run(build("json_valid", strip_fences=False), ["```json\n[1]\n```"])) == [0.0]


def test_json_schema_inline_and_file(tmp_path: Path) -> None:
    schema = {"type": "object", "required": ["answer"],
              "properties": {"answer": {"type": "string"}}}
    scores = run(build("json_schema", schema=schema), ['{"answer": "x"}', '{"answer": 3}', "no"])
    assert values(scores) == [1.0, 0.0, 0.0]
    assert "answer: 3 is not of type 'string'" in scores[1].details["reason"]
    assert scores[2].details["reason"].startswith("not JSON")
    path = tmp_path / "schema.json"
    path.write_text('{"type": "array"}')
    assert values(run(build("json_schema", schema_file=str(path)), ["[]", "{}"])) == [1.0, 0.0]


def test_json_schema_bad_input(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="invalid schema"):
        build("json_schema", schema={"type": "nonsense"})
    with pytest.raises(UserError, match="exactly one"):
        build("json_schema")
    with pytest.raises(UserError, match="schema file not found"):
        build("json_schema", schema_file=str(tmp_path / "missing.json"))


def test_max_words() -> None:
    scores = run(build("max_words", limit=3), ["one two three", "one two three four", ""])
    assert values(scores) == [1.0, 0.0, 1.0]
    assert scores[1].details == {"words": 4}
    assert values(run(build("max_words", limit=3, min=1), [""])) == [0.0]
    with pytest.raises(UserError, match="limit must be"):
        build("max_words", limit=-1)


# --- custom scorers ------------------------------------------------------------------


@scorer("test_per_case", version="3")
def _per_case(word: str = "yes") -> Any:
    def check(sample: Sample) -> float:
        return 1.0 if word in sample.output else 0.25
    return check


@scorer("test_async_case")
def _async_case(threshold: float = 0.5) -> Any:
    async def check(sample: Sample) -> bool:
        await asyncio.sleep(0)
        return sample.output.startswith("ok")
    return check


@scorer("test_batched", batched=True)
def _batched() -> Any:
    def check(samples: list[Sample]) -> list[Any]:
        return [len(s.output) / 10 for s in samples]
    return check


@scorer("test_out_of_range")
def _out_of_range(value: float = 1.5) -> Any:
    return lambda sample: value


@scorer("test_raises")
def _raises() -> Any:
    def check(sample: Sample) -> float:
        if sample.output == "boom":
            raise RuntimeError("exploded")
        return 1.0
    return check


def test_custom_per_case_sync() -> None:
    s = build("test_per_case", word="hi")
    assert (s.name, s.version, s.args) == ("test_per_case", "3", {"word": "hi"})
    assert build("test_per_case").args == {}
    scores = run(s, ["hi there", "nope"])
    assert values(scores) == [1.0, 0.25]
    assert [x.passed for x in scores] == [True, False]


@scorer("test_strict")
def _strict(threshold: float = 0.9) -> Any:
    return lambda sample: 0.8


def test_function_scorer_passes_at_the_factory_threshold() -> None:
    assert run(build("test_strict"), ["a"])[0].passed is False
    assert run(build("test_strict", threshold=0.7), ["a"])[0].passed is True
    assert run(build("test_per_case"), ["nope"])[0].passed is False  # 0.25 < default 0.5


def test_custom_async_and_batched() -> None:
    assert values(run(build("test_async_case"), ["ok", "no"])) == [1.0, 0.0]
    assert values(run(build("test_batched"), ["abcde", "", "abcdefghij"])) == [0.5, 0.0, 1.0]


@pytest.mark.parametrize("bad", [1.5, -0.1, float("nan"), "0.5", None])
def test_value_outside_0_1_is_an_error_not_a_score(bad: Any) -> None:
    scores = run(build("test_out_of_range", value=bad), ["a"])
    assert scores[0].value is None and scores[0].passed is None
    assert scores[0].error is not None
    assert "0..1" in scores[0].error or "NaN" in scores[0].error


def test_a_scorer_object_returning_bad_values_is_caught() -> None:
    class Wild:
        async def score(self, samples: list[Sample]) -> list[Score]:
            return [Score(value=7.0, passed=True)] + [Score(0.5, True)] * (len(samples) - 1)

    @scorer("test_wild")
    def _wild() -> Any:
        return Wild()

    scores = run(build("test_wild"), ["a", "b"])
    assert scores[0].error == "scorer 'test_wild': score value 7.0 is outside 0..1"
    assert scores[1].value == 0.5


def test_exception_in_one_case_errors_that_case_only() -> None:
    scores = run(build("test_raises"), ["fine", "boom"])
    assert scores[0].value == 1.0
    assert scores[1].error == "RuntimeError: exploded"


# --- plugins ------------------------------------------------------------------------


def _project(tmp_path: Path, plugins: list[str], module: str, source: str) -> Path:
    (tmp_path / "llmops.yaml").write_text(f"plugins: {plugins}\n")
    (tmp_path / f"{module}.py").write_text(textwrap.dedent(source))
    return tmp_path


def test_plugin_module_registers_scorers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = _project(tmp_path, ["team_scorers_ok"], "team_scorers_ok", """
        from llmops.scorers import scorer

        @scorer("polite", version="2")
        def polite(word: str = "please"):
            return lambda sample: word in sample.output.lower()
    """)
    ctx = ScorerContext(project=load_project(root))
    (s,) = build_scorers([{"polite": {}}], ctx)
    assert s.version == "2"
    assert values(run(s, ["Please wait", "no"])) == [1.0, 0.0]


def test_plugin_import_failure_names_the_module(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = _project(tmp_path, ["team_scorers_bad"], "team_scorers_bad", """
        import json
        raise ImportError("needs the package foo")
    """)
    ctx = ScorerContext(project=load_project(root))
    with pytest.raises(ConfigError) as info:
        build_scorers([{"exact": {}}], ctx)
    message = str(info.value)
    assert "plugin module 'team_scorers_bad' failed to import" in message
    assert "needs the package foo" in message and "team_scorers_bad.py:3" in message
    assert info.value.exit_code == 2


def test_missing_plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "llmops.yaml").write_text("plugins: [no_such_scorers]\n")
    with pytest.raises(ConfigError, match="plugin module 'no_such_scorers' failed to import"):
        build_scorers([], ScorerContext(project=load_project(tmp_path)))


def test_entry_point_scorers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # A real installed distribution: a dist-info folder with entry_points.txt on sys.path.
    dist = tmp_path / "acme_scorers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: acme-scorers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[llmops.scorers]\nacme = acme_scorers_mod\n")
    (tmp_path / "acme_scorers_mod.py").write_text(textwrap.dedent("""
        from llmops.scorers import scorer

        @scorer("acme_len", version="5")
        def acme_len(limit: int = 3):
            return lambda sample: len(sample.output) <= limit
    """))
    monkeypatch.syspath_prepend(str(tmp_path))
    (s,) = build_scorers([{"acme_len": {"limit": 2}}])
    assert (s.name, s.version) == ("acme_len", "5")
    assert values(run(s, ["ab", "abc"])) == [1.0, 0.0]
    assert "acme_len" in known()


def test_broken_entry_point(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    dist = tmp_path / "broken_scorers-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-scorers\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[llmops.scorers]\nbroken = broken_mod_xyz\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(plugin_loader, "_loaded", set())
    with pytest.raises(UserError, match=r"scorer entry point 'broken'.*broken_mod_xyz"):
        build_scorers([])


# --- judge agreement -----------------------------------------------------------------


def test_judge_agreement() -> None:
    judge = {"a": 0.9, "b": 0.7, "c": 0.2, "d": None, "e": 0.5}
    human = {"a": 1.0, "b": 0.5, "c": 0.0, "d": 1.0, "e": 0.8}
    result = judge_agreement(judge, human, threshold=0.6)
    assert result["n"] == 4
    # ranks: judge a>b>e>c, human a>e>b>c → rho = 1 - 6*2/(4*15) = 0.8
    assert result["spearman"] == pytest.approx(0.8)
    # pass/fail at 0.6: a T/T, b T/F, c F/F, e F/T → 2 of 4 agree
    assert result["accuracy"] == 0.5
    assert judge_agreement([0.1, 0.9], [0.0, 1.0], 0.5)["accuracy"] == 1.0
    assert judge_agreement([], [], 0.5) == {"n": 0, "spearman": None, "accuracy": None,
                                            "threshold": 0.5}
    assert judge_agreement([0.5, 0.5, 0.5], [0.1, 0.2, 0.3], 0.5)["spearman"] is None


def test_a_plugin_cannot_take_a_builtin_name(tmp_path: Path,
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))
    root = _project(tmp_path, ["team_scorers_clash"], "team_scorers_clash", """
        from llmops.scorers import scorer

        @scorer("exact")
        def my_exact():
            return lambda sample: True
    """)
    with pytest.raises(ConfigError, match=r"scorer name 'exact' is already taken by "
                                          r"llmops\.scorers\.exact\.exact"):
        build_scorers([], ScorerContext(project=load_project(root)))
    assert get("exact").factory.__module__ == "llmops.scorers.exact"


def test_threshold_is_exposed_for_agreement_reports() -> None:
    assert build("test_strict").threshold == 0.9  # type: ignore[attr-defined]
    assert build("exact").threshold is None  # type: ignore[attr-defined]


@scorer("test_picky")
def _picky(size: int = 1) -> Any:
    share = 1.0 / size
    return lambda sample: share


def test_a_factory_failing_on_its_options_is_a_user_error() -> None:
    expected = r"scorer 'test_picky' could not be built with \{'size': 'big'\}: TypeError"
    with pytest.raises(UserError, match=expected):
        build("test_picky", size="big")
