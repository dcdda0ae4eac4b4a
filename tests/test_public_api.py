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
