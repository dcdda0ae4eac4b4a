"""YAML loading that remembers where every key came from.

Pydantic reports an error at a key path such as ``suites.support.gate.min_pass_rate``;
:func:`line_of` turns that path back into a line number in the file so that the user
gets ``llmops.yaml:14: ...`` instead of a path to hunt for.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from llmops.errors import UserError


class _Loader(yaml.SafeLoader):
    """SafeLoader that also keeps the composed node tree for line lookups."""


def read_text(path: Path, error: type[UserError] = UserError) -> str:
    """Read a UTF-8 text file, turning decoding and OS errors into user errors."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise error(
            f"not valid UTF-8 (byte {exc.start})", file=path, hint="save the file as UTF-8"
        ) from None
    except FileNotFoundError:
        raise error("file not found", file=path) from None
    except IsADirectoryError:
        raise error("is a directory, expected a file", file=path) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=path) from None


class YamlDocument:
    """A parsed YAML file: its data plus the node tree for line numbers."""

    def __init__(self, path: Path, data: Any, node: yaml.Node | None) -> None:
        self.path = path
        self.data = data
        self.node = node

    def line_of(self, loc: Sequence[str | int]) -> int | None:
        """1-based line of the deepest node found along ``loc``."""
        node = self.node
        line = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            if isinstance(node, yaml.MappingNode):
                for key, value in node.value:
                    if str(key.value) == str(part):
                        line = key.start_mark.line + 1
                        node = value
                        break
                else:
                    return line
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
                if 0 <= part < len(node.value):
                    node = node.value[part]
                    line = node.start_mark.line + 1
                else:
                    return line
            else:
                return line
        return line


def load_yaml(path: Path, error: type[UserError] = UserError) -> YamlDocument:
    """Parse a YAML file; syntax errors name the file and line."""
    text = read_text(path, error)
    try:
        node = yaml.compose(text, Loader=_Loader)
        data = yaml.load(text, Loader=_Loader) if node is not None else None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"invalid YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=path) from None
    return YamlDocument(path, data, node)


def pydantic_error(
    doc: YamlDocument,
    exc: Any,
    error: type[UserError] = UserError,
    prefix: Sequence[str | int] = (),
) -> UserError:
    """Turn the first error of a pydantic ``ValidationError`` into one user error."""
    first = exc.errors()[0]
    loc = [*prefix, *first["loc"]]
    field = ".".join(str(p) for p in loc) or None
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    return error(msg, file=doc.path, line=doc.line_of(loc), field=field)
