"""What a template may build: bounded strings, lists, numbers, loops and time.

Jinja2's sandbox stops a template from reaching Python internals, not from asking for
gigabytes: ``{{ ('a' * 100000) * 20000 }}`` is a safe expression that needs 2 GB. Every
operation that can make something much larger than its inputs is checked *before* it
runs (``*``, ``+``, ``%``, ``**``, growing string methods and filters such as
``center``, ``replace``, ``join``, ``format``), and every result after it runs. A render
also has a budget of loop iterations, of characters produced (which bounds the buffers
of ``{% set %}`` blocks, macros and filter blocks) and of seconds.

Limits (the same for every prompt; far above what a real prompt needs):

- ``MAX_CHARS``: characters (or items) in any one value an operation builds, and in all
  the text one render produces;
- ``MAX_ITERATIONS``: loop iterations in one render;
- ``MAX_INT_BITS``: the size of an integer ``**`` or ``*`` may build;
- ``MAX_SECONDS``: wall time of one render.
"""

from __future__ import annotations

import contextlib
import functools
import operator
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

MAX_CHARS = 10_000_000
MAX_ITERATIONS = 1_000_000
MAX_INT_BITS = 100_000
MAX_SECONDS = 5.0


class LimitExceeded(Exception):
    """A template asked for more than a limit allows; the message says what and how much."""


@dataclass
class RenderBudget:
    """What one render may still spend."""

    deadline: float = field(default_factory=lambda: time.monotonic() + MAX_SECONDS)
    iterations: int = 0
    chars: int = 0

    def tick(self, iterations: int = 0, chars: int = 0) -> None:
        self.iterations += iterations
        self.chars += chars
        if self.iterations > MAX_ITERATIONS:
            raise LimitExceeded(f"loops run more than {MAX_ITERATIONS:,} times")
        if self.chars > MAX_CHARS:
            raise LimitExceeded(f"the output is longer than {MAX_CHARS:,} characters")
        if time.monotonic() > self.deadline:
            raise LimitExceeded(f"rendering takes longer than {MAX_SECONDS:g} s")


_budget: ContextVar[RenderBudget | None] = ContextVar("llmops_render_budget", default=None)


@contextlib.contextmanager
def render_budget() -> Iterator[RenderBudget]:
    """Give the renders inside the block one budget of iterations, characters and time."""
    budget = RenderBudget()
    token = _budget.set(budget)
    try:
        yield budget
    finally:
        _budget.reset(token)


def _tick(iterations: int = 0, chars: int = 0) -> None:
    budget = _budget.get()
    if budget is not None:
        budget.tick(iterations, chars)


# --- sizes ---------------------------------------------------------------------------


def size_of(value: Any, cap: int = MAX_CHARS) -> int:
    """Characters and items in a value, counting shared parts each time (stops past ``cap``).

    A list that holds the same long string a thousand times is as big as its text.
    """
    total = 0
    stack = [value]
    while stack and total <= cap:
        item = stack.pop()
        if isinstance(item, str | bytes):
            total += len(item)
        elif isinstance(item, list | tuple | set | frozenset):
            total += len(item)
            stack.extend(item)
        elif isinstance(item, Mapping):
            total += len(item)
            stack.extend(item.keys())
            stack.extend(item.values())
        else:
            total += 1
    return total


def _refuse(what: str, amount: int, limit: int = MAX_CHARS, unit: str = "characters") -> None:
    if amount > limit:
        raise LimitExceeded(f"{what} would build {amount:,} {unit} (the limit is {limit:,})")


def check_result(value: Any, what: str = "an expression") -> Any:
    """Return ``value`` if it is within :data:`MAX_CHARS`, else raise."""
    _refuse(what, size_of(value))
    return value


# --- operators -----------------------------------------------------------------------

