"""Rendering messages with Jinja2, sandboxed and strict.

Templates run in Jinja2's immutable sandbox with ``StrictUndefined``: a misspelt
variable is an error, not an empty string. Before anything is rendered, every message
is parsed once and checked statically: the variables it uses must match the version's
``variables:`` (plus ``context`` when ``rag:`` is set), and it may not reach for
underscore attributes such as ``__class__``. A template that fails these checks never
runs.
"""

from __future__ import annotations

import functools
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import PromptError, TemplateError

if TYPE_CHECKING:
    from jinja2 import Template, nodes

    from llmops.prompts.model import PromptVersion
    from llmops.prompts.sandbox import PromptSandbox

__all__ = ["environment", "prompt_variables_check", "render_messages", "render_text"]

RAG_VARIABLE = "context"


def environment() -> PromptSandbox:
    """The one Jinja2 environment every prompt is rendered with (see :mod:`.sandbox`)."""
    from llmops.prompts.sandbox import environment as sandbox

    return sandbox()


def _content_line(path: Path, index: int, template_line: int) -> int | None:
    """The file line of a template line inside ``messages[index].content``."""
    import yaml

    from llmops.prompts.files import document

    try:
        node = document(path).node
    except PromptError:
        return None
    for part in ("messages", index, "content"):
        if isinstance(node, yaml.MappingNode):
            node = next((v for k, v in node.value if k.value == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            node = node.value[part] if part < len(node.value) else None
        else:
            node = None
        if node is None:
            return None
    assert node is not None
    start = node.start_mark.line + 1
    if getattr(node, "style", None) == "|":
        return start + template_line  # a literal block starts on the line after `|`
    return start if template_line == 1 else start + template_line - 1


def _where(version: PromptVersion, index: int) -> str:
    return f"messages[{index}] ({version.messages[index]['role']})"


@functools.lru_cache(maxsize=1024)
def _analyse(
    source: str,
) -> tuple[nodes.Template, frozenset[str], tuple[str, int] | None, tuple[str, int] | None]:
    """Parse a template once per distinct text.

    Returns its tree (rewritten for bounded rendering), the variables it reads, its first
    unsafe access and its first constant resource bomb.
    """
    from llmops.prompts.analysis import analyse
    from llmops.prompts.sandbox import budgeted
    from llmops.prompts.static_limits import find_bomb

    tree = environment().parse(source)
    used, unsafe = analyse(tree)
    bomb = find_bomb(tree)
    return budgeted(tree), used, unsafe, bomb


def _parse(version: PromptVersion, index: int) -> tuple[nodes.Template, frozenset[str]]:
    from jinja2 import TemplateSyntaxError

    try:
        tree, used, unsafe, bomb = _analyse(version.messages[index]["content"])
    except TemplateSyntaxError as exc:
        line = exc.lineno or 1
        raise TemplateError(
            f"template syntax error in {_where(version, index)}, template line {line}: "
            f"{exc.message}",
            file=version.path,
            line=_content_line(version.path, index, line),
        ) from None
    if unsafe is not None:
        name, line = unsafe
        raise TemplateError(
            f"unsafe access to {name} in {_where(version, index)}, template line {line}",
            file=version.path,
            line=_content_line(version.path, index, line),
            hint="templates may not use attributes that start with '_'",
        )
    if bomb is not None:
        problem, line = bomb
        raise TemplateError(
            f"{_where(version, index)}, template line {line}: {problem}",
            file=version.path,
            line=_content_line(version.path, index, line),
            hint="templates may not build values that large",
        )
    return tree, used


def _checked_trees(version: PromptVersion) -> list[nodes.Template]:
    """Parse and check every message of a version; nothing is rendered."""
    if version.kind != "prompt":
        raise PromptError(
            f"{version.ref} is a RAG config, not a prompt: it has no messages to render",
            file=version.path,
        )
    parsed = [_parse(version, i) for i in range(len(version.messages))]
    used = set().union(*(u for _, u in parsed)) - set(environment().globals)
    _compare_variables(version, used)
    return [tree for tree, _ in parsed]


@functools.lru_cache(maxsize=256)
def _compiled(version: PromptVersion) -> tuple[Template, ...]:
    """The checked, compiled templates of a version, once per process."""
    env = environment()
    return tuple(env.from_string(tree) for tree in _checked_trees(version))


def _compare_variables(version: PromptVersion, used: set[str]) -> None:
    declared = set(version.variables)
    if version.rag is not None:
        declared.add(RAG_VARIABLE)
    missing, unused = sorted(used - declared), sorted(declared - used)
    if not missing and not unused:
        return
    problems = []
    if missing:
        problems.append("the template uses undeclared " + ", ".join(map(repr, missing)))
    if unused:
        problems.append("declared but unused " + ", ".join(map(repr, unused)))
    from llmops.prompts.files import line_of

    raise TemplateError(
        "variables: " + "; ".join(problems),
        file=version.path,
        line=line_of(version.path, ["variables"]),
        hint="make `variables:` list exactly what the messages use"
        + ("; `context` comes from `rag:`" if version.rag else ""),
    )


def prompt_variables_check(version: PromptVersion) -> None:
    """Check a prompt's templates statically without rendering anything.

    Raises:
        TemplateError: a syntax error, an unsafe access, or variables used but not
            declared (or declared but not used).
    """
    _checked_trees(version)


def render_messages(version: PromptVersion, variables: dict[str, Any]) -> list[dict[str, str]]:
    """Render every message of a prompt version with the given variables.

    Variables not declared by the version are ignored, so one eval-set row can feed
    several versions. A prompt with ``rag:`` needs ``context``: the retrieved chunks.

    Raises:
        TemplateError: the template is invalid or unsafe, or a variable is missing.
    """
    templates = _compiled(version)
    needed = list(version.variables) + ([RAG_VARIABLE] if version.rag is not None else [])
    missing = [name for name in needed if name not in variables]
    if missing:
        hint = (
            "pass a value for each; `context` is the list of retrieved chunks"
            if (RAG_VARIABLE in missing)
            else "pass a value for each"
        )
        raise TemplateError(
            f"{version.ref}: missing variable(s) " + ", ".join(map(repr, missing)),
            file=version.path,
            hint=hint,
        )
    from llmops.prompts.limits import joined, render_budget

    rendered = []
    with render_budget():
        for index, template in enumerate(templates):
            try:
                content = joined(template.generate(variables))
            except Exception as exc:  # anything a template does wrong is the template's error
                raise _render_error(version, index, exc) from None
            rendered.append({"role": version.messages[index]["role"], "content": content})
    return rendered


def render_text(
    source: str, variables: dict[str, Any], *, what: str, file: Path | None = None
) -> str:
    """Render one template that is not part of a prompt version (a retrieval query, a
    judge prompt) in the same bounded sandbox, with the same static checks.

    Raises:
        TemplateError: a syntax error, an unsafe access, a resource bomb, an undefined
            value, or a limit reached while rendering; the message starts with ``what``.
    """
    from jinja2 import TemplateSyntaxError

    from llmops.prompts.limits import LimitExceeded, joined, render_budget

    try:
        _, _, unsafe, bomb = _analyse(source)
    except TemplateSyntaxError as exc:
        raise TemplateError(f"{what}: template syntax error: {exc.message}", file=file) from None
    problem = f"unsafe access to {unsafe[0]}" if unsafe else bomb[0] if bomb else None
    if problem:
        raise TemplateError(f"{what}: {problem}", file=file)
    try:
        with render_budget():
            return joined(_compiled_text(source).generate(variables))
    except (LimitExceeded, MemoryError, RecursionError, OverflowError) as exc:
        raise TemplateError(f"{what}: rendering stopped: {exc or type(exc).__name__}",
                            file=file) from None
    except Exception as exc:  # anything a template does wrong is the template's error
        raise TemplateError(f"{what}: {type(exc).__name__}: {exc}", file=file) from None


@functools.lru_cache(maxsize=256)
def _compiled_text(source: str) -> Template:
    return environment().from_string(_analyse(source)[0])


def _render_error(version: PromptVersion, index: int, exc: Exception) -> TemplateError:
    from jinja2.exceptions import SecurityError, UndefinedError

    from llmops.prompts.limits import LimitExceeded
    from llmops.prompts.sandbox import template_line

    where = _where(version, index)
    if isinstance(exc, LimitExceeded | MemoryError | RecursionError | OverflowError):
        line = template_line(exc.__traceback__)
        at = f", template line {line}" if line else ""
        problem = str(exc) if isinstance(exc, LimitExceeded) else type(exc).__name__
        return TemplateError(
            f"rendering {where}{at} stopped: {problem}",
            file=version.path,
            line=_content_line(version.path, index, line) if line else None,
            hint="templates may not build values that large",
        )
    if isinstance(exc, SecurityError):
        return TemplateError(
            f"unsafe access blocked in {where}: {exc}",
            file=version.path,
            hint="templates run in a sandbox",
        )
    if isinstance(exc, UndefinedError):
        return TemplateError(
            f"undefined value in {where}: {exc.message}",
            file=version.path,
            hint="check the variable's fields",
        )
    return TemplateError(
        f"rendering {where} failed: {type(exc).__name__}: {exc}", file=version.path
    )
