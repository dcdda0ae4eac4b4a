"""Rendering: sandboxed, strict, and checked against `variables:` before anything runs."""

from __future__ import annotations

import pytest

from llmops.errors import PromptError, TemplateError
from llmops.prompts import load_registry, prompt_variables_check, render_messages
from tests.fixtures_prompts import PromptProject


def _version(project: PromptProject, text: str, name: str = "greeting", version: str = "v2"):
    project.write(f"prompts/{name}/{version}.yaml", text)
    return load_registry(project.root).get(name, version)


def test_renders_every_message(prompt_project: PromptProject) -> None:
    v2 = load_registry(prompt_project.root).get("greeting", "v2")
    messages = render_messages(v2, {"name": "Ada", "town": "Leeds", "unused": 1})
    assert messages == [
        {"role": "system", "content": "You are friendly.\nKeep it short.\n"},
        {"role": "user", "content": "Say hello to Ada from Leeds.\n"},  # trailing newline kept
    ]


def test_rag_prompt_gets_context(prompt_project: PromptProject) -> None:
    ask = load_registry(prompt_project.root).resolve("ask")
    context = [
        {"text": "Refunds take 5 days.", "source": "a.md"},
        {"text": "Ship fast.", "source": "b.md"},
    ]
    [message] = render_messages(ask, {"question": "How long?", "context": context})
    assert message["content"] == "[1] Refunds take 5 days.\n[2] Ship fast.\nQ: How long?\n"


def test_missing_context_is_explained(prompt_project: PromptProject) -> None:
    ask = load_registry(prompt_project.root).resolve("ask")
    with pytest.raises(TemplateError, match=r"missing variable.*'context'"):
        render_messages(ask, {"question": "q"})


def test_missing_variable(prompt_project: PromptProject) -> None:
    v2 = load_registry(prompt_project.root).get("greeting", "v2")
    with pytest.raises(TemplateError, match=r"missing variable.*'town'") as info:
        render_messages(v2, {"name": "Ada"})
    assert info.value.file is not None and info.value.file.endswith("greeting/v2.yaml")


def test_undeclared_and_unused_variables_are_both_reported(prompt_project: PromptProject) -> None:
    v = _version(
        prompt_project,
        "variables: [name, town]\nmessages:\n  - role: user\n"
        "    content: 'Hi {{ name }} {{ nick }}'\n",
    )
    with pytest.raises(TemplateError) as info:
        prompt_variables_check(v)
    text = str(info.value)
    assert "undeclared 'nick'" in text and "unused 'town'" in text
    assert info.value.line == 1  # the `variables:` line


def test_loop_and_set_variables_are_not_undeclared(prompt_project: PromptProject) -> None:
    v = _version(
        prompt_project,
        "variables: [items]\nmessages:\n  - role: user\n    content: "
        '\'{% set sep = ", " %}{% for i in items %}{{ i }}{{ sep }}{% endfor %}'
        "{{ range(2)|list }}'\n",
    )
    prompt_variables_check(v)
    assert render_messages(v, {"items": ["a", "b"]})[0]["content"] == "a, b, [0, 1]"


def test_undefined_attribute_is_an_error_not_empty(prompt_project: PromptProject) -> None:
    ask = load_registry(prompt_project.root).resolve("ask")
    with pytest.raises(TemplateError, match="undefined value in messages\\[0\\]"):
        render_messages(ask, {"question": "q", "context": [{"body": "no text key"}]})


def test_syntax_error_names_file_and_line(prompt_project: PromptProject) -> None:
    v = _version(
        prompt_project,
        "variables: [name]\n"  # line 1
        "messages:\n"  # 2
        "  - role: system\n"  # 3
        "    content: hi\n"  # 4
        "  - role: user\n"  # 5
        "    content: |\n"  # 6
        "      Hello {{ name }}\n"  # 7: template line 1
        "      {% if name %}\n"  # 8: template line 2
        "      oops {{ name }\n",  # 9: template line 3
    )
    with pytest.raises(TemplateError) as info:
        prompt_variables_check(v)
    err = info.value
    assert err.line == 9
    assert "messages[1] (user), template line 3" in err.message
    assert str(err).split(":")[1] == "9"


def test_syntax_error_in_a_one_line_template(prompt_project: PromptProject) -> None:
    v = _version(
        prompt_project,
        "variables: [name]\nmessages:\n  - role: user\n    content: 'Hi {{ name'\n",
    )
    with pytest.raises(TemplateError, match="template line 1") as info:
        render_messages(v, {"name": "x"})
    assert info.value.line == 4


@pytest.mark.parametrize(
    "template",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ name.__class__ }}",
        "{{ name['__class__'] }}",
        "{{ name|attr('__class__') }}",
        "{{ cycler.__init__.__globals__ }}",
    ],
)
def test_unsafe_access_is_refused_before_rendering(
    prompt_project: PromptProject, template: str
) -> None:
    v = _version(
        prompt_project,
        f'variables: [name]\nmessages:\n  - role: user\n    content: "{{{{ name }}}} {template}"\n',
    )
    with pytest.raises(TemplateError, match="unsafe access to '__") as info:
        render_messages(v, {"name": "x"})
    assert info.value.line == 4


def test_sandbox_blocks_unsafe_calls_at_runtime(prompt_project: PromptProject) -> None:
    # No underscore to spot statically: the immutable sandbox refuses to mutate the list.
    v = _version(
        prompt_project,
        "variables: [items]\nmessages:\n  - role: user\n"
        "    content: '{{ items.append(1) }}{{ items }}'\n",
    )
    items: list[int] = []
    with pytest.raises(TemplateError, match="unsafe access blocked"):
        render_messages(v, {"items": items})
    assert items == []


def test_rag_configs_cannot_be_rendered(prompt_project: PromptProject) -> None:
    kb = load_registry(prompt_project.root).resolve("kb")
    with pytest.raises(PromptError, match="is a RAG config"):
        render_messages(kb, {})


def test_rag_prompt_must_use_context(prompt_project: PromptProject) -> None:
    v = _version(
        prompt_project,
        "variables: [question]\nrag: kb\n"
        "messages:\n  - role: user\n    content: '{{ question }}'\n",
        name="ask",
        version="v2",
    )
    with pytest.raises(TemplateError, match="unused 'context'"):
        prompt_variables_check(v)
