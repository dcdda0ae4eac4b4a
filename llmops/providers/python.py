"""Your application as the target: ``provider: {kind: python, target: "pkg.module:function"}``.

The function is imported from the project root (which is put on ``sys.path``) when the
provider is built, so a target that cannot be imported stops the run before any call.
It is called once per case as ``function(messages, variables, params)`` with the rendered
messages, the case's variables and the prompt's params; it may be sync (run on its own
thread) or async. It returns the answer text, or a mapping ``{"output": str,
"contexts": [...], "usage": {"prompt_tokens", "completion_tokens"}}`` where each context
is a string or ``{"text", "source"}``: contexts are scored like a RAG prompt's retrieved
chunks.

Each call is bounded by ``timeout_s``; an exception, a timeout or a wrong return type is
that case's error (naming the target) and the other cases go on. A sync target that
never returns keeps its thread, which does not keep the process alive.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import importlib
import inspect
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import ConfigError
from llmops.project import ProviderConfig
from llmops.providers.base import Completion, Message, ProviderCallError, Unlimited

if TYPE_CHECKING:
    from llmops.evalsets import Case


def load_target(target: str, root: Path | None) -> Callable[..., Any]:
    """The callable named ``module:attribute``, imported with ``root`` on ``sys.path``.

    Raises:
        ConfigError: the name is malformed, the module cannot be imported, or the
            attribute is missing or not callable.
    """
    module_name, sep, attr = target.partition(":")
    if not sep or not module_name or not attr:
        raise ConfigError(f"python target {target!r} is not `package.module:function`",
                          field="provider.target")
    if root is not None and str(root) not in sys.path:
        sys.path.insert(0, str(root))
    try:
        obj: Any = importlib.import_module(module_name)
        for part in attr.split("."):
            obj = getattr(obj, part)
    except Exception as exc:  # an ImportError, or anything the module raised on import
        raise ConfigError(
            f"python target {target!r} cannot be imported: {type(exc).__name__}: {exc}",
            field="provider.target",
            hint="it is imported from the project root",
        ) from None
    if not callable(obj):
        raise ConfigError(
            f"python target {target!r} is not callable (it is of type {type(obj).__name__})",
            field="provider.target")
    return obj  # type: ignore[no-any-return]


def _source_digest(fn: Callable[..., Any]) -> str:
    try:
        source = inspect.getsourcefile(fn)
    except TypeError:
        source = None
    if source is None or not Path(source).is_file():
        return "-"
    return hashlib.sha256(Path(source).read_bytes()).hexdigest()[:16]


class PythonProvider(Unlimited):
    """Answers from a function of the user's application."""

    def __init__(self, config: ProviderConfig, *, root: Path | None = None) -> None:
        assert config.target is not None  # checked by ProviderConfig
        self.target = config.target
        self.fn = load_target(config.target, root)
        self.timeout_s = config.timeout_s
        self._params = dict(config.params)
        self._model = config.model
        self.max_concurrency = config.max_concurrency
        self._loop: asyncio.AbstractEventLoop | None = None
        self._sem = asyncio.Semaphore(config.max_concurrency)
        # The source file's digest: an edit of the target is a new identity (and cache key).
        self._identity = f"python:{config.target}:{_source_digest(self.fn)}"

    @property
    def identity(self) -> str:
        return self._identity

    async def complete(
        self, messages: list[Message], params: dict[str, Any], *, case: Case | None = None
    ) -> Completion:
        """Call the target for one case.

        Raises:
            ProviderCallError: the target raised, timed out or returned the wrong type.
        """
        sent = {k: v for k, v in {**self._params, **params}.items() if not k.startswith("_")}
        variables = dict(case.vars) if case is not None else {}
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a semaphore belongs to one event loop
            self._loop, self._sem = loop, asyncio.Semaphore(self.max_concurrency)
        async with self._sem:
            start = time.perf_counter()
            try:
                call = self._call(messages, variables, sent)
                result = await asyncio.wait_for(call, self.timeout_s)
            except TimeoutError:
                raise ProviderCallError(
                    f"python target {self.target}: no answer within {self.timeout_s:g} s "
                    "(timeout_s)"
                ) from None
            except Exception as exc:
                raise ProviderCallError(
                    f"python target {self.target} raised {type(exc).__name__}: {exc}"
                ) from None
            latency_ms = (time.perf_counter() - start) * 1000
        return self._completion(result, latency_ms)

    async def _call(self, messages: list[Message], variables: dict[str, Any],
                    params: dict[str, Any]) -> Any:
        if inspect.iscoroutinefunction(self.fn):
            return await self.fn(messages, variables, params)
        result = await _in_daemon_thread(self.fn, messages, variables, params)
        if inspect.isawaitable(result):
            return await result
        return result

    def _completion(self, result: Any, latency_ms: float) -> Completion:
        model = self._model or self.target
        if isinstance(result, str):
            return Completion(text=result, model=model, latency_ms=latency_ms)
        if not isinstance(result, Mapping) or not isinstance(result.get("output"), str):
            raise ProviderCallError(
                f"python target {self.target} returned {_type_name(result)}; expected str "
                "or a mapping with a string `output`"
            )
        usage = result.get("usage") or {}
        return Completion(
            text=result["output"],
            model=model,
            latency_ms=latency_ms,
            prompt_tokens=_int_or_none(usage, "prompt_tokens"),
            completion_tokens=_int_or_none(usage, "completion_tokens"),
            contexts=self._contexts(result.get("contexts")),
        )

    def _contexts(self, value: Any) -> list[dict[str, Any]] | None:
        if value is None:
            return None
        if not isinstance(value, list | tuple):
            raise ProviderCallError(
                f"python target {self.target} returned contexts of type {_type_name(value)}; "
                "expected a list of strings or {text, source} mappings"
            )
        out: list[dict[str, Any]] = []
        for item in value:
            if isinstance(item, str):
                out.append({"text": item, "source": item})
            elif isinstance(item, Mapping) and isinstance(item.get("text"), str):
                out.append({"source": item.get("source") or item["text"], **item})
            else:
                raise ProviderCallError(
                    f"python target {self.target} returned a context of type "
                    f"{_type_name(item)}; expected a string or a {{text, source}} mapping"
                )
        return out

    async def aclose(self) -> None:
        """Nothing to release: the module stays imported."""


def _type_name(value: Any) -> str:
    if isinstance(value, Mapping):
        return f"a mapping without a string `output` (keys: {sorted(map(str, value))[:6]})"
    return type(value).__name__


def _int_or_none(usage: Any, key: str) -> int | None:
    value = usage.get(key) if isinstance(usage, Mapping) else None
    return int(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


async def _in_daemon_thread(fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` on a daemon thread: a target that hangs cannot block the exit."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[Any] = loop.create_future()

    def settle(ok: bool, value: Any) -> None:
        if future.done():
            return
        if ok:
            future.set_result(value)
        else:
            future.set_exception(value)

    def run() -> None:
        try:
            value = fn(*args)
        except BaseException as exc:  # handed to the caller, whatever it is
            ok, value = False, exc
        else:
            ok = True
        with contextlib.suppress(RuntimeError):  # the run is over and its loop closed
            loop.call_soon_threadsafe(settle, ok, value)

    threading.Thread(target=run, name="llmops-target", daemon=True).start()
    return await future
