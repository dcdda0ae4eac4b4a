"""YAML loading that remembers where every key came from.

Pydantic reports an error at a key path such as ``suites.support.gate.min_pass_rate``;
:func:`line_of` turns that path back into a line number in the file so that the user
gets ``llmops.yaml:14: ...`` instead of a path to hunt for.
"""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from llmops._yaml_limits import AliasBudgetError, check_alias_expansion, too_deep
from llmops.errors import UserError


class DuplicateKeyError(yaml.constructor.ConstructorError):
    """A mapping names the same key twice; PyYAML would silently keep the last value.

    ``problem_mark`` is the duplicate, ``first_line`` the 1-based line of the first one.
    """

    def __init__(self, key: Any, first: yaml.Mark, duplicate: yaml.Mark) -> None:
        self.key = key
        self.first_line = first.line + 1
        super().__init__(
            None, None, f"duplicate key {key!r} (first on line {self.first_line})", duplicate
        )


def _check_duplicates(constructor: Any, node: yaml.MappingNode) -> None:
    """Raise :class:`DuplicateKeyError` if ``node`` names a scalar key twice.

    Merge keys (``<<``) are skipped: a key given explicitly may override a merged one.
    """
    seen: dict[Any, yaml.Mark] = {}
    for key_node, _ in node.value:
        if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
            continue
        key = constructor.construct_object(key_node)
        try:
            first = seen.setdefault(key, key_node.start_mark)
        except TypeError:  # unhashable: PyYAML reports it itself
            continue
        if first is not key_node.start_mark:
            raise DuplicateKeyError(key, first, key_node.start_mark)


class _Loader(yaml.SafeLoader):
    """SafeLoader that also keeps the composed node tree for line lookups."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _check_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        check_alias_expansion(node)
        return node


class _StringLoader(_Loader):
    """Every plain scalar is a string except ``~``/``null``/empty: no YAML 1.1 surprises.

    ``on``, ``yes`` and ``true`` stay words, ``007`` keeps its zeros.
    """

    yaml_implicit_resolvers = {  # noqa: RUF012 - PyYAML reads it from the class
        first: [(tag, regexp) for tag, regexp in resolvers if tag.endswith(":null")]
        for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
    }


CParser: Any = getattr(getattr(yaml, "cyaml", None), "CParser", None)  # needs libyaml
_CSafeLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _CLoader(_CSafeLoader):  # type: ignore[misc]
    """libyaml's SafeLoader, refusing duplicate keys and alias bombs."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        _check_duplicates(self, node)
        return super().construct_mapping(node, deep=deep)  # type: ignore[no-any-return]

    def get_single_node(self) -> Any:
        node = super().get_single_node()
        check_alias_expansion(node)
        return node


_STR = "tag:yaml.org,2002:str"
_resolver = yaml.resolver.Resolver()
_constructor = yaml.constructor.SafeConstructor()


class _Unusual(Exception):
    """The document uses a feature the fast path leaves to PyYAML."""


class _Duplicate(Exception):
    """A mapping repeats a key; PyYAML reparses to find both lines."""


def _scalar(event: Any) -> Any:
    if event.tag not in (None, "!"):
        raise _Unusual
    if not event.implicit[0]:
        return event.value  # quoted or block scalar: always a string
    tag = _resolver.resolve(yaml.ScalarNode, event.value, event.implicit)  # type: ignore[no-untyped-call]
    if tag == _STR:
        return event.value
    if tag == "tag:yaml.org,2002:null":
        return None
    if tag == "tag:yaml.org,2002:bool":
        return _constructor.bool_values[event.value.lower()]
    node = yaml.ScalarNode(tag, event.value)
    if tag == "tag:yaml.org,2002:int":
        return _constructor.construct_yaml_int(node)
    if tag == "tag:yaml.org,2002:float":
        return _constructor.construct_yaml_float(node)
    raise _Unusual  # timestamps, merge keys, binary...


def _build(parser: Any, event: Any) -> Any:
    if getattr(event, "anchor", None) is not None or isinstance(event, yaml.AliasEvent):
        raise _Unusual
    if isinstance(event, yaml.ScalarEvent):
        return _scalar(event)
    if event.tag is not None:
        raise _Unusual
    if isinstance(event, yaml.SequenceStartEvent):
        items = []
        while not isinstance(event := parser.get_event(), yaml.SequenceEndEvent):
            items.append(_build(parser, event))
        return items
    if isinstance(event, yaml.MappingStartEvent):
        mapping = {}
        while not isinstance(event := parser.get_event(), yaml.MappingEndEvent):
            key = _build(parser, event)
            if isinstance(key, list | dict):
                raise _Unusual
            if key in mapping:
                raise _Duplicate
            mapping[key] = _build(parser, parser.get_event())
        return mapping
    raise _Unusual


