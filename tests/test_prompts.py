"""The prompt registry through the Python API: loading, references, digests."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from llmops.errors import PromptError
from llmops.project import load_project
from llmops.prompts import PromptVersion, RagConfig, load_registry, parse_ref
from tests.fixtures_prompts import PromptProject

ROOT = Path(__file__).resolve().parent.parent


def test_loads_versions_labels_and_kinds(prompt_project: PromptProject) -> None:
    registry = load_registry(prompt_project.root)
    assert registry.names() == ["ask", "greeting", "kb"]
    assert [v.version for v in registry.versions("greeting")] == ["v1", "v2"]
    assert registry.labels("greeting") == {"production": "v1", "staging": "v2"}
    v2 = registry.get("greeting", "v2")
    assert isinstance(v2, PromptVersion)
    assert v2.kind == "prompt" and v2.ref == "greeting@v2"
    assert v2.variables == ["name", "town"]
    assert v2.params == {"temperature": 0, "max_tokens": 48}
    assert v2.messages[1] == {
        "role": "user",
        "content": "Say hello to {{ name }} from {{ town }}.\n",
    }
    assert v2.path == prompt_project.root.resolve() / "prompts/greeting/v2.yaml"
    assert len(v2.digest) == 64 and not v2.locked


def test_resolve_name_version_and_label(prompt_project: PromptProject) -> None:
    registry = load_registry(prompt_project.root)
    assert registry.resolve("greeting").version == "v1"  # the production label
    assert registry.resolve("greeting@staging").version == "v2"
    assert registry.resolve("greeting@v2").version == "v2"


@pytest.mark.parametrize(
    ("ref", "words"),
    [
        ("nope", "unknown prompt 'nope'"),
        ("greeting@v9", "greeting has no version or label 'v9'"),
        ("greeting@", "is not a prompt reference"),
        ("a@b@c", "is not a prompt reference"),
    ],
)
def test_resolve_errors_name_the_problem(
    prompt_project: PromptProject, ref: str, words: str
) -> None:
    registry = load_registry(prompt_project.root)
    with pytest.raises(PromptError, match=words):
        registry.resolve(ref)


def test_name_alone_needs_a_production_label(prompt_project: PromptProject) -> None:
    prompt_project.write("prompts/greeting/labels.yaml", "staging: v2\n")
    registry = load_registry(prompt_project.root)
    with pytest.raises(PromptError, match="no 'production' label") as info:
        registry.resolve("greeting")
    assert "versions: v1, v2" in str(info.value)


def test_parse_ref() -> None:
    assert parse_ref("a") == ("a", None)
    assert parse_ref("a@v1") == ("a", "v1")
    with pytest.raises(PromptError):
        parse_ref("has space")


def test_versions_sort_naturally(prompt_project: PromptProject) -> None:
    for v in ("v10", "v3"):
        prompt_project.write(
            f"prompts/greeting/{v}.yaml", prompt_project.read("prompts/greeting/v1.yaml")
        )
    registry = load_registry(prompt_project.root)
    assert [v.version for v in registry.versions("greeting")] == ["v1", "v2", "v3", "v10"]


def test_digest_ignores_description_and_comments(prompt_project: PromptProject) -> None:
    before = load_registry(prompt_project.root).get("greeting", "v1").digest
    text = prompt_project.read("prompts/greeting/v1.yaml")
    prompt_project.write(
        "prompts/greeting/v1.yaml",
        "# a comment\n" + text.replace("Greets the user", "Says hi"),
    )
    assert load_registry(prompt_project.root).get("greeting", "v1").digest == before


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("You are friendly.", "You are terse."),
        ("max_tokens: 32", "max_tokens: 33"),
        ("role: system", "role: developer"),
    ],
)
def test_digest_changes_with_behaviour(prompt_project: PromptProject, old: str, new: str) -> None:
    before = load_registry(prompt_project.root).get("greeting", "v1").digest
    text = prompt_project.read("prompts/greeting/v1.yaml")
    assert old in text
    prompt_project.write("prompts/greeting/v1.yaml", text.replace(old, new, 1))
    assert load_registry(prompt_project.root).get("greeting", "v1").digest != before


def test_variable_order_does_not_change_the_digest(prompt_project: PromptProject) -> None:
    before = load_registry(prompt_project.root).get("greeting", "v2").digest
    text = prompt_project.read("prompts/greeting/v2.yaml")
    prompt_project.write("prompts/greeting/v2.yaml", text.replace("[name, town]", "[town, name]"))
    assert load_registry(prompt_project.root).get("greeting", "v2").digest == before


def test_rag_config_is_loaded_with_defaults(prompt_project: PromptProject) -> None:
    kb = load_registry(prompt_project.root).resolve("kb")
    assert kb.kind == "rag" and kb.messages == []
    assert isinstance(kb.rag_config, RagConfig)
    assert kb.rag_config.sources == ["docs/**/*.md"]  # one glob becomes a list
    assert (kb.rag_config.chunking.size, kb.rag_config.chunking.overlap) == (400, 50)
    assert kb.rag_config.top_k == 2
    assert kb.rag_config.collection == "kb"  # defaults to the config's name
    assert kb.rag_config.embedder == "all-MiniLM-L6-v2"
    assert kb.rag_config.chroma is None


def test_prompt_digest_includes_the_resolved_rag_digest(prompt_project: PromptProject) -> None:
    registry = load_registry(prompt_project.root)
    ask, kb = registry.resolve("ask"), registry.resolve("kb")
    assert ask.rag == "kb@production" and ask.rag_digest == kb.digest
    # a new RAG config behind the same label changes the prompt's digest, not its file
    prompt_project.write("prompts/kb/v2.yaml", KB_V2)
    prompt_project.write("prompts/kb/labels.yaml", "production: v2\n")
    moved = load_registry(prompt_project.root).resolve("ask")
    assert moved.digest != ask.digest
    assert moved.content_digest == ask.content_digest
    # the same config reached through another reference gives the same digest
    prompt_project.write(
        "prompts/ask/v1.yaml",
        prompt_project.read("prompts/ask/v1.yaml").replace("kb@production", "kb@v2"),
    )
    assert load_registry(prompt_project.root).resolve("ask").digest == moved.digest


KB_V2 = """\
kind: rag
sources: [docs/**/*.md, faq/*.md]
chunking: {size: 300, overlap: 0}
collection: kb_small
chroma: {host: 127.0.0.1, port: 8123}
"""


def test_rag_config_fields(prompt_project: PromptProject) -> None:
    prompt_project.write("prompts/kb/v2.yaml", KB_V2)
    kb2 = load_registry(prompt_project.root).get("kb", "v2")
    assert kb2.rag_config is not None
    assert kb2.rag_config.sources == ["docs/**/*.md", "faq/*.md"]
    assert kb2.rag_config.collection == "kb_small"
    assert kb2.rag_config.chroma is not None and kb2.rag_config.chroma.port == 8123


def test_rag_must_point_at_a_rag_config(prompt_project: PromptProject) -> None:
    text = prompt_project.read("prompts/ask/v1.yaml").replace("kb@production", "greeting")
    prompt_project.write("prompts/ask/v1.yaml", text)
    with pytest.raises(PromptError, match="is a prompt, not a RAG config") as info:
        load_registry(prompt_project.root)
    assert info.value.line == 2


def test_unknown_rag_reference_names_the_line(prompt_project: PromptProject) -> None:
    text = prompt_project.read("prompts/ask/v1.yaml").replace("kb@production", "kbb@production")
    prompt_project.write("prompts/ask/v1.yaml", text)
    with pytest.raises(PromptError, match="unknown prompt 'kbb'") as info:
        load_registry(prompt_project.root)
    assert info.value.line == 2 and info.value.file is not None
    assert info.value.file.endswith("ask/v1.yaml")


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        (
            "kind: rag\nsources: a/*.md\nchunking: {size: 100, overlap: 100}\n",
            "overlap (100) must be smaller than size (100)",
            3,
        ),
        ("kind: rag\nsources: []\n", "at least 1 item", 2),
        ("kind: rag\nsources: a\ntop_k: 0\n", "greater than or equal to 1", 3),
        ("kind: rag\nsources: a\ncolection: x\n", "unknown key", 3),
        ("kind: rag\nsources: a\nchroma: {port: 1}\n", "required key is missing", 3),
        ("kind: rag\nsources: a\ncollection: x\n", "not a valid collection name", 3),
    ],
)
def test_bad_rag_configs(prompt_project: PromptProject, text: str, words: str, line: int) -> None:
    prompt_project.write("prompts/kb/v1.yaml", text)
    with pytest.raises(PromptError, match=re.escape(words)) as info:
        load_registry(prompt_project.root)
    assert info.value.line == line


@pytest.mark.parametrize(
    ("text", "words", "line"),
    [
        ("variables: [x]\n", "messages: required key is missing", 1),
        ("messages:\n  - role: robot\n    content: hi\n", "messages.0.role", 2),
        ("messages: []\n", "at least 1 item", 1),
        (
            "variables: [1x]\nmessages:\n  - {role: user, content: hi}\n",
            "'1x' is not a valid variable",
            1,
        ),
        (
            "variables: [a, a]\nmessages:\n  - {role: user, content: '{{a}}'}\n",
            "'a' is listed twice",
            1,
        ),
        (
            "params: {when: 2024-01-01}\nmessages:\n  - {role: user, content: hi}\n",
            "date values are not allowed",
            1,
        ),
        ("kind: chain\nmessages:\n  - {role: user, content: hi}\n", "kind", 1),
        ("- just a list\n", "expected a mapping", 1),
        (
            "rag: kb@production\nvariables: [context]\n"
            "messages:\n  - {role: user, content: '{{ context }}'}\n",
            "'context' is filled by retrieval",
            1,
        ),
    ],
)
def test_bad_prompt_files(prompt_project: PromptProject, text: str, words: str, line: int) -> None:
    prompt_project.write("prompts/greeting/v2.yaml", text)
    with pytest.raises(PromptError, match=re.escape(words)) as info:
        load_registry(prompt_project.root)
    assert info.value.line == line
    assert "\n" not in str(info.value)


def test_duplicate_version_files(prompt_project: PromptProject) -> None:
    prompt_project.write("prompts/greeting/v1.yml", prompt_project.read("prompts/greeting/v1.yaml"))
    with pytest.raises(PromptError, match="duplicate version 'v1'"):
        load_registry(prompt_project.root)


def test_label_pointing_to_a_missing_version(prompt_project: PromptProject) -> None:
    prompt_project.write("prompts/greeting/labels.yaml", "production: v1\nstaging: v7\n")
    with pytest.raises(PromptError, match="points to greeting@v7, which does not exist") as info:
        load_registry(prompt_project.root)
    assert info.value.line == 2


def test_label_named_like_a_version(prompt_project: PromptProject) -> None:
    prompt_project.write("prompts/greeting/labels.yaml", "v2: v1\n")
    with pytest.raises(PromptError, match="same name as a version"):
        load_registry(prompt_project.root)


def test_yaml_at_the_top_of_prompts_is_misplaced(prompt_project: PromptProject) -> None:
    prompt_project.write("prompts/loose.yaml", "messages: []\n")
    with pytest.raises(PromptError, match=r"belong in prompts/<name>/<version>\.yaml"):
        load_registry(prompt_project.root)


def test_changed_or_unlocked(prompt_project: PromptProject) -> None:
    registry = load_registry(prompt_project.root)
    assert {v.ref for v in registry.changed_or_unlocked()} == {
        "ask@v1",
        "greeting@v1",
        "greeting@v2",
        "kb@v1",
    }


def test_example_project_loads() -> None:
    project = load_project(ROOT)
    registry = load_registry(project)
    assert set(registry.names()) >= {"support_answer", "handbook_answer", "handbook"}
    assert registry.resolve("support_answer").version == "v1"
    assert registry.resolve("support_answer@staging").version == "v2"
    answer = registry.resolve(project.config.suites["handbook_qa"].prompt)
    assert answer.rag == "handbook@production"
    assert answer.rag_digest == registry.resolve("handbook").digest
    handbook = registry.resolve("handbook")
    assert handbook.rag_config is not None
    assert handbook.rag_config.sources == ["corpus/handbook/**/*.md"]
    assert all(v.locked and not v.edited for v in registry.all())
