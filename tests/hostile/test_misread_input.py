"""Input that was quietly read as something else.

Attack → answer:

- ``on: v2`` and ``007: v1`` written by hand in ``labels.yaml`` → the labels ``on`` and
  ``007``, not YAML 1.1's ``True`` and ``7``;
- ``prompts promote NAME@v2 --label true`` → the label ``true``, written quoted in place
  (``'true': v2``) so that every YAML reader sees a string, the file's comments kept;
- ``{{ items | map(attribute='nope') | list }}`` → exit 2 naming the attribute, not the
  text ``[Undefined, Undefined]`` sent to the model;
- an eval set saved as Latin-1 → exit 2 naming the file, line and column, not a byte
  offset;
- ``"human_score": NaN`` (or ``Infinity``) → exit 2 naming the file, line and field.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.fixtures_eval import build_project
from tests.fixtures_prompts import PromptProject
from tests.openai_server import FakeOpenAI


def test_yaml_1_1_words_and_numbers_stay_label_names(prompt_project: PromptProject) -> None:
    v1 = prompt_project.read("prompts/greeting/v1.yaml")
    prompt_project.write("prompts/greeting/007.yaml", v1)
    prompt_project.write("prompts/greeting/labels.yaml", "production: 007\non: v2\n008: v1\n")
    on = prompt_project.cli("prompts", "show", "greeting@on")
    assert on.exit_code == 0, on.output
    assert "greeting@v2" in on.output
    assert "greeting@v1" in prompt_project.cli("prompts", "show", "greeting@008").output
    assert "greeting@007" in prompt_project.cli("prompts", "show", "greeting").output


def test_promote_to_a_label_named_true(prompt_project: PromptProject) -> None:
    res = prompt_project.cli("prompts", "promote", "greeting@v2", "--label", "true")
    assert res.exit_code == 0, res.output
    labels = prompt_project.read("prompts/greeting/labels.yaml")
    assert labels == "# where each version runs\nproduction: v1\nstaging: v2\n'true': v2\n"
    shown = prompt_project.cli("prompts", "show", "greeting@true")
    assert shown.exit_code == 0, shown.output
    assert "greeting@v2" in shown.output
    listed = prompt_project.cli("prompts", "list")
    assert "true" in listed.output and "True" not in listed.output


def test_an_undefined_attribute_in_map_is_an_error(prompt_project: PromptProject) -> None:
    prompt_project.write(
        "prompts/listing/v1.yaml",
        "variables: [items]\nmessages:\n  - role: user\n"
        "    content: \"Items: {{ items | map(attribute='nope') | list }}\"\n",
    )
    vars_file = prompt_project.write("vars.json", json.dumps({"items": [{"name": "a"}]}))
    res = prompt_project.cli("prompts", "render", "listing@v1", "--vars", str(vars_file))
    assert res.exit_code == 2, res.output
    assert "Undefined" not in res.stdout
    assert "prompts/listing/v1.yaml" in res.output and "no attribute 'nope'" in res.output


def _run(root: Path, *args: str):  # type: ignore[no-untyped-def]
    from typer.testing import CliRunner

    from llmops.cli import app

    return CliRunner().invoke(app, ["--project", str(root), *args])


def test_a_latin1_eval_set_names_the_line(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), cases=[])
    lines = [json.dumps({"id": f"c{i}", "vars": {"question": "plain"}}) for i in range(3)]
    lines.append('{"id": "c3", "vars": {"question": "caf\xe9 cr\xe8me"}}')
    (root / "evalsets" / "qa.jsonl").write_bytes("\n".join(lines).encode("latin-1") + b"\n")
    res = _run(root, "eval", "qa", "--format", "none")
    assert res.exit_code == 2, res.output
    assert "evalsets/qa.jsonl:4" in res.stderr and "column 39" in res.stderr
    assert "not valid UTF-8" in res.stderr
    assert openai_server.requests.count() == 0


@pytest.mark.parametrize("score", ["NaN", "Infinity", "-Infinity"])
def test_a_human_score_that_is_not_a_number(
    openai_server: FakeOpenAI, tmp_path: Path, score: str
) -> None:
    root = build_project(tmp_path / "p", openai_server.provider_config(), cases=[])
    (root / "evalsets" / "qa.jsonl").write_text(
        json.dumps({"id": "a", "vars": {"question": "x"}, "human_score": 0.5}) + "\n"
        + '{"id": "b", "vars": {"question": "y"}, "human_score": ' + score + "}\n"
    )
    res = _run(root, "eval", "qa", "--format", "none")
    assert res.exit_code == 2, res.output
    assert "evalsets/qa.jsonl:2" in res.stderr and "human_score" in res.stderr
    assert openai_server.requests.count() == 0
