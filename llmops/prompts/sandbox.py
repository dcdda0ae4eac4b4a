"""The Jinja2 environment prompts render in: immutable sandbox, strict, and bounded.

On top of Jinja2's ``ImmutableSandboxedEnvironment`` with ``StrictUndefined``:

- ``*``, ``+``, ``%`` and ``**``, every call and every filter are checked against
  :mod:`llmops.prompts.limits` before they run and their results after;
- each parsed template is rewritten once before it is compiled, so that every loop counts
  its iterations and every piece of output its characters against the render's budget;
- an undefined value cannot slip into the text through ``repr`` (``map(attribute='x')``
  followed by ``list``, or ``pprint``): that is an error, like printing it.
"""

from __future__ import annotations

import functools
from types import TracebackType
from typing import Any

from jinja2 import StrictUndefined, nodes, pass_context
from jinja2.runtime import Context
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.utils import _PassArg
from jinja2.visitor import NodeTransformer

from llmops.prompts import limits

_COUNTED = "_llmops_counted"
_EMITTED = "_llmops_emitted"
_CHECKED = "_llmops_checked"
TEMPLATE_FILE = "<template>"


class StrictPromptUndefined(StrictUndefined):
    """``StrictUndefined`` whose ``repr`` fails too, so no list shows ``Undefined``."""

    __slots__ = ()

    def __repr__(self) -> str:
        self._fail_with_undefined_error()


class PromptSandbox(ImmutableSandboxedEnvironment):
    """The sandbox with size limits on operators, calls and filters."""

    intercepted_binops = limits.INTERCEPTED_BINOPS

    def call_binop(self, context: Context, operator: str, left: Any, right: Any) -> Any:
        return limits.binop(operator, left, right)

    def call(__self, __context: Context, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        limits.check_call(__obj, args, kwargs)
        result = super().call(__context, __obj, *args, **kwargs)
        if isinstance(result, str | list | tuple | dict):
            limits.check_result(result, "a call")
        return result


@pass_context
def _counted(context: Context, iterable: Any, literal_chars: int = 0) -> Any:
    return limits.counted(iterable, literal_chars)


@pass_context
def _emitted(context: Context, value: Any) -> Any:
    return limits.emitted(value)


@pass_context
def _checked(context: Context, value: Any) -> Any:
    return limits.check_result(value, "`~`")


@functools.cache
def environment() -> PromptSandbox:
    """The one Jinja2 environment every prompt is rendered with."""
    env = PromptSandbox(undefined=StrictPromptUndefined, keep_trailing_newline=True,
                        autoescape=False)
    for name, func in list(env.filters.items()):
        passes = _PassArg.from_obj(func) is not None
        env.filters[name] = limits.guarded_filter(name, func, passes)
    env.filters.update({_COUNTED: _counted, _EMITTED: _emitted, _CHECKED: _checked})
    env.globals["lipsum"] = limits.bounded_lipsum
    return env


def _wrap(node: nodes.Expr, name: str, *args: int) -> nodes.Filter:
    consts: list[nodes.Expr] = [nodes.Const(a, lineno=node.lineno) for a in args]
    wrapped = nodes.Filter(node, name, consts, [], None, None, lineno=node.lineno)
    wrapped.set_environment(environment())
    return wrapped


def _literal_chars(body: list[nodes.Node]) -> int:
    """Characters of literal text in a loop body, outside the loops nested in it."""
    total = 0
    stack: list[nodes.Node] = list(body)
    while stack:
        node = stack.pop()
        if isinstance(node, nodes.TemplateData):
            total += len(node.data)
        elif not isinstance(node, nodes.For | nodes.Macro | nodes.CallBlock):
            stack.extend(node.iter_child_nodes())
    return total


class _Budgeted(NodeTransformer):
    """Rewrites a tree so that loops, buffered output and ``~`` are checked while rendering.

    Output that streams out of the template is counted by :func:`limits.joined`. Output
    that is collected first (``{% set %}`` and ``{% filter %}`` blocks, macros, call
    blocks) is counted as it is produced: each ``{{ }}``, each loop iteration's literal
    text, and literal text in macros and call blocks (called any number of times).
    """

    def __init__(self) -> None:
        self.buffered = 0
        self.in_macro = 0

    def visit_For(self, node: nodes.For) -> nodes.Node:
        literal = _literal_chars([*node.body, *node.else_]) if self.buffered else 0
        self.generic_visit(node)
        assert isinstance(node.iter, nodes.Expr)
        node.iter = _wrap(node.iter, _COUNTED, literal)
        return node

    def _buffer(self, node: nodes.Node) -> nodes.Node:
        self.buffered += 1
        try:
            self.generic_visit(node)
        finally:
            self.buffered -= 1
        return node

    visit_AssignBlock = visit_FilterBlock = _buffer

    def _macro(self, node: nodes.Node) -> nodes.Node:
        self.in_macro += 1
        try:
            return self._buffer(node)
        finally:
            self.in_macro -= 1

    visit_Macro = visit_CallBlock = _macro

    def visit_Output(self, node: nodes.Output) -> nodes.Node:
        self.generic_visit(node)
        if not self.buffered:
            return node
        pieces: list[nodes.Node] = []
        for child in node.nodes:
            if isinstance(child, nodes.TemplateData):
                if self.in_macro:
                    child = _wrap(nodes.Const(child.data, lineno=child.lineno), _EMITTED)
            else:
                assert isinstance(child, nodes.Expr)
                child = _wrap(child, _EMITTED)
            pieces.append(child)
        node.nodes = pieces  # type: ignore[assignment]
        return node

    def visit_Concat(self, node: nodes.Concat) -> nodes.Node:
        self.generic_visit(node)
        return _wrap(node, _CHECKED)


def budgeted(tree: nodes.Template) -> nodes.Template:
    """``tree`` rewritten in place for bounded rendering; call once per parsed tree."""
    _Budgeted().visit(tree)
    return tree


def template_line(tb: TracebackType | None) -> int | None:
    """The template line an exception was raised on (Jinja rewrites tracebacks so)."""
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == TEMPLATE_FILE:
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