_SEQUENCES = (str, list, tuple)
_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "*": operator.mul, "+": operator.add, "%": operator.mod, "**": operator.pow,
}
INTERCEPTED_BINOPS = frozenset(_OPERATORS)


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_binop(op: str, left: Any, right: Any) -> None:
    if op == "*":
        if isinstance(left, _SEQUENCES) and _is_int(right):
            _refuse("`*`", size_of(left) * right)
        elif isinstance(right, _SEQUENCES) and _is_int(left):
            _refuse("`*`", size_of(right) * left)
        elif _is_int(left) and _is_int(right):
            bits = abs(left).bit_length() + abs(right).bit_length()
            _refuse("`*`", bits, MAX_INT_BITS, "bits")
    elif op == "+" and isinstance(left, _SEQUENCES) and isinstance(right, _SEQUENCES):
        _refuse("`+`", size_of(left) + size_of(right))
    elif op == "**" and _is_int(left) and _is_int(right) and abs(left) > 1 and right > 0:
        _refuse("`**`", abs(left).bit_length() * right, MAX_INT_BITS, "bits")
    elif op == "%" and isinstance(left, str):
        args = right if isinstance(right, tuple) else (right,)
        _refuse("`%` formatting", len(left) + _percent_widths(left, args))


def binop(op: str, left: Any, right: Any) -> Any:
    """``left op right`` for the intercepted operators, refused before it gets too big."""
    _check_binop(op, left, right)
    result = _OPERATORS[op](left, right)
    if isinstance(result, _SEQUENCES):
        check_result(result, f"`{op}`")
    return result


_PERCENT_SPEC = re.compile(r"%(?:\([^)]*\))?[#0\- +]*(\*|\d+)?(?:\.(\*|\d+))?")


def _percent_widths(fmt: str, args: tuple[Any, ...]) -> int:
    """The characters the widths and precisions of a ``%`` format can add."""
    total = 0
    star = False
    for width, precision in _PERCENT_SPEC.findall(fmt):
        for number in (width, precision):
            if number.isdigit():
                total += int(number)
            star = star or number == "*"
    if star:
        total += sum(abs(a) for a in args if _is_int(a))
    return total + sum(size_of(a) for a in args)


_DIGITS = re.compile(r"(\d+)")


