"""Limits on what a YAML document may make its reader do: aliases and nesting.

A 367-byte document of nested aliases ("billion laughs") composes into a few nodes but
expands to hundreds of millions of values in anything that walks the data; a document
nested 100,000 levels deep exhausts the parser's recursion. Both are refused with the
file and line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from llmops.errors import UserError

ALIAS_BUDGET = 100_000  # nodes and characters aliases may add, beyond 10x the document
_ALIAS_FACTOR = 10


class AliasBudgetError(yaml.YAMLError):
    """Aliases expand the document far beyond its own size (a "billion laughs" bomb)."""

    def __init__(self, allowed: int, mark: yaml.Mark | None) -> None:
        self.problem_mark = mark
        super().__init__(f"aliases expand the document by more than {allowed:,} nodes and "
                         "characters")


def _own_size(node: yaml.Node) -> int:
    return 1 + (len(str(node.value)) if isinstance(node, yaml.ScalarNode) else 0)


def check_alias_expansion(root: yaml.Node | None) -> None:
    """Raise :class:`AliasBudgetError` if aliases add more than the document can justify.

    A composed document shares one node between an anchor and its aliases; whatever walks
    the data (digests, JSON, the store) sees every copy. The expansion allowed is ten
    times the document's own size, and at least :data:`ALIAS_BUDGET`. Sizes are computed
    once per node, without recursion.
    """
    if root is None:
        return
    unique: dict[int, yaml.Node] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) not in unique:
            unique[id(node)] = node
            stack.extend(_children(node))
    own = sum(_own_size(n) for n in unique.values())
    if len(unique) == own:  # no scalars: nothing to expand
        return
    allowed = max(ALIAS_BUDGET, _ALIAS_FACTOR * own)
    sizes: dict[int, int] = {}
    todo: list[tuple[yaml.Node, bool]] = [(root, False)]
    while todo:
        node, ready = todo.pop()
        if id(node) in sizes:
            continue
        if not ready:
            todo.append((node, True))
            todo.extend((c, False) for c in _children(node) if id(c) not in sizes)
            continue
        sizes[id(node)] = _own_size(node) + sum(sizes[id(c)] for c in _children(node))
        if sizes[id(node)] - own > allowed:
            raise AliasBudgetError(allowed, node.start_mark)


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


_C_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
MAX_DEPTH = 200  # nesting levels; deeper documents exhaust the parser's recursion


def too_deep(text: str, path: Path, error: type[UserError]) -> UserError:
    """The error for a document nested too deeply, at the line where it gets too deep."""
    depth, line = 0, None
    loader = _C_LOADER(text)
    try:
        while loader.check_event():
            event = loader.get_event()
            if isinstance(event, yaml.CollectionStartEvent):
                depth += 1
                if depth > MAX_DEPTH:
                    line = event.start_mark.line + 1 if event.start_mark else None
                    break
            elif isinstance(event, yaml.CollectionEndEvent):
                depth -= 1
    except yaml.MarkedYAMLError as exc:  # libyaml stops at 1,000 levels itself
        line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    finally:
        loader.dispose()
    return error(f"nested more than {MAX_DEPTH} levels deep", file=path, line=line,
                 hint="flatten the values")
