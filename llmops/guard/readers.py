"""Log records: the shapes production logs come in, detected per record, as texts to scan.

A *shape* is a registered reader (:func:`shape`) for one log format: the OpenAI request
and response pair, OpenAI batch lines, OpenTelemetry GenAI spans, OpenInference spans,
Langfuse observations and traces, LangSmith runs, Anthropic Messages, the OpenAI
Responses API, and the simple ``input``/``output`` record. Each lives in a module of
:mod:`llmops.guard.shapes`, found by listing that package, so a new shape is one new
file. A record is claimed by the first shape (lowest ``order``) whose ``claims`` test
accepts it, unless the scan forces one shape for every record (``--format NAME``).

Each text comes with the path of its field inside the record and the role that wrote it
(``system``, ``user``, ``assistant``, ``tool`` for tool results, ``tool_call`` for the
arguments of a call the model made), which decides the detectors that run on it.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from llmops.errors import ConfigError

# One text inside a record: ``(text, role, field)``, where ``field`` is the path of the
# text inside the record and ``role`` who wrote it. A plain tuple: there are millions.
Text = tuple[str, str | None, str]


class Record:
    """A log record reduced to what the scan needs."""

    __slots__ = ("id", "prompt_version", "shape", "texts")

    def __init__(
        self,
        shape: str,
        id: str | None = None,
        prompt_version: str | None = None,
        texts: list[Text] | None = None,
    ) -> None:
        self.shape = shape
        self.id = id
        self.prompt_version = prompt_version
        self.texts: list[Text] = [] if texts is None else texts

    def __repr__(self) -> str:
        return (
            f"Record({self.shape!r}, id={self.id!r}, prompt_version={self.prompt_version!r}, "
            f"texts={self.texts!r})"
        )


class UnknownShape(ValueError):
    """A JSON value that is none of the known log shapes."""


ReadFn = Callable[[dict[str, Any]], "Record | list[Record]"]
ClaimFn = Callable[[dict[str, Any]], bool]


@dataclass(frozen=True)
class Shape:
    """A registered log shape: how to recognise a record of it and how to read it.

    ``span`` shapes also read the spans of an OTLP JSON export (``resourceSpans``);
    ``fields`` names where the shape's texts are, for the message about a record of
    this shape that held none.
    """

    name: str
    read: ReadFn
    claims: ClaimFn
    order: int
    fields: str
    description: str
    span: bool = False


SHAPES: dict[str, Shape] = {}


def shape(
    name: str, *, claims: ClaimFn, order: int, fields: str, span: bool = False
) -> Callable[[ReadFn], ReadFn]:
    """Register ``read`` as the reader of the log shape ``name``.

    Args:
        name: the shape's name, as ``guard scan --format`` takes it.
        claims: a cheap test of a parsed record (a dict): is it of this shape?
        order: shapes are asked in this order, lowest first; the first claim wins.
        fields: where the shape's texts are (``input/output``), for messages.
        span: the shape also reads spans found inside an OTLP JSON export.
    """

    def register(read: ReadFn) -> ReadFn:
        doc = (read.__doc__ or "").strip().splitlines()
        SHAPES[name] = Shape(
            name, read, claims, order, fields, doc[0] if doc else name, span
        )
        _ORDERED.clear()
        return read

    return register


_ORDERED: list[Shape] = []
_LOADED: list[bool] = []


def known_shapes() -> list[Shape]:
    """Every registered shape, in the order records are tried against them."""
    if not _LOADED:
        from llmops.guard import shapes

        for module in pkgutil.iter_modules(shapes.__path__):
            if not module.name.startswith("_"):
                importlib.import_module(f"{shapes.__name__}.{module.name}")
        _LOADED.append(True)
    if not _ORDERED:
        _ORDERED.extend(sorted(SHAPES.values(), key=lambda s: (s.order, s.name)))
    return _ORDERED


def shape_named(name: str) -> Shape:
    """The shape called ``name``; a ConfigError listing the known ones otherwise."""
    for s in known_shapes():
        if s.name == name:
            return s
    names = ", ".join(sorted(s.name for s in known_shapes()))
    raise ConfigError(f"unknown log format {name!r}", field="format", hint=f"known: {names}")


def records_of(obj: Any, forced: str | None = None) -> list[Record]:
    """The records in one parsed line (an OTLP export line may hold several spans).

    ``forced`` names the shape to read every record with, instead of detecting it.
    """
    if not isinstance(obj, dict):
        raise UnknownShape(f"not a JSON object ({type(obj).__name__})")
    ordered = _ORDERED or known_shapes()
    if "resourceSpans" in obj:
        return _otlp_records(obj, forced)
    if forced is not None:
        found = shape_named(forced).read(obj)
        return found if isinstance(found, list) else [found]
    for s in ordered:
        if s.claims(obj):
            found = s.read(obj)
            return found if isinstance(found, list) else [found]
    keys = ", ".join(list(obj)[:6]) or "none"
    raise UnknownShape(f"unknown record shape (keys: {keys})")


def record_of_text(value: str) -> Record:
    """A bare string given to the Python API: one text with no role."""
    return Record("text", texts=[(value, None, "")])


def _otlp_spans(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for rs in obj.get("resourceSpans") or ():
        if not isinstance(rs, dict):
            continue
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or ():
            if isinstance(ss, dict):
                yield from (s for s in ss.get("spans") or () if isinstance(s, dict))


def _otlp_records(obj: dict[str, Any], forced: str | None) -> list[Record]:
    # Spans that no span shape claims (HTTP calls, database queries) are not LLM
    # traffic and are left out; a line with no LLM span at all is one record with no
    # text, so that an export of the wrong spans does not pass for a clean one.
    span_shapes = [shape_named(forced)] if forced else [s for s in known_shapes() if s.span]
    out = []
    for span in _otlp_spans(obj):
        for s in span_shapes:
            if forced or s.claims(span):
                found = s.read(span)
                out.extend(found if isinstance(found, list) else [found])
                break
    return out or [Record(forced or "otel")]
