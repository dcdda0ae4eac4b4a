"""Static analysis of a parsed template: which variables it reads, what it may not touch.

``jinja2.meta.find_undeclared_variables`` runs Jinja's code generator over the tree,
which costs as much as parsing. Most prompt templates use only output, ``if`` and
``for``; for those one walk of the tree gives the same answer several times faster.
Anything else (``set``, macros, ``with``, imports...) goes to ``jinja2.meta``.
"""

from __future__ import annotations

from typing import Any

from jinja2 import meta, nodes

_SIMPLE = (nodes.Output, nodes.If, nodes.For)


class _NeedsMeta(Exception):
    """The template binds names in ways only Jinja's own tracker gets right."""


class _Walk:
    def __init__(self) -> None:
        self.reads: set[str] = set()
        self.unsafe: list[tuple[int, str]] = []

    def visit(self, node: nodes.Node, bound: frozenset[str]) -> None:
        if isinstance(node, nodes.Stmt) and not isinstance(node, _SIMPLE):
            raise _NeedsMeta
        self._check_unsafe(node)
        if isinstance(node, nodes.Name):
            if node.ctx == "load" and node.name not in bound:
                self.reads.add(node.name)
            elif node.ctx != "load":
                raise _NeedsMeta
            return
        if isinstance(node, nodes.For):
            self.visit(node.iter, bound)
            target = node.target
            names = [target] if isinstance(target, nodes.Name) else target.find_all(nodes.Name)
            targets = {n.name for n in names}
            inner = bound | targets | {"loop"}
            for child in (node.test, *node.body):
                if child is not None:
                    self.visit(child, inner)
            for child in node.else_:
                self.visit(child, bound)
            return
        for child in node.iter_child_nodes():
            self.visit(child, bound)

    def _check_unsafe(self, node: nodes.Node) -> None:
        name: Any = None
        if isinstance(node, nodes.Getattr):
            name = node.attr
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            name = node.arg.value
        elif isinstance(node, nodes.Filter) and node.name == "attr" and node.args:
            arg = node.args[0]
            name = arg.value if isinstance(arg, nodes.Const) else None
        if isinstance(name, str) and name.startswith("_"):
            self.unsafe.append((node.lineno or 1, name))


def analyse(tree: nodes.Template) -> tuple[frozenset[str], tuple[str, int] | None]:
    """The variables a template reads from its context, and its unsafe accesses.

    Returns:
        ``(variables, unsafe)``: ``unsafe`` is None, or the names of attributes and items
        starting with ``_`` it reaches for (``'__class__', '__mro__'``) and the first line.
    """
    walk = _Walk()
    try:
        walk.visit(tree, frozenset())
        known = tree.environment.globals if tree.environment is not None else {}
        reads = frozenset(walk.reads - known.keys())  # globals are not variables, as in meta
    except _NeedsMeta:
        walk = _Walk()
        for node in tree.find_all((nodes.Getattr, nodes.Getitem, nodes.Filter)):
            walk._check_unsafe(node)
        reads = frozenset(meta.find_undeclared_variables(tree))
    if not walk.unsafe:
        return reads, None
    names = ", ".join(repr(n) for n in sorted({name for _, name in walk.unsafe}))
    return reads, (names, min(line for line, _ in walk.unsafe))


def undeclared_by_meta(tree: nodes.Template) -> frozenset[str]:
    """What ``jinja2.meta`` says, for comparison in tests."""
    return frozenset(meta.find_undeclared_variables(tree))
