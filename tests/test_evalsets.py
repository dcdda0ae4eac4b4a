"""Eval sets: the three formats, digests, and every malformed input named by file and line."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmops.errors import EvalSetError
from llmops.evalsets import load_evalset


def write(tmp_path: Path, name: str, text: str) -> Path:
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


JSONL = (
    '{"id": "a", "vars": {"question": "Q1"}, "expected": "A1", "tags": ["x"]}\n'
    "\n"
    '{"id": "b", "vars": {"question": "Q2"}, "expected": ["A2", "B2"], '
    '"contexts": ["c.md"], "rubric": "short", "human_score": 0.5}\n'
)


def test_jsonl_loads_fields_and_lines(tmp_path: Path) -> None:
    es = load_evalset(write(tmp_path, "s.jsonl", JSONL), ["question"])
    assert [c.id for c in es.cases] == ["a", "b"]
    a, b = es.cases
    assert a.line == 1 and b.line == 3
    assert a.expected == "A1" and a.tags == ["x"]
    assert b.expected == ["A2", "B2"] and b.contexts == ["c.md"] and b.human_score == 0.5
    assert len(a.digest) == 64 and a.digest != b.digest
    assert len(es.digest) == 64


def test_same_cases_in_any_format_have_the_same_digests(tmp_path: Path) -> None:
    jsonl = write(tmp_path, "s.jsonl", '{"id": "a", "vars": {"q": "hi"}, "expected": "yo", '
                  '"tags": ["t1", "t2"]}\n')
    yml = write(tmp_path, "s.yaml", "- id: a\n  vars: {q: hi}\n  expected: yo\n  tags: [t1, t2]\n")
    csv = write(tmp_path, "s.csv", "id,q,expected,tags\na,hi,yo,t1|t2\n")
    digests = {load_evalset(p).digest for p in (jsonl, yml, csv)}
    assert len(digests) == 1


def test_digest_changes_when_a_case_changes(tmp_path: Path) -> None:
    one = load_evalset(write(tmp_path, "a.jsonl", '{"id": "a", "vars": {"q": "hi"}}\n'))
    two = load_evalset(write(tmp_path, "b.jsonl", '{"id": "a", "vars": {"q": "hi!"}}\n'))
    assert one.digest != two.digest
    assert one.cases[0].digest != two.cases[0].digest


def test_csv_columns_are_fields_or_variables(tmp_path: Path) -> None:
    p = write(tmp_path, "s.csv",
              'id,question,lang,expected,contexts,rubric,human_score\n'
              'r1,"Hello, world",en,Hi,"[""a.md"", ""b.md""]",polite,0.75\n'
              "r2,Second,fr,,,,\n")
    es = load_evalset(p, ["question", "lang"])
    r1, r2 = es.cases
    assert r1.vars == {"question": "Hello, world", "lang": "en"}
    assert r1.contexts == ["a.md", "b.md"] and r1.rubric == "polite" and r1.human_score == 0.75
    assert r2.expected is None and r2.contexts == [] and r2.line == 3


def test_csv_multiline_cell_keeps_line_numbers(tmp_path: Path) -> None:
    p = write(tmp_path, "s.csv", 'id,q\na,"two\nlines"\nb,x,extra\n')
    with pytest.raises(EvalSetError) as e:
        load_evalset(p)
    assert e.value.line == 4


def test_yaml_list_lines(tmp_path: Path) -> None:
    p = write(tmp_path, "s.yaml", "# cases\n- id: a\n  vars: {q: 1}\n- id: b\n  vars: {}\n")
    es = load_evalset(p)
    assert [c.line for c in es.cases] == [2, 4]
    with pytest.raises(EvalSetError) as e:
        es.check_variables(["q"], "p@v1")
    assert e.value.line == 4 and "'b'" in str(e.value) and "'q'" in str(e.value)


@pytest.mark.parametrize(
    ("name", "text", "line", "words"),
    [
        ("dup.jsonl", '{"id": "a", "vars": {}}\n{"id": "b", "vars": {}}\n{"id": "a", "vars": {}}\n',
         3, ["duplicate", "'a'", "line 1"]),
        ("bad.jsonl", '{"id": "a", "vars": {}}\n{"id": "b", "vars": \n', 2, ["malformed JSON"]),
        ("ragged.csv", "id,q\na,1\nb,2,3\n", 3, ["3 cells", "header has 2"]),
        ("noid.jsonl", '{"vars": {}}\n', 1, ["`id`"]),
        ("types.jsonl", '{"id": "a", "vars": {}, "tags": "x"}\n', 1, ["'a'", "tags"]),
        ("exp.jsonl", '{"id": "a", "vars": {}, "expected": 3}\n', 1, ["expected"]),
        ("vars.jsonl", '{"id": "a", "vars": [1]}\n', 1, ["vars"]),
        ("unknown.jsonl", '{"id": "a", "vars": {}, "extra": 1}\n', 1, ["unknown", "extra"]),
        ("score.csv", "id,q,human_score\na,1,high\n", 2, ["human_score"]),
        ("notalist.yaml", "id: a\n", 1, ["list of cases"]),
        ("item.yaml", "- id: a\n- just text\n", 2, ["mapping"]),
        ("badyaml.yaml", "- id: a\n  vars: {q: [1\n", None, ["invalid YAML"]),
    ],
)
def test_bad_input_is_named_with_file_and_line(
    tmp_path: Path, name: str, text: str, line: int | None, words: list[str]
) -> None:
    p = write(tmp_path, name, text)
    with pytest.raises(EvalSetError) as e:
        load_evalset(p)
    msg = str(e.value)
    assert msg.startswith(str(p))
    if line is not None:
        assert e.value.line == line, msg
    for w in words:
        assert w in msg, msg


def test_missing_variable_names_case_and_line(tmp_path: Path) -> None:
    p = write(tmp_path, "s.jsonl", '{"id": "ok", "vars": {"question": "Q"}}\n'
                                   '{"id": "r-2", "vars": {"q": "Q"}}\n')
    with pytest.raises(EvalSetError) as e:
        load_evalset(p, ["question"])
    assert e.value.line == 2
    assert "'r-2'" in str(e.value) and "'question'" in str(e.value)


def test_context_variable_is_left_to_retrieval(tmp_path: Path) -> None:
    p = write(tmp_path, "s.jsonl", '{"id": "a", "vars": {"question": "Q"}}\n')
    assert load_evalset(p, ["question", "context"]).cases[0].id == "a"


def test_empty_and_unknown_formats(tmp_path: Path) -> None:
    with pytest.raises(EvalSetError, match="no cases"):
        load_evalset(write(tmp_path, "e.jsonl", "\n"))
    with pytest.raises(EvalSetError, match="unsupported"):
        load_evalset(write(tmp_path, "e.txt", "x"))
    with pytest.raises(EvalSetError, match="not found"):
        load_evalset(tmp_path / "missing.jsonl")
    with pytest.raises(EvalSetError, match="no `id` column"):
        load_evalset(write(tmp_path, "e.csv", "q,expected\n1,2\n"))


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("s.csv", "id,question,expected\na,Q1,A1\nb,Q2,A2\n"),
        ("s.jsonl", '{"id": "a", "vars": {"question": "Q1"}}\n{"id": "b", "vars": {}}\n'),
        ("s.yaml", "- {id: a, vars: {question: Q1}}\n- {id: b, vars: {question: Q2}}\n"),
    ],
)
def test_a_leading_byte_order_mark_is_accepted(tmp_path: Path, name: str, text: str) -> None:
    """Excel's "CSV UTF-8" and some editors start the file with a UTF-8 BOM."""
    plain = load_evalset(write(tmp_path, name, text))
    path = tmp_path / f"bom-{name}"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    es = load_evalset(path)
    assert [(c.id, c.line, c.vars) for c in es.cases] == [
        (c.id, c.line, c.vars) for c in plain.cases
    ]
    assert es.digest == plain.digest


def test_integer_ids_become_strings(tmp_path: Path) -> None:
    es = load_evalset(write(tmp_path, "s.jsonl", '{"id": 7, "vars": {}}\n'))
    assert es.cases[0].id == "7"
