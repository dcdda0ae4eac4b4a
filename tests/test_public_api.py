"""The public API: what `import llmops` offers, and that importing it stays light."""

from __future__ import annotations

import importlib
import subprocess
import sys

import pytest

import llmops

EXPECTED = {
    "__version__",
    # project
    "load_project",
    "Project",
    "ProjectConfig",
    # the main jobs, one per area
    "evaluate",
    "evaluate_suites",
    "EvalOptions",
    "EvalResult",
    "diff",
    "scan",
    "check_index",
    # prompts
    "PromptVersion",
    "RagConfig",
    "Registry",
    "load_registry",
    "render_messages",
    "prompt_variables_check",
    # errors
    "LlmopsError",
    "UserError",
    "ConfigError",
    "PromptError",
    "TemplateError",
    "EvalSetError",
    "LogFormatError",
    "IndexConfigError",
    "RuntimeFailure",
}

WHERE = {
    "evaluate": "llmops.eval",
    "diff": "llmops.eval",
    "scan": "llmops.guard",
    "check_index": "llmops.rag",
}

OURS = sorted(EXPECTED - set(WHERE) - {"__version__"})


def test_all_is_the_public_api() -> None:
    assert set(llmops.__all__) == EXPECTED
    assert len(llmops.__all__) == len(EXPECTED)
    assert set(dir(llmops)) >= EXPECTED
    assert set(llmops._EXPORTS) == EXPECTED - {"__version__"}


def test_lazy_names_point_at_their_modules() -> None:
    exports = llmops._EXPORTS
    for name, module in WHERE.items():
        assert exports[name] == module


@pytest.mark.parametrize("name", OURS)
def test_names_resolve_to_their_definitions(name: str) -> None:
    value = getattr(llmops, name)
    module = importlib.import_module(llmops._EXPORTS[name])
    assert value is getattr(module, name)
    assert value.__doc__


def test_unknown_attribute() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        llmops.nope  # noqa: B018


def test_import_llmops_is_light() -> None:
    code = (
        "import sys, llmops; "
        "print(sorted({m.split('.')[0] for m in sys.modules} & "
        "{'pydantic', 'yaml', 'jinja2', 'typer', 'numpy', 'openai', 'torch'}))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_no_submodule_shares_a_public_name() -> None:
    # A submodule named like a public function would replace it on `import llmops.<name>`.
    import importlib.util

    for name in llmops.__all__:
        assert importlib.util.find_spec(f"llmops.{name}") is None, name


def test_eval_package_names_resolve() -> None:
    import llmops.eval

    assert llmops.evaluate is llmops.eval.evaluate
    assert llmops.diff is llmops.eval.diff
    assert set(llmops.eval.__all__) >= {"evaluate", "evaluate_suites", "diff", "EvalOptions"}
    with pytest.raises(AttributeError):
        llmops.eval.nope  # noqa: B018


def _takes_a_project(module: str) -> list[tuple[str, object]]:
    mod = importlib.import_module(module)
    found = []
    for name in getattr(mod, "__all__", []):
        obj = getattr(mod, name)
        if callable(obj) and not isinstance(obj, type):
            import inspect

            params = list(inspect.signature(obj).parameters.values())
            if params and params[0].name in ("project", "path"):
                found.append((f"{module}.{name}", params[0].annotation))
    return found


def test_the_api_takes_a_path_or_a_project_everywhere() -> None:
    found = [f for m in ("llmops", "llmops.eval", "llmops.rag", "llmops.prompts")
             for f in _takes_a_project(m)]
    names = {name for name, _ in found}
    assert {"llmops.load_project", "llmops.evaluate", "llmops.diff", "llmops.check_index",
            "llmops.load_registry", "llmops.rag.sync_index", "llmops.rag.retrieve"} <= names
    for name, annotation in found:
        assert {"Project", "str", "Path"} <= set(str(annotation).replace(" ", "").split("|")) \
            - {"None"}, name


def test_a_path_and_a_project_give_the_same_answers(tmp_path: object) -> None:
    from pathlib import Path

    from tests.test_diff import write_project

    root = write_project(Path(str(tmp_path)))
    project = llmops.load_project(root)
    assert llmops.load_project(project) is project
    assert llmops.load_registry(str(root)).names() == llmops.load_registry(project).names()
    by_path = llmops.diff(str(root), "p@v1", "p@v2")
    by_project = llmops.diff(project, "p@v1", "p@v2")
    assert by_path.messages == by_project.messages and by_path.messages
