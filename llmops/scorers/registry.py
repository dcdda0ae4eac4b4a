"""The scorer registry: ``@scorer(name, version)`` factories, looked up by name.

A factory takes the scorer's options as keyword arguments (and, if it declares a
``ctx`` parameter, the :class:`ScorerContext`). It returns either a :class:`Scorer`
or a plain scoring function, sync or async, per case (``sample -> value``) or batched
(``samples -> [value, ...]``, with ``@scorer(..., batched=True)``). A function may
return a number in 0..1, a bool, or a :class:`Score`.

Every built scorer is wrapped so that it carries the registered name, version and the
options it was built with, and so that a value outside 0..1 (or NaN) from any scorer,
plugins included, becomes an error on that case instead of a stored score.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from llmops.errors import LlmopsError, UserError
from llmops.scorers.base import Sample, Score, Scorer, ScorerContext, range_error

if TYPE_CHECKING:
    from llmops.evalsets import Case


@dataclass(frozen=True)
class Registered:
    """A factory as registered: its name, version and the options it accepts."""

    name: str
    version: str
    factory: Callable[..., Any]
    batched: bool
    description: str

    def __call__(self, **options: Any) -> Scorer:
        """Build the scorer with these options (no project context)."""
        return self.build(options)

    @property
    def options(self) -> list[str]:
        params = inspect.signature(self.factory).parameters
        return [p for p in params if p != "ctx"]

    def build(self, options: dict[str, Any] | None, ctx: ScorerContext | None = None) -> Scorer:
        """Call the factory with ``options``; unknown options are a user error."""
        options = dict(options or {})
        params = inspect.signature(self.factory).parameters
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        unknown = [k for k in options if k not in params or k == "ctx"]
        if unknown and not takes_any:
            accepted = ", ".join(self.options) or "none"
            raise UserError(
                f"scorer {self.name!r}: unknown option {unknown[0]!r}",
                hint=f"options: {accepted}",
            )
        missing = [
            p.name
            for p in params.values()
            if p.default is inspect.Parameter.empty
            and p.name != "ctx"
            and p.name not in options
            and p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
        ]
        if missing:
            raise UserError(f"scorer {self.name!r}: option {missing[0]!r} is required")
        kwargs = dict(options)
        if "ctx" in params:
            kwargs["ctx"] = ctx or ScorerContext()
        try:
            made = self.factory(**kwargs)
        except LlmopsError:
            raise
        except Exception as exc:  # a plugin's factory choking on its options
            raise UserError(
                f"scorer {self.name!r} could not be built with {options}: "
                f"{type(exc).__name__}: {exc}"
            ) from exc
        inner: Any
        if callable(getattr(made, "score", None)):
            inner = made
        elif callable(made):
            threshold = options.get("threshold")
            if threshold is None and "threshold" in params:
                default = params["threshold"].default
                threshold = None if default is inspect.Parameter.empty else default
            inner = _FunctionScorer(made, batched=self.batched, threshold=threshold)
        else:
            raise UserError(
                f"scorer {self.name!r}: its factory returned {type(made).__name__}, "
                "expected a scorer or a scoring function"
            )
        # The options as written: with the version they rebuild the same scorer.
        return CheckedScorer(self.name, self.version, options, inner)


_REGISTRY: dict[str, Registered] = {}


def scorer(
    name: str, version: str = "1", *, batched: bool = False, description: str = ""
) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Register a scorer factory under ``name``.

    Args:
        name: the name used in a suite's ``scorers:`` list.
        version: bump it when the scorer's behaviour changes; stored with every score.
        batched: the factory returns ``samples -> values`` instead of ``sample -> value``.
        description: one line shown in listings.

    Returns:
        The decorator; the factory itself is returned unchanged.
    """

    def register(factory: Callable[..., Any]) -> Callable[..., Any]:
        if not factory.__module__.startswith("llmops.scorers."):
            _load_builtins()  # so that a clash with a built-in name shows here, not later
        taken = _REGISTRY.get(name)
        if taken is not None and _origin(taken.factory) != _origin(factory):
            raise UserError(
                f"scorer name {name!r} is already taken by {_origin(taken.factory)}",
                hint="give the scorer another name",
            )
        doc = description or (inspect.getdoc(factory) or "").split("\n", 1)[0]
        _REGISTRY[name] = Registered(name, str(version), factory, batched, doc)
        return factory

    return register


def _origin(factory: Callable[..., Any]) -> str:
    return f"{factory.__module__}.{factory.__qualname__}"


def get(name: str) -> Registered:
    """The registered factory for ``name``; a user error listing known names otherwise."""
    _load_builtins()
    try:
        return _REGISTRY[name]
    except KeyError:
        raise UserError(
            f"unknown scorer {name!r}", hint=f"known scorers: {', '.join(known())}"
        ) from None


def known() -> list[str]:
    """Names of every registered scorer, sorted."""
    _load_builtins()
    return sorted(_REGISTRY)