def _format_widths(fmt: str, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> int:
    """The characters the replacement fields of a ``str.format`` string can produce."""
    try:
        fields = [f for f in string.Formatter().parse(fmt) if f[1] is not None]
    except ValueError:
        return 0  # str.format will raise the same error itself
    values = [*args, *kwargs.values()]
    largest = max((size_of(v) for v in values), default=0)
    total = 0
    auto = 0
    for _, name, spec, _ in fields:
        assert name is not None
        total += sum(int(n) for n in _DIGITS.findall(spec or ""))
        if spec and "{" in spec:  # a nested width: `{:{w}}`
            total += sum(abs(v) for v in values if _is_int(v))
        key = re.split(r"[.\[]", name, maxsplit=1)[0]
        if key == "":
            key, auto = str(auto), auto + 1
        if key.isdigit() and int(key) < len(args):
            total += size_of(args[int(key)])
        elif key in kwargs:
            total += size_of(kwargs[key])
        else:
            total += largest
    return total


# --- calls: string methods and globals ---------------------------------------------------


_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill"})


def _check_str_method(text: str, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    if name in _WIDTH_METHODS and args and _is_int(args[0]):
        _refuse(f"`{name}`", max(len(text), args[0]))
    elif name == "replace" and len(args) >= 2:
        _refuse("`replace`", _replaced_size(text, args[0], args[1], _arg(args, kwargs, 2, "count")))
    elif name == "join" and args:
        _refuse("`join`", _joined_size(args[0], text))
    elif name == "expandtabs":
        tab = _arg(args, kwargs, 0, "tabsize")
        _refuse("`expandtabs`", len(text) + text.count("\t") * (tab if _is_int(tab) else 8))
    elif name == "translate" and args and isinstance(args[0], Mapping):
        longest = max((size_of(v) for v in args[0].values()), default=1)
        _refuse("`translate`", len(text) * max(longest, 1))
    elif name == "format":
        _refuse("`format`", len(text) + _format_widths(text, args, kwargs))
    elif name == "format_map" and args and isinstance(args[0], Mapping):
        _refuse("`format_map`", len(text) + _format_widths(text, (), args[0]))


def _arg(args: tuple[Any, ...], kwargs: dict[str, Any], index: int, name: str) -> Any:
    return args[index] if len(args) > index else kwargs.get(name)


def _replaced_size(text: Any, old: Any, new: Any, count: Any) -> int:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return 0
    found = len(text) + 1 if old == "" else text.count(old)
    if _is_int(count) and count >= 0:
        found = min(found, count)
    return len(text) + found * max(len(new) - len(old), 0)


def _joined_size(items: Any, separator: Any) -> int:
    if not isinstance(items, list | tuple | str):
        return 0  # a generator: the result is checked after it is built
    sep = size_of(separator) if separator is not None else 0
    return sum(size_of(i) for i in items) + sep * max(len(items) - 1, 0)


def check_call(obj: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
    """Refuse a call that would build too much; called before every call in a template."""
    target = getattr(obj, "__wrapped__", obj)  # the sandbox wraps str.format
    owner = getattr(target, "__self__", None)
    if isinstance(owner, str):
        _check_str_method(owner, getattr(target, "__name__", ""), args, kwargs)


# --- filters -------------------------------------------------------------------------


def _filter_estimate(name: str, value: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> int:
    """How large a growing filter's result can get, from its arguments."""
    if name in ("batch", "slice"):  # `fill_with` pads up to the count asked for
        count = _arg(args, kwargs, 0, "linecount" if name == "batch" else "slices")
        return count if _is_int(count) else 0
    if not isinstance(value, str):
        if name == "join":
            return _joined_size(value, _arg(args, kwargs, 0, "d"))
        return 0
    lines = value.count("\n") + 1
    if name == "indent":
        width = _arg(args, kwargs, 0, "width")
        pad = len(width) if isinstance(width, str) else (width if _is_int(width) else 4)
        return len(value) + lines * pad
    if name == "wordwrap":
        width = _arg(args, kwargs, 0, "width")
        wrap = _arg(args, kwargs, 2, "wrapstring")
        breaks = len(value) // max(width if _is_int(width) else 79, 1) + lines
        return len(value) + breaks * (len(wrap) if isinstance(wrap, str) else 1)
    if name == "replace" and len(args) >= 2:
        return _replaced_size(value, args[0], args[1], _arg(args, kwargs, 2, "count"))
    if name == "format":
        return len(value) + _percent_widths(value, args or tuple(kwargs.values()))
    if name == "urlize":
        extra = sum(size_of(v) for v in (*args, *kwargs.values()) if isinstance(v, str))
        return len(value) + len(value.split()) * (extra + 64)
    if name == "center":
        width = _arg(args, kwargs, 0, "width")
        return max(len(value), width if _is_int(width) else 80)
    return 0


def guarded_filter(name: str, func: Callable[..., Any], passes_arg: bool) -> Callable[..., Any]:
    """``func`` with its arguments and result checked against the limits."""

    @functools.wraps(func)
    def checked(*args: Any, **kwargs: Any) -> Any:
        offset = 1 if passes_arg else 0
        if len(args) > offset:
            value, rest = args[offset], args[offset + 1 :]
            _refuse(f"the filter `{name}`", _filter_estimate(name, value, rest, kwargs))
        result = func(*args, **kwargs)
        if isinstance(result, str | list | tuple | dict):
            check_result(result, f"the filter `{name}`")
        return result

    return checked


def bounded_lipsum(n: int = 5, html: bool = True, min: int = 20, max: int = 100) -> str:
    """Jinja's ``lipsum`` global, refused when it would write too much."""
    from jinja2.utils import generate_lorem_ipsum

    _refuse("`lipsum`", n * max * 12)
    return str(generate_lorem_ipsum(n=n, html=html, min=min, max=max))


# --- injected into compiled templates -----------------------------------------------------


def counted(iterable: Any, literal_chars: int = 0) -> Iterator[Any]:
    """Every item of a loop counts against the render's iteration budget.

    ``literal_chars``, the literal text of the loop's body, counts against the character
    budget once per item.
    """
    budget = _budget.get()
    if budget is None:
        yield from iterable
        return
    for item in iterable:
        budget.tick(1, literal_chars)
        yield item


def joined(chunks: Iterable[str]) -> str:
    """The text a template streams out, counted against the render's character budget."""
    budget = _budget.get()
    if budget is None:
        return "".join(chunks)
    parts = []
    room = MAX_CHARS - budget.chars
    for n, chunk in enumerate(chunks, start=1):
        room -= len(chunk)
        if room < 0 or not n % 1024:
            budget.tick(chars=MAX_CHARS - budget.chars - room)
            room = MAX_CHARS - budget.chars
        parts.append(chunk)
    budget.tick(chars=MAX_CHARS - budget.chars - room)
    return "".join(parts)


def emitted(value: Any) -> Any:
    """Every piece of output counts against the render's character budget."""
    budget = _budget.get()
    if budget is not None:
        budget.tick(chars=len(value) if type(value) is str else size_of(value))
    return value
