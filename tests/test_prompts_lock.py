"""Releasing versions through the API: lock, check, promote, and the lock file."""

from __future__ import annotations

import json

import pytest

from llmops.errors import PromptError
from llmops.prompts import check, load_registry, lock, promote
from llmops.prompts.labels import labels_text
from tests.fixtures_prompts import PromptProject

LOCK = "prompts/llmops.lock"


def test_lock_records_every_version(prompt_project: PromptProject) -> None:
    result = lock(load_registry(prompt_project.root))
    assert result.added == ["ask@v1", "greeting@v1", "greeting@v2", "kb@v1"]
    data = json.loads(prompt_project.read(LOCK))
    assert data["llmops_lock"] == 1
    entry = data["versions"]["greeting@v1"]
    registry = load_registry(prompt_project.root)
    v1 = registry.get("greeting", "v1")
    assert entry["digest"] == v1.digest and v1.locked and not v1.edited
    assert entry["snapshot"]["messages"][1]["content"] == "Say hello to {{ name }}."
    assert not registry.changed_or_unlocked()
    again = lock(registry)
    assert not again.changed


def test_check_passes_then_reports_an_edit_with_a_diff(prompt_project: PromptProject) -> None:
    lock(load_registry(prompt_project.root))
    assert check(load_registry(prompt_project.root)).ok
    text = prompt_project.read("prompts/greeting/v1.yaml")
    prompt_project.write(
        "prompts/greeting/v1.yaml", text.replace("You are friendly.", "You are rude.")
    )
    report = check(load_registry(prompt_project.root))
    assert not report.ok
    [edited] = report.edited
    assert edited.ref == "greeting@v1" and edited.path == "prompts/greeting/v1.yaml"
    assert "-  content: You are friendly.\n" in edited.diff
    assert "+  content: You are rude.\n" in edited.diff
    assert "--- greeting@v1 (locked)" in edited.diff


def test_check_reports_a_deleted_locked_version(prompt_project: PromptProject) -> None:
    lock(load_registry(prompt_project.root))
    (prompt_project.root / "prompts/greeting/v2.yaml").unlink()
    prompt_project.write("prompts/greeting/labels.yaml", "production: v1\n")
    report = check(load_registry(prompt_project.root))
    assert report.deleted == ["greeting@v2"] and not report.ok
    with pytest.raises(PromptError, match="deleted: greeting@v2"):
        lock(load_registry(prompt_project.root))
    assert lock(load_registry(prompt_project.root), prune=True).pruned == ["greeting@v2"]
    assert check(load_registry(prompt_project.root)).ok


def test_prune_only_forgets_deleted_versions(prompt_project: PromptProject) -> None:
    lock(load_registry(prompt_project.root), ["greeting@v1", "greeting@v2"])
    (prompt_project.root / "prompts/greeting/v2.yaml").unlink()
    prompt_project.write("prompts/greeting/labels.yaml", "production: v1\n")
    prompt_project.write("prompts/greeting/v3.yaml", "messages: [{role: user, content: hi}]\n")
    result = lock(load_registry(prompt_project.root), prune=True)
    assert result.pruned == ["greeting@v2"] and result.added == [] and result.refreshed == []
    assert sorted(json.loads(prompt_project.read(LOCK))["versions"]) == ["greeting@v1"]
    registry = load_registry(prompt_project.root)
    assert not registry.get("greeting", "v3").locked and not registry.get("kb", "v1").locked
    before = prompt_project.read(LOCK)
    assert not lock(load_registry(prompt_project.root), prune=True).changed
    assert prompt_project.read(LOCK) == before
    with pytest.raises(PromptError, match="give no versions"):
        lock(load_registry(prompt_project.root), ["greeting@v3"], prune=True)
    assert lock(load_registry(prompt_project.root)).added == [
        "ask@v1", "greeting@v3", "kb@v1"
    ]


def test_prune_without_a_lock_file_writes_nothing(prompt_project: PromptProject) -> None:
    assert not lock(load_registry(prompt_project.root), prune=True).changed
    assert not (prompt_project.root / LOCK).exists()


def test_moving_a_rag_label_is_a_note_not_a_failure(prompt_project: PromptProject) -> None:
    lock(load_registry(prompt_project.root))
    prompt_project.write("prompts/kb/v2.yaml", "kind: rag\nsources: other/*.md\n")
    prompt_project.write("prompts/kb/labels.yaml", "production: v2\n")
    report = check(load_registry(prompt_project.root))
    assert report.ok and report.rag_moved == ["ask@v1"]
    result = lock(load_registry(prompt_project.root))
    assert result.refreshed == ["ask@v1"] and result.added == ["kb@v2"]
    assert check(load_registry(prompt_project.root)).rag_moved == []


def test_lock_refuses_an_edited_version(prompt_project: PromptProject) -> None:
    lock(load_registry(prompt_project.root))
    before = prompt_project.read(LOCK)
    text = prompt_project.read("prompts/greeting/v2.yaml")
    prompt_project.write("prompts/greeting/v2.yaml", text.replace("48", "64"))
    with pytest.raises(PromptError, match="greeting@v2 is locked but its file was edited"):
        lock(load_registry(prompt_project.root))
    assert prompt_project.read(LOCK) == before


