"""`llmops prompts ...` and `llmops init` through the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from tests.fixtures_prompts import PromptProject

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "sentence_transformers", "chromadb", "openai", "pandas", "numpy", "jinja2")


def one_error_line(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    return lines[0]


# --- happy paths ------------------------------------------------------------------


def test_version() -> None:
    result = CliRunner().invoke(app, ["--version"])
    assert result.exit_code == 0 and result.stdout.startswith("llmops ")


def test_list_table_and_json(prompt_project: PromptProject) -> None:
    result = prompt_project.cli("prompts", "list")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "VERSION", "KIND", "DIGEST", "LABELS", "LOCK"]
    assert lines[2].split()[:3] == ["greeting", "v1", "prompt"]
    assert lines[2].split()[4:] == ["production", "-"]
    rows = json.loads(prompt_project.cli("prompts", "list", "--json", "-").stdout)
    assert [(r["name"], r["version"]) for r in rows] == [
        ("ask", "v1"),
        ("greeting", "v1"),
        ("greeting", "v2"),
        ("kb", "v1"),
    ]
    greeting = rows[1]
    assert greeting["labels"] == ["production"] and greeting["locked"] is False
    assert len(greeting["digest"]) == 64 and greeting["kind"] == "prompt"


def test_list_json_to_a_file(prompt_project: PromptProject, tmp_path: Path) -> None:
    out = tmp_path / "out" / "list.json"
    assert prompt_project.cli("prompts", "list", "--json", str(out)).exit_code == 0
    assert len(json.loads(out.read_text())) == 4


def test_show(prompt_project: PromptProject) -> None:
    result = prompt_project.cli("prompts", "show", "ask")
    assert result.exit_code == 0
    assert result.stdout.startswith("ask@v1 (prompt)\n")
    assert "rag:         kb@production -> kb@v1" in result.stdout
    assert "{% for c in context %}" in result.stdout
    data = json.loads(prompt_project.cli("prompts", "show", "kb", "--json", "-").stdout)
    assert data["kind"] == "rag" and data["rag_config"]["chunking"] == {"size": 400, "overlap": 50}


def test_render_with_vars_file_and_overrides(prompt_project: PromptProject, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"name": "Ada", "town": "Leeds"}))
    result = prompt_project.cli(
        "prompts", "render", "greeting@staging", "--vars", str(vars_file), "--var", "town=York"
    )
    assert result.exit_code == 0, result.output
    assert result.stdout == (
        "[system]\nYou are friendly.\nKeep it short.\n\n[user]\nSay hello to Ada from York.\n"
    )
    data = json.loads(
        prompt_project.cli(
            "prompts", "render", "greeting", "--var", "name=Bo", "--json", "-"
        ).stdout
    )
    assert data["version"] == "v1" and data["messages"][1]["content"] == "Say hello to Bo."
    assert data["params"] == {"temperature": 0, "max_tokens": 32}


def test_render_rag_prompt_with_context(prompt_project: PromptProject, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"question": "Why?", "context": [{"text": "Because."}]}))
    result = prompt_project.cli("prompts", "render", "ask", "--vars", str(vars_file))
    assert result.exit_code == 0 and "[1] Because.\nQ: Why?" in result.stdout


def test_lock_check_edit_and_promote(prompt_project: PromptProject) -> None:
    result = prompt_project.cli("prompts", "check")
    assert result.exit_code == 0 and "4 unlocked" in result.stdout
    result = prompt_project.cli("prompts", "lock")
    assert result.exit_code == 0 and "locked greeting@v2" in result.stdout
    assert prompt_project.cli("prompts", "lock").stdout == "lock file already up to date\n"
    assert prompt_project.cli("prompts", "check").stdout.startswith("ok: 4 versions: 4 locked")

    text = prompt_project.read("prompts/greeting/v1.yaml")
    prompt_project.write(
        "prompts/greeting/v1.yaml", text.replace("max_tokens: 32", "max_tokens: 40")
    )
    result = prompt_project.cli("prompts", "check")
    assert result.exit_code == 1
    assert "prompts/greeting/v1.yaml: greeting@v1 is locked but was edited" in result.stdout
    assert "-  max_tokens: 32\n+  max_tokens: 40\n" in result.stdout
    assert result.stdout.rstrip().endswith("1 edited, 0 deleted")
    report = json.loads(prompt_project.cli("prompts", "check", "--json", "-").stdout)
    assert report["ok"] is False and report["edited"][0]["ref"] == "greeting@v1"
    prompt_project.write("prompts/greeting/v1.yaml", text)

    result = prompt_project.cli("prompts", "promote", "greeting@v2", "--label", "production")
    assert result.exit_code == 0 and "greeting: production v1 -> v2" in result.stdout
    assert "production: v2" in prompt_project.read("prompts/greeting/labels.yaml")
    assert "staging: v2" in prompt_project.read("prompts/greeting/labels.yaml")


def test_check_diff_lines_are_not_wrapped(prompt_project: PromptProject) -> None:
    long = "Be friendly, " * 12 + "and [b]never[/b] :smile: shout."
    prompt_project.write(
        "prompts/greeting/v3.yaml",
        f"messages:\n  - role: system\n    content: |\n      {long}\n"
        "  - role: user\n    content: hi\n",
    )
    prompt_project.cli("prompts", "lock")
    text = prompt_project.read("prompts/greeting/v3.yaml")
    prompt_project.write("prompts/greeting/v3.yaml", text.replace("shout", "yell"))
    result = prompt_project.cli("prompts", "check")
    assert result.exit_code == 1
    diff = result.stdout.splitlines()[1:-1]
    assert diff[0].startswith("--- greeting@v3 (locked)")
    assert all(line[:1] in (" ", "-", "+", "@") for line in diff), diff
    assert f"-    {long}" in diff and f"+    {long.replace('shout', 'yell')}" in diff


def test_check_exit_1_for_deleted_locked_version(prompt_project: PromptProject) -> None:
    prompt_project.cli("prompts", "lock")
    (prompt_project.root / "prompts/greeting/v2.yaml").unlink()
    prompt_project.write("prompts/greeting/labels.yaml", "production: v1\n")
    result = prompt_project.cli("prompts", "check")
    assert (
        result.exit_code == 1 and "greeting@v2 is locked but its file was deleted" in result.stdout
    )


def test_lock_prune_does_not_lock_drafts(prompt_project: PromptProject) -> None:
    assert prompt_project.cli("prompts", "lock", "greeting@v1", "greeting@v2").exit_code == 0
    (prompt_project.root / "prompts/greeting/v2.yaml").unlink()
    prompt_project.write("prompts/greeting/labels.yaml", "production: v1\n")
    result = prompt_project.cli("prompts", "lock", "--prune")
    assert result.exit_code == 0, result.output
    assert result.stdout == "forgot greeting@v2 (file deleted)\n"
    assert prompt_project.cli("prompts", "check").stdout.startswith(
        "ok: 3 versions: 1 locked, 2 unlocked"
    )
    result = prompt_project.cli("prompts", "lock", "--prune")
    assert result.stdout == "nothing to prune: every locked version still has its file\n"
    assert "give no versions" in one_error_line(
        prompt_project.cli("prompts", "lock", "--prune", "kb@v1")
    )
    result = prompt_project.cli("prompts", "lock")
    assert result.stdout == "locked ask@v1\nlocked kb@v1\n"


def test_example_project_commands() -> None:
    runner = CliRunner()
    base = ["--project", str(ROOT), "prompts"]
    check = runner.invoke(app, [*base, "check"])
    assert check.exit_code == 0 and check.stdout.startswith("ok:"), check.output
    listed = runner.invoke(app, [*base, "list", "--json", "-"])
    refs = {f"{r['name']}@{r['version']}" for r in json.loads(listed.stdout)}
    assert {"support_answer@v1", "support_answer@v2", "handbook_answer@v1", "handbook@v1"} <= refs
    rendered = runner.invoke(app, [*base, "render", "support_answer", "--var", "question=Hi?"])
    assert rendered.exit_code == 0 and rendered.stdout.rstrip().endswith("[user]\nHi?")


# --- bad input: exit 2, one line, nothing written ------------------------------------

V1 = "prompts/greeting/v1.yaml"


def _bad(prompt_project: PromptProject, rel: str, content: str | bytes) -> None:
    path = prompt_project.root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content, encoding="utf-8")


BAD_FILES = [
    (
        "malformed YAML",
        V1,
        "messages:\n  - role: user\n   content: [unclosed\n",
        ["v1.yaml:3:", "invalid YAML"],
    ),
    (
        "missing messages",
        V1,
        "variables: [name]\n",
        ["v1.yaml:1:", "messages: required key is missing", "add `messages:`"],
    ),
    (
        "unknown role",
        V1,
        "messages:\n  - role: robot\n    content: hi\n",
        ["v1.yaml:2:", "messages.0.role", "'system'"],
    ),
    (
        "label to a missing version",
        "prompts/greeting/labels.yaml",
        "production: v1\nstaging: v3\n",
        ["labels.yaml:2:", "points to greeting@v3, which does not exist", "versions: v1, v2"],
    ),
    (
        "duplicate label (leftover merge conflict)",
        "prompts/greeting/labels.yaml",
        "production: v1\nstaging: v2\nproduction: v2\n",
        ["labels.yaml:3:", "duplicate key 'production' (first on line 1)"],
    ),
    (
        "duplicate params",
        V1,
        "params: {temperature: 0}\nmessages: [{role: user, content: hi}]\n"
        "params:\n  temperature: 1\n",
        ["v1.yaml:3:", "duplicate key 'params' (first on line 1)"],
    ),
    (
        "duplicate version",
        "prompts/greeting/v2.yml",
        "messages: [{role: user, content: hi}]\n",
        ["duplicate version 'v2'"],
    ),
    (
        "nonsense lock",
        "prompts/llmops.lock",
        '{"llmops_lock": 1, "versions": {"greeting@v1": 3}}\n',
        ["llmops.lock:1:", "versions.greeting@v1", "restore it from version control"],
    ),
    (
        "lock not JSON",
        "prompts/llmops.lock",
        "versions:\n  - what\n",
        ["llmops.lock:1:", "lock file is not valid JSON"],
    ),
    (
        "non-UTF-8 file",
        V1,
        "messages:\n  - role: user\n    content: caf\xe9\n".encode("latin-1"),
        ["v1.yaml:", "not valid UTF-8", "save the file as UTF-8"],
    ),
    (
        "template syntax error",
        V1,
        "variables: [name]\nmessages:\n  - role: user\n    content: |\n      Hi\n      {{ name }\n",
        ["v1.yaml:6:", "template syntax error in messages[0] (user), template line 2"],
    ),
    (
        "undeclared variable",
        V1,
        "variables: [name]\nmessages:\n  - role: user\n    content: '{{ name }} {{ nickname }}'\n",
        ["v1.yaml:1:", "undeclared 'nickname'"],
    ),
    (
        "unsafe access",
        V1,
        "variables: [name]\nmessages:\n  - role: user\n"
        "    content: \"{{ name }}{{ ''.__class__.__mro__ }}\"\n",
        ["v1.yaml:4:", "unsafe access to '__class__'"],
    ),
]


@pytest.mark.parametrize(
    ("rel", "content", "words"), [c[1:] for c in BAD_FILES], ids=[c[0] for c in BAD_FILES]
)
@pytest.mark.parametrize(
    "command", [["prompts", "lock"], ["prompts", "promote", "greeting@v1", "--label", "canary"]]
)
def test_bad_files_are_one_line_exit_2_and_write_nothing(
    prompt_project: PromptProject,
    rel: str,
    content: str | bytes,
    words: list[str],
    command: list[str],
) -> None:
    _bad(prompt_project, rel, content)
    before = prompt_project.snapshot()
    line = one_error_line(prompt_project.cli(*command))
    for word in words:
        assert word in line
    assert prompt_project.snapshot() == before


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (
            ["prompts", "show", "nope"],
            ["unknown prompt 'nope'", "known prompts: ask, greeting, kb"],
        ),
        (
            ["prompts", "render", "greeting@v7", "--var", "name=x"],
            ["greeting has no version or label 'v7'"],
        ),
        (
            ["prompts", "promote", "greeting@v7", "--label", "production"],
            ["no version or label 'v7'"],
        ),
        (["prompts", "render", "greeting"], ["missing variable(s) 'name'"]),
        (["prompts", "render", "greeting", "--var", "name"], ["--var 'name' is not KEY=VALUE"]),
        (["prompts", "render", "kb"], ["is a RAG config, not a prompt"]),
        (["prompts", "promote", "greeting@v2", "--label", "v1"], ["same name as a version"]),
    ],
)
def test_bad_references_and_arguments(
    prompt_project: PromptProject, args: list[str], words: list[str]
) -> None:
    before = prompt_project.snapshot()
    line = one_error_line(prompt_project.cli(*args))
    for word in words:
        assert word in line
    assert prompt_project.snapshot() == before


def test_undefined_value_at_render_time(prompt_project: PromptProject, tmp_path: Path) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(json.dumps({"question": "q", "context": [{"body": "x"}]}))
    line = one_error_line(prompt_project.cli("prompts", "render", "ask", "--vars", str(vars_file)))
    assert "undefined value in messages[0] (user)" in line and "has no attribute 'text'" in line


@pytest.mark.parametrize(
    ("content", "words"),
    [("{bad json", "vars.json:1: invalid JSON"), ("[1, 2]", "expected a JSON object")],
)
def test_bad_vars_file(
    prompt_project: PromptProject, tmp_path: Path, content: str, words: str
) -> None:
    vars_file = tmp_path / "vars.json"
    vars_file.write_text(content)
    line = one_error_line(
        prompt_project.cli("prompts", "render", "greeting", "--vars", str(vars_file))
    )
    assert words in line


def test_promote_refuses_edited_locked_version(prompt_project: PromptProject) -> None:
    prompt_project.cli("prompts", "lock")
    text = prompt_project.read("prompts/greeting/v2.yaml")
    prompt_project.write("prompts/greeting/v2.yaml", text.replace("Keep it short.", "Go on."))
    before = prompt_project.snapshot()
    line = one_error_line(
        prompt_project.cli("prompts", "promote", "greeting@v2", "--label", "production")
    )
    assert "greeting@v2 is locked but its file was edited" in line
    assert prompt_project.snapshot() == before


def test_no_project_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LLMOPS_PROJECT", raising=False)
    line = one_error_line(CliRunner().invoke(app, ["prompts", "list"]))
    assert "no llmops.yaml" in line and "llmops init" in line


# --- init --------------------------------------------------------------------------


def test_init_scaffolds_a_working_project(tmp_path: Path) -> None:
    target = tmp_path / "new"
    result = CliRunner().invoke(app, ["init", str(target)])
    assert result.exit_code == 0, result.output
    for rel in (
        "llmops.yaml",
        "prompts/answer/v1.yaml",
        "prompts/answer/v2.yaml",
        "prompts/answer/labels.yaml",
        "evalsets/answer.jsonl",
        "prompts/llmops.lock",
        ".gitignore",
    ):
        assert (target / rel).is_file(), rel
    assert ".llmops/" in (target / ".gitignore").read_text().splitlines()
    runner = CliRunner()
    check = runner.invoke(app, ["--project", str(target), "prompts", "check"])
    assert check.exit_code == 0 and "1 locked" in check.stdout, check.stdout
    rows = json.loads(
        runner.invoke(app, ["--project", str(target), "prompts", "list", "--json", "-"]).stdout
    )
    assert {r["version"]: r["labels"] for r in rows} == {"v1": ["production"], "v2": []}
    # The first eval has a candidate: the draft v2 against production.
    from llmops.eval.plan import unreleased
    from llmops.prompts import load_registry

    assert [v.ref for v in unreleased(load_registry(target), "answer")] == ["answer@v2"]
    from llmops.project import load_project

    project = load_project(target)
    assert project.config.provider.kind == "local"
    assert project.config.suites["answer"].prompt == "answer"
    lines = (target / "evalsets/answer.jsonl").read_text().splitlines()
    assert len(lines) >= 8  # the fewest cases a verdict can rest on
    assert all("question" in json.loads(line)["vars"] for line in lines)
    assert "docs/" not in (target / "llmops.yaml").read_text()


def test_init_refuses_to_overwrite(tmp_path: Path) -> None:
    (tmp_path / "prompts/answer").mkdir(parents=True)
    (tmp_path / "prompts/answer/labels.yaml").write_text("mine: v1\n")
    line = one_error_line(CliRunner().invoke(app, ["init", str(tmp_path)]))
    assert "labels.yaml" in line and "never overwrites" in line
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*")) == [
        "prompts",
        "prompts/answer",
        "prompts/answer/labels.yaml",
    ]
    assert (tmp_path / "prompts/answer/labels.yaml").read_text() == "mine: v1\n"


# --- start-up cost -------------------------------------------------------------------

PROBE = """
import sys
sys.argv = {argv!r}
from llmops.cli import main
try:
    main()
except SystemExit:
    pass
print("MODULES:" + ",".join(sorted({{m.split(".")[0] for m in sys.modules}} & set({heavy!r}))))
"""


@pytest.mark.parametrize(
    ("argv", "allowed"),
    [(["llmops", "--help"], ()), (["llmops", "prompts", "list"], ())],
)
def test_fast_paths_do_not_import_heavy_modules(argv: list[str], allowed: tuple[str, ...]) -> None:
    code = PROBE.format(argv=[*argv[:1], "--project", str(ROOT), *argv[1:]], heavy=HEAVY)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    ).stdout
    marker = out.rindex("MODULES:")
    imported = set(filter(None, out[marker + len("MODULES:") :].strip().split(",")))
    assert imported <= set(allowed), imported


def test_check_names_a_suite_with_an_unknown_prompt(prompt_project: PromptProject) -> None:
    prompt_project.write(
        "llmops.yaml",
        "provider: {kind: local}\nsuites:\n  s:\n    prompt: greting\n    evalset: e.jsonl\n",
    )
    line = one_error_line(prompt_project.cli("prompts", "check"))
    assert "llmops.yaml:4: suites.s.prompt: unknown prompt 'greting'" in line
