"""Detectors as small registered units, and the text view they share.

A detector is a function ``find(view, settings) -> Iterable[Hit]`` registered with a
name, a version, a category, a severity, its rank among overlapping findings and its
prefilter: literal *triggers* that must occur in the text (case-sensitive), literals of
its lower-cased form (*itriggers*), or a named *gate* (see :mod:`llmops.guard.prefilter`).
The engine finds all of them in one pass per text and calls only the detectors whose
prefilter matched, so most texts run no detector regex at all.

The built-in detectors are the modules of :mod:`llmops.guard.detectors`, found by
listing that package: a new detector is one new file there.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from llmops.guard.findings import Hit
from llmops.severity import Severity

FindFn = Callable[["TextView", "Settings"], Iterable[Hit]]


class TextView:
    """One text being scanned, with lazily computed forms shared by detectors."""

    __slots__ = ("_lower", "_numbers", "text")

    def __init__(self, text: str) -> None:
        self.text = text
        self._lower: str | None = None
        self._numbers: list[Any] | None = None

    @property
    def lower(self) -> str:
        if self._lower is None:
            self._lower = self.text.lower()
        return self._lower

    def numbers(self, parse: Callable[[TextView], list[Any]]) -> list[Any]:
        """Numeric candidates found once and shared by the numeric PII detectors."""
        if self._numbers is None:
            self._numbers = parse(self)
        return self._numbers


@dataclass
class Settings:
    """Per-configuration state compiled once (policy patterns, JSON schema validator)."""

    banned: re.Pattern[str] | None = None
    banned_patterns: list[tuple[str, re.Pattern[str]]] = field(default_factory=list)
    policy_severity: str = "medium"
    json_validator: Any = None
    json_required: bool = False


@dataclass(frozen=True)
class Detector:
    """A registered detector: identity, category, severity, overlap rank and its prefilter.

    ``priority`` decides which of two PII or secret findings over the same characters is
    kept: the higher one, the more specific detector (an IBAN over the phone-like digits
    inside it, a GitHub token over the ``password=`` assignment around it).
    """

    name: str
    version: str
    category: str
    severity: str
    description: str
    find: FindFn
    priority: int = 0
    triggers: tuple[str, ...] = ()
    itriggers: tuple[str, ...] = ()
    gates: tuple[str, ...] = ()  # cheap patterns, one of which must match (prefilter.GATES)
    non_ascii: bool = False  # runs only on texts with a non-ASCII character


REGISTRY: dict[str, Detector] = {}


def detector(
    name: str,
    *,
    category: str,
    severity: Severity,
    version: str = "1",
    priority: int | None = None,
    triggers: Iterable[str] = (),
    itriggers: Iterable[str] = (),
    gates: Iterable[str] = (),
    non_ascii: bool = False,
) -> Callable[[FindFn], FindFn]:
    """Register ``find`` as the detector ``name``; its docstring's first line describes it.

    ``priority`` (see :class:`Detector`) defaults to 10 for secrets, whose token formats
    are specific, and 0 for everything else.
    """

    def register(find: FindFn) -> FindFn:
        doc = (find.__doc__ or "").strip().splitlines()
        REGISTRY[name] = Detector(
            name=name,
            version=version,
            category=category,
            severity=severity,
            description=doc[0] if doc else name,
            find=find,
            priority=priority if priority is not None else 10 if category == "secret" else 0,
            triggers=tuple(triggers),
            itriggers=tuple(t.lower() for t in itriggers),
            gates=tuple(gates),
            non_ascii=non_ascii,
        )
        return find

    return register


def known() -> list[Detector]:
    """Every registered detector, in name order."""
    _load_builtin()
    return [REGISTRY[name] for name in sorted(REGISTRY)]


_LOADED: list[bool] = []


def _load_builtin() -> None:
    # Each module of the detectors package registers its detectors on import.
    if _LOADED:
        return
    from llmops.guard import detectors

    for module in pkgutil.iter_modules(detectors.__path__):
        if not module.name.startswith("_"):  # _modules hold what detectors share
            importlib.import_module(f"{detectors.__name__}.{module.name}")
    _LOADED.append(True)