def fast_load(text: str) -> Any:
    """``yaml.safe_load`` for plain documents, several times faster.

    libyaml parses; objects are built here without PyYAML's per-node constructor
    machinery. Anchors, aliases, explicit tags, merge keys, timestamps and multiple
    documents go through PyYAML itself, so the result is always what ``safe_load``
    returns, with one difference: a mapping that repeats a key raises
    :class:`DuplicateKeyError` (naming both lines) where ``safe_load`` keeps the last
    value. Syntax errors raise ``yaml.YAMLError`` as usual.
    """
    if CParser is None:
        return yaml.load(text, Loader=_Loader)
    parser = CParser(text)
    try:
        parser.get_event()  # stream start
        event = parser.get_event()
        if isinstance(event, yaml.StreamEndEvent):
            return None
        if getattr(event, "tags", None):
            raise _Unusual
        data = _build(parser, parser.get_event())
        parser.get_event()  # document end
        if not isinstance(parser.get_event(), yaml.StreamEndEvent):
            raise _Unusual
        return data
    except (_Unusual, _Duplicate):
        return yaml.load(text, Loader=_CLoader)
    finally:
        parser.dispose()


def load_plain_strings(text: str) -> Any:
    """Parse YAML text with every plain scalar but null read as a string."""
    return yaml.load(text, Loader=_StringLoader)


def position_of(data: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in bytes) of a byte offset."""
    start = data.rfind(b"\n", 0, offset) + 1
    return data.count(b"\n", 0, offset) + 1, offset - start + 1


def read_text(path: Path, error: type[UserError] = UserError) -> str:
    """Read a UTF-8 text file, turning decoding and OS errors into user errors.

    A leading byte order mark (Excel's "CSV UTF-8", Windows Notepad) is dropped.
    """
    try:
        return path.read_text(encoding="utf-8").removeprefix("\ufeff")
    except UnicodeDecodeError as exc:
        line, column = position_of(exc.object, exc.start)
        raise error(
            f"not valid UTF-8 (column {column}, byte 0x{exc.object[exc.start]:02x})",
            file=path,
            line=line,
            hint="save the file as UTF-8",
        ) from None
    except FileNotFoundError:
        raise error("file not found", file=path) from None
    except IsADirectoryError:
        raise error("is a directory, expected a file", file=path) from None
    except OSError as exc:
        raise error(f"cannot read: {exc.strerror}", file=path) from None


class YamlDocument:
    """A parsed YAML file: its data plus the node tree for line numbers.

    The node tree is composed on first use only: line numbers are needed only when
    something is wrong.
    """

    def __init__(
        self, path: Path, data: Any, node: yaml.Node | None = None, text: str | None = None
    ) -> None:
        self.path = path
        self.data = data
        self._node = node
        self._text = text

    @property
    def node(self) -> yaml.Node | None:
        if self._node is None and self._text is not None:
            with contextlib.suppress(yaml.YAMLError):
                self._node = yaml.compose(self._text, Loader=_Loader)
            self._text = None
        return self._node

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


def _duplicate(exc: DuplicateKeyError, path: Path, error: type[UserError]) -> UserError:
    """``file:line: duplicate key 'x' (first on line N)``, line being the duplicate's."""
    line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    return error(
        f"duplicate key {exc.key!r}", file=path, line=line, hint=f"first on line {exc.first_line}"
    )


def load_yaml(
    path: Path, error: type[UserError] = UserError, *, strings: bool = False
) -> YamlDocument:
    """Parse a YAML file; syntax errors name the file and line.

    With ``strings``, every plain scalar but null is a string (see :class:`_StringLoader`).
    """
    text = read_text(path, error)
    loader = _StringLoader if strings else _Loader
    if not strings:
        try:
            data = fast_load(text)
        except DuplicateKeyError as exc:
            raise _duplicate(exc, path, error) from None
        except AliasBudgetError as exc:
            raise _alias_bomb(exc, path, error) from None
        except RecursionError:
            raise too_deep(text, path, error) from None
        except yaml.YAMLError:
            pass  # reparsed below for a precise message
        else:
            return YamlDocument(path, data, text=text)
    try:
        node = yaml.compose(text, Loader=loader)
        data = loader(text).construct_document(node) if node is not None else None
    except DuplicateKeyError as exc:
        raise _duplicate(exc, path, error) from None
    except AliasBudgetError as exc:
        raise _alias_bomb(exc, path, error) from None
    except RecursionError:
        raise too_deep(text, path, error) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark is not None else None
        problem = exc.problem or exc.context or "invalid YAML"
        raise error(f"invalid YAML: {problem}", file=path, line=line) from None
    except yaml.YAMLError as exc:
        raise error(f"invalid YAML: {exc}", file=path) from None
    return YamlDocument(path, data, node)


def _alias_bomb(exc: AliasBudgetError, path: Path, error: type[UserError]) -> UserError:
    line = exc.problem_mark.line + 1 if exc.problem_mark is not None else None
    return error(str(exc), file=path, line=line, hint="write the repeated values out")


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
    if first["type"] in ("value_error", "assertion_error"):
        msg = msg.split(", ", 1)[-1]  # drop pydantic's "Value error, " prefix
    if first["type"] == "extra_forbidden":
        msg = "unknown key"
    elif first["type"] == "missing":
        msg = "required key is missing"
    return error(msg, file=doc.path, line=doc.line_of(loc), field=field)
