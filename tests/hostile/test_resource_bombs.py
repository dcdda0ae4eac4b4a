"""Resource bombs: small files that ask for gigabytes or for hours.

Attack → answer:

- a template building a constant string of 2 GB (``('a' * 100000) * 20000``), or nested
  loops of 10^10 iterations → ``prompts check`` refuses it statically: exit 2 naming the
  file and line, nothing rendered;
- a template that multiplies a *variable* (``question * 100000000``) or loops over it
  cubed → rendering stops at the sandbox limits: exit 2 naming the file and line,
  within seconds and well under 1 GB;
- a 400-byte YAML eval set of nested aliases ("billion laughs") → exit 2 naming the file
  and line, before any model call, nothing written to the store;
- an eval-set line nested 100,000 levels deep → exit 2 naming the file and line (not
  "internal error: RecursionError").
"""

from __future__ import annotations

import json
from pathlib import Path

from tests.fixtures_prompts import PromptProject
from tests.hostile._measure import run_llmops
from tests.openai_server import FakeOpenAI

MAX_SECONDS = 20  # on a busy two-core CI machine; the limits stop each bomb in a few
MAX_MB = 1000


def _version(project: PromptProject, content: str, variables: str = "[]") -> None:
    project.write(
        "prompts/bomb/v1.yaml",
        f"variables: {variables}\nmessages:\n  - role: user\n    content: |\n"
        + "".join(f"      {line}\n" for line in content.splitlines()),
    )


def test_a_constant_string_bomb_is_found_by_prompts_check(prompt_project: PromptProject) -> None:
    _version(prompt_project, "Hello.\n{{ ('a' * 100000) * 20000 }}")
    res = run_llmops(prompt_project.root, "prompts", "check")
    assert res.code == 2, res.err
    assert "prompts/bomb/v1.yaml:6" in res.err
    assert "2,000,000,000 characters" in res.err
    assert res.seconds < MAX_SECONDS and res.peak_mb < MAX_MB


def test_nested_constant_loops_are_found_by_prompts_check(prompt_project: PromptProject) -> None:
    _version(prompt_project,
             "{% for i in range(100000) %}{% for j in range(100000) %}.{% endfor %}{% endfor %}")
    res = run_llmops(prompt_project.root, "prompts", "check")
    assert res.code == 2, res.err
    assert "prompts/bomb/v1.yaml:5" in res.err and "10,000,000,000 times" in res.err


def test_a_bomb_built_from_a_variable_stops_at_the_sandbox_limit(
    prompt_project: PromptProject,
) -> None:
    _version(prompt_project, "Question:\n{{ question * 100000000 }}", "[question]")
    res = run_llmops(prompt_project.root, "prompts", "render", "bomb@v1", "--var", "question=aaaa")
    assert res.code == 2, res.err
    assert "prompts/bomb/v1.yaml:6" in res.err
    assert "400,000,000 characters" in res.err and "limit is 10,000,000" in res.err
    assert res.seconds < MAX_SECONDS and res.peak_mb < MAX_MB


def test_loops_over_a_variable_stop_at_the_iteration_limit(prompt_project: PromptProject) -> None:
    _version(
        prompt_project,
        "{% for a in question %}{% for b in question %}{% for c in question %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "[question]",
    )
    res = run_llmops(prompt_project.root, "prompts", "render", "bomb@v1",
                     "--var", "question=" + "q" * 2000)
    assert res.code == 2, res.err
    assert "prompts/bomb/v1.yaml" in res.err and "loops run more than 1,000,000 times" in res.err
    assert res.seconds < MAX_SECONDS and res.peak_mb < MAX_MB


def test_output_buffered_in_a_set_block_is_bounded(prompt_project: PromptProject) -> None:
    _version(
        prompt_project,
        "{% set page %}{% for i in range(100000) %}{{ question }}{% endfor %}{% endset %}"
        "{{ page | length }}",
        "[question]",
    )
    res = run_llmops(prompt_project.root, "prompts", "render", "bomb@v1",
                     "--var", "question=" + "q" * 100_000)
    assert res.code == 2, res.err
    assert "longer than 10,000,000 characters" in res.err
    assert res.seconds < MAX_SECONDS and res.peak_mb < MAX_MB


BILLION_LAUGHS = """\
- id: a
  vars: {question: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]}
- id: b
  vars: {question: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]}
- id: c
  vars: {question: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]}
- id: d
  vars: {question: &d [*c, *c, *c, *c, *c, *c, *c, *c, *c]}
- id: e
  vars: {question: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]}
- id: f
  vars: {question: &f [*e, *e, *e, *e, *e, *e, *e, *e, *e]}
- id: g
  vars: {question: [*f, *f, *f, *f, *f, *f, *f, *f, *f]}
"""


def _eval_project(root: Path, server: FakeOpenAI, evalset: str) -> Path:
    from tests.fixtures_eval import build_project

    build_project(root, server.provider_config(), cases=[], evalset_name=evalset)
    return root


def test_a_yaml_alias_bomb_in_an_eval_set_is_refused(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = _eval_project(tmp_path / "p", openai_server, "qa.yaml")
    (root / "evalsets" / "qa.yaml").write_text(BILLION_LAUGHS)
    res = run_llmops(root, "eval", "qa", "--format", "none")
    assert res.code == 2, res.err
    assert "evalsets/qa.yaml:" in res.err and "aliases expand the document" in res.err
    assert res.seconds < MAX_SECONDS and res.peak_mb < MAX_MB
    assert openai_server.requests.count() == 0
    assert not (root / ".llmops" / "results.db").exists()


def test_a_line_nested_100000_deep_is_a_user_error(
    openai_server: FakeOpenAI, tmp_path: Path
) -> None:
    root = _eval_project(tmp_path / "p", openai_server, "qa.jsonl")
    deep = '{"id": "deep", "vars": {"question": ' + "[" * 100_000 + "]" * 100_000 + "}}"
    good = json.dumps({"id": "ok", "vars": {"question": "hi"}})
    (root / "evalsets" / "qa.jsonl").write_text(good + "\n" + deep + "\n")
    res = run_llmops(root, "eval", "qa", "--format", "none")
    assert res.code == 2, res.err
    assert "evalsets/qa.jsonl:2" in res.err and "nested more than" in res.err
    assert "internal error" not in res.err
    assert openai_server.requests.count() == 0