def test_lock_refuses_a_broken_template(prompt_project: PromptProject) -> None:
    text = prompt_project.read("prompts/greeting/v2.yaml").replace("{{ town }}", "{{ town")
    prompt_project.write("prompts/greeting/v2.yaml", text)
    with pytest.raises(PromptError, match="template syntax error"):
        lock(load_registry(prompt_project.root))
    assert not (prompt_project.root / LOCK).exists()


def test_promote_moves_a_label_and_keeps_the_rest(prompt_project: PromptProject) -> None:
    result = promote(load_registry(prompt_project.root), "greeting@v2", "production")
    assert (result.previous, result.version, result.newly_locked) == ("v1", "v2", True)
    assert prompt_project.read("prompts/greeting/labels.yaml") == (
        "# where each version runs\nproduction: v2\nstaging: v2\n"
    )
    registry = load_registry(prompt_project.root)
    assert registry.resolve("greeting").version == "v2"
    assert registry.get("greeting", "v2").locked
    assert not registry.get("greeting", "v1").locked
    # rollback
    promote(registry, "greeting@v1", "production")
    assert load_registry(prompt_project.root).resolve("greeting").version == "v1"


def test_promote_adds_a_new_label(prompt_project: PromptProject) -> None:
    promote(load_registry(prompt_project.root), "greeting@staging", "canary")
    assert prompt_project.read("prompts/greeting/labels.yaml").endswith("canary: v2\n")
    assert load_registry(prompt_project.root).labels("greeting")["canary"] == "v2"


def test_promote_creates_a_labels_file(prompt_project: PromptProject) -> None:
    (prompt_project.root / "prompts/kb/labels.yaml").unlink()
    (prompt_project.root / "prompts/ask/labels.yaml").unlink()
    prompt_project.write(
        "prompts/ask/v1.yaml",
        prompt_project.read("prompts/ask/v1.yaml").replace("kb@production", "kb@v1"),
    )
    promote(load_registry(prompt_project.root), "kb@v1", "production")
    assert prompt_project.read("prompts/kb/labels.yaml") == "production: v1\n"


@pytest.mark.parametrize(
    ("ref", "label", "words"),
    [
        ("greeting@v9", "production", "no version or label 'v9'"),
        ("nope@v1", "production", "unknown prompt"),
        ("greeting@v2", "v1", "same name as a version"),
        ("greeting@v2", "bad label", "not a valid label name"),
    ],
)
def test_promote_refusals(prompt_project: PromptProject, ref: str, label: str, words: str) -> None:
    before = prompt_project.snapshot()
    with pytest.raises(PromptError, match=words):
        promote(load_registry(prompt_project.root), ref, label)
    assert prompt_project.snapshot() == before


def test_promote_refuses_a_version_failing_check(prompt_project: PromptProject) -> None:
    text = prompt_project.read("prompts/greeting/v2.yaml").replace("[name, town]", "[name]")
    prompt_project.write("prompts/greeting/v2.yaml", text)
    before = prompt_project.snapshot()
    with pytest.raises(PromptError, match="undeclared 'town'"):
        promote(load_registry(prompt_project.root), "greeting@v2", "production")
    assert prompt_project.snapshot() == before


def test_promote_refuses_an_edited_locked_version(prompt_project: PromptProject) -> None:
    lock(load_registry(prompt_project.root))
    text = prompt_project.read("prompts/greeting/v2.yaml").replace("Keep it short.", "Ramble.")
    prompt_project.write("prompts/greeting/v2.yaml", text)
    before = prompt_project.snapshot()
    with pytest.raises(PromptError, match="locked but its file was edited"):
        promote(load_registry(prompt_project.root), "greeting@v2", "production")
    assert prompt_project.snapshot() == before


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("{not json", "lock file is not valid JSON"),
        ("[]", "must be a JSON object"),
        ('{"llmops_lock": 1}', "versions: required key is missing"),
        ('{"llmops_lock": 7, "versions": {}}', "unsupported lock format 7"),
        ('{"llmops_lock": 1, "versions": {"x@v1": {"digest": "abc"}}}', "versions.x@v1.digest"),
    ],
)
def test_nonsense_lock_files(prompt_project: PromptProject, text: str, words: str) -> None:
    prompt_project.write(LOCK, text)
    with pytest.raises(PromptError, match=words):
        load_registry(prompt_project.root)


def test_hand_edited_snapshot_is_detected(prompt_project: PromptProject) -> None:
    lock(load_registry(prompt_project.root))
    data = json.loads(prompt_project.read(LOCK))
    data["versions"]["greeting@v1"]["snapshot"]["params"]["max_tokens"] = 999
    prompt_project.write(LOCK, json.dumps(data, indent=2))
    with pytest.raises(PromptError, match="snapshot does not match content_digest") as info:
        load_registry(prompt_project.root)
    assert info.value.line is not None and info.value.line > 1


@pytest.mark.parametrize(
    ("before", "after"),
    [
        ("", "production: v2\n"),
        ("production: v1", "production: v2\n"),
        (
            "# envs\nproduction: v1  # live\nprod: v1\n",
            "# envs\nproduction: v2  # live\nprod: v1\n",
        ),
        ('"production": v1\nstaging: v3\n', "production: v2\nstaging: v3\n"),
        ("prod: v1\n", "prod: v1\nproduction: v2\n"),
        ("{production: v1, staging: v3}\n", "production: v2\nstaging: v3\n"),
    ],
)
def test_labels_text_edits_one_line(before: str, after: str) -> None:
    assert labels_text(before, "production", "v2") == after
