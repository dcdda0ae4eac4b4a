"""Finding resource bombs in a template before it ever runs.

Expressions built from constants only (``('a' * 100000) * 20000``, ``'x'|center(10**9)``,
``range(100000)`` loops nested in each other) are evaluated here with the same checked
operations the sandbox uses, so a bomb is refused without building anything large.
Expressions that depend on variables are left to the checks made while rendering.
"""

from __future__ import annotations

import operator
from collections.abc import Iterable
from typing import Any

from jinja2 import nodes

from llmops.prompts import limits

_UNKNOWN: Any = object()
_BINOPS = {
    nodes.Mul: "*", nodes.Add: "+", nodes.Mod: "%", nodes.Pow: "**",
    nodes.Sub: "-", nodes.Div: "/", nodes.FloorDiv: "//",
}
_PLAIN = {"-": operator.sub, "/": operator.truediv, "//": operator.floordiv}


class _Folder:
    def __init__(self) -> None:
        self.problem: tuple[str, int] | None = None

    def fold(self, node: nodes.Node) -> Any:
        """The value of a constant expression, or ``_UNKNOWN``; records the first bomb."""
        if self.problem is not None:
            return _UNKNOWN
        try:
            return self._fold(node)
        except limits.LimitExceeded as exc:
            self.problem = (str(exc), node.lineno or 1)
        except Exception:  # anything else is the renderer's to report
            pass
        return _UNKNOWN

    def _fold(self, node: nodes.Node) -> Any:
        if isinstance(node, nodes.Const):
            return node.value
        if isinstance(node, nodes.List | nodes.Tuple):
            items = [self.fold(item) for item in node.items]
            if any(i is _UNKNOWN for i in items):
                return _UNKNOWN
            return limits.check_result(items if isinstance(node, nodes.List) else tuple(items))
        if isinstance(node, nodes.Neg | nodes.Pos):
            value = self.fold(node.node)
            return _UNKNOWN if value is _UNKNOWN else (-value if isinstance(node, nodes.Neg)
                                                     else value)
        if type(node) in _BINOPS:
            return self._binop(node)  # type: ignore[arg-type]
        if isinstance(node, nodes.Concat):
            parts = [self.fold(n) for n in node.nodes]
            if any(p is _UNKNOWN for p in parts):
                return _UNKNOWN
            limits.check_result(parts, "`~`")
            return "".join(str(p) for p in parts)
        if isinstance(node, nodes.Filter):
            return self._filter(node)
        if isinstance(node, nodes.Call):
            return self._call(node)
        self._visit_children(node)
        return _UNKNOWN

    def _visit_children(self, node: nodes.Node) -> None:
        for child in node.iter_child_nodes():
            self.fold(child)

    def _binop(self, node: nodes.BinExpr) -> Any:
        left, right = self.fold(node.left), self.fold(node.right)
        if left is _UNKNOWN or right is _UNKNOWN:
            return _UNKNOWN
        op = _BINOPS[type(node)]
        if op in limits.INTERCEPTED_BINOPS:
            return limits.binop(op, left, right)
        return _PLAIN[op](left, right)

    def _arguments(self, node: nodes.Filter | nodes.Call) -> tuple[list[Any], dict[str, Any]]:
        args = [self.fold(a) for a in node.args]
        kwargs = {str(k.key): self.fold(k.value) for k in node.kwargs}
        for extra in (node.dyn_args, node.dyn_kwargs):
            if extra is not None:
                self.fold(extra)
                args.append(_UNKNOWN)
        return args, kwargs

    def _filter(self, node: nodes.Filter) -> Any:
        value = self.fold(node.node) if node.node is not None else _UNKNOWN
        args, kwargs = self._arguments(node)
        func = node.environment.filters.get(node.name) if node.environment else None
        known = value is not _UNKNOWN and _UNKNOWN not in args and _UNKNOWN not in kwargs.values()
        if func is None or not known or hasattr(func, "jinja_pass_arg"):
            return _UNKNOWN
        return func(value, *args, **kwargs)

    def _call(self, node: nodes.Call) -> Any:
        args, kwargs = self._arguments(node)
        known = _UNKNOWN not in args and _UNKNOWN not in kwargs.values()
        target = node.node
        if isinstance(target, nodes.Getattr):
            owner = self.fold(target.node)
            if owner is _UNKNOWN or not known or not isinstance(owner, str):
                return _UNKNOWN
            method = getattr(owner, target.attr, None)
            if method is None or target.attr.startswith("_"):
                return _UNKNOWN
            limits.check_call(method, tuple(args), kwargs)
            return limits.check_result(method(*args, **kwargs), f"`{target.attr}`")
        if isinstance(target, nodes.Name) and known:
            if target.name == "range":
                return _range(*args)
            if target.name == "lipsum":
                limits.check_call(limits.bounded_lipsum, tuple(args), kwargs)
                return limits.bounded_lipsum(*args, **kwargs)
        self.fold(target)
        return _UNKNOWN


def _range(*args: int) -> range:
    from jinja2.sandbox import MAX_RANGE

    numbers = range(*args)
    if len(numbers) > MAX_RANGE:
        raise limits.LimitExceeded(
            f"range() would have {len(numbers):,} items (the limit is {MAX_RANGE:,})"
        )
    return numbers


def _loop_length(folder: _Folder, node: nodes.For) -> int | None:
    value = folder.fold(node.iter)
    try:
        return len(value) if value is not _UNKNOWN else None
    except TypeError:
        return None


def _check_loops(folder: _Folder, children: Iterable[nodes.Node], runs: int) -> None:
    """Nested loops over constants: the product of their lengths is the iteration count."""
    for child in children:
        if folder.problem is not None:
            return
        if isinstance(child, nodes.For):
            length = _loop_length(folder, child)
            inner = runs * length if length is not None else runs
            if length is not None and inner > limits.MAX_ITERATIONS:
                folder.problem = (
                    f"loops run {inner:,} times (the limit is {limits.MAX_ITERATIONS:,})",
                    child.lineno or 1,
                )
                return
            _check_loops(folder, [*child.body, *child.else_], inner)
            if child.test is not None:
                folder.fold(child.test)
        elif isinstance(child, nodes.Expr):
            folder.fold(child)
        else:
            _check_loops(folder, child.iter_child_nodes(), runs)


def find_bomb(tree: nodes.Template) -> tuple[str, int] | None:
    """The first constant expression or loop nest that exceeds a limit, and its line."""
    folder = _Folder()
    _check_loops(folder, tree.iter_child_nodes(), 1)
    return folder.problem