def build_scorers(entries: list[dict[str, Any]], ctx: ScorerContext | None = None) -> list[Scorer]:
    """Build a suite's ``scorers:`` list (``[{name: options}, ...]``) into scorers.

    Plugins named in the project's ``plugins:`` and entry points in the ``llmops.scorers``
    group are loaded first, so their names resolve like built-in ones.
    """
    from llmops.scorers.plugins import load_plugins

    ctx = ctx or ScorerContext()
    load_plugins(ctx.project)
    built: list[Scorer] = []
    for entry in entries:
        if isinstance(entry, str):
            entry = {entry: {}}
        if not isinstance(entry, dict) or len(entry) != 1:
            raise UserError(f"a scorer entry is one {{name: options}} mapping, got {entry!r}")
        ((name, options),) = entry.items()
        if options is not None and not isinstance(options, dict):
            raise UserError(f"scorer {name!r}: options must be a mapping")
        built.append(get(name).build(options, ctx))
    return built


class CheckedScorer:
    """A built scorer with its identity, checking every value it produces."""

    def __init__(self, name: str, version: str, args: dict[str, Any], inner: Any) -> None:
        self.name = name
        self.version = version
        self.args = args
        self.inner = inner

    def __repr__(self) -> str:
        return f"<scorer {self.name}@{self.version} {self.args}>"

    @property
    def threshold(self) -> float | None:
        """The value at or above which a case passes, when the scorer has one."""
        value = getattr(self.inner, "threshold", None)
        return float(value) if isinstance(value, int | float) else None

    def validate(self, cases: list[Case]) -> None:
        check = getattr(self.inner, "validate", None)
        if check is not None:
            check(cases)

    async def score(self, samples: list[Sample]) -> list[Score]:
        if not samples:
            return []
        try:
            results = await self.inner.score(samples)
        except UserError:
            raise
        except (LlmopsError, Exception) as exc:
            message = f"scorer {self.name!r} failed: {type(exc).__name__}: {exc}"
            return [Score.failed(message) for _ in samples]
        results = list(results)
        if len(results) != len(samples):
            message = (
                f"scorer {self.name!r} returned {len(results)} scores for {len(samples)} samples"
            )
            return [Score.failed(message) for _ in samples]
        return [self._check(s) for s in results]

    def _check(self, result: Any) -> Score:
        if not isinstance(result, Score):
            return Score.failed(
                f"scorer {self.name!r} returned {type(result).__name__}, expected a Score"
            )
        if result.error is not None:
            return Score(value=None, passed=None, error=result.error, details=result.details)
        problem = range_error(result.value)
        if problem is not None:
            return Score.failed(f"scorer {self.name!r}: {problem}", result.details)
        if result.passed is None:
            return Score.failed(f"scorer {self.name!r}: a score without an error must say passed")
        return Score(float(result.value), bool(result.passed), None, result.details)  # type: ignore[arg-type]

    async def aclose(self) -> None:
        """Release what the scorer holds (judge connections); safe to call twice."""
        close = getattr(self.inner, "aclose", None)
        if close is not None:
            await close()


class _FunctionScorer:
    """Adapts a plain scoring function (sync or async, per case or batched)."""

    def __init__(self, fn: Callable[..., Any], *, batched: bool, threshold: Any) -> None:
        self.fn = fn
        self.batched = batched
        self.threshold = 0.5 if threshold is None else float(threshold)
        self.is_async = inspect.iscoroutinefunction(fn)

    async def _call(self, arg: Any) -> Any:
        if self.is_async:
            return await self.fn(arg)
        result = await asyncio.to_thread(self.fn, arg)
        if inspect.isawaitable(result):
            return await result
        return result

    async def score(self, samples: list[Sample]) -> list[Score]:
        if self.batched:
            values = await self._call(samples)
            return [self._to_score(v) for v in values]
        out = await asyncio.gather(*(self._one(s) for s in samples))
        return list(out)

    async def _one(self, sample: Sample) -> Score:
        try:
            return self._to_score(await self._call(sample))
        except UserError:
            raise
        except Exception as exc:
            return Score.failed(f"{type(exc).__name__}: {exc}")

    def _to_score(self, value: Any) -> Score:
        if isinstance(value, Score):
            return value
        if isinstance(value, bool):
            return Score.boolean(value)
        problem = range_error(value)
        if problem is not None:
            return Score.failed(problem)
        return Score.of(float(value), self.threshold)


_builtins_loaded = False


# Modules of this package that hold the machinery, not a scorer.
_MACHINERY = frozenset({"base", "registry", "plugins", "agreement"})


def _load_builtins() -> None:
    """Import every built-in scorer module: each registers itself with ``@scorer``.

    A built-in scorer is a public module of :mod:`llmops.scorers`; adding one is adding
    its file, nothing else.
    """
    global _builtins_loaded
    if _builtins_loaded:
        return
    _builtins_loaded = True
    import importlib
    import pkgutil

    import llmops.scorers as package

    for info in pkgutil.iter_modules(package.__path__):
        if info.name.startswith("_") or info.name in _MACHINERY:
            continue
        importlib.import_module(f"llmops.scorers.{info.name}")
