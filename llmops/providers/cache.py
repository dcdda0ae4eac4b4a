"""A SQLite cache of chat completions, so an unchanged prompt costs nothing on a re-run.

The key is the sha256 of a canonical JSON of the provider's identity (kind, endpoint or
model file), the model, every parameter and the exact messages (and, for an application
target, the case's variables). Any change in any of them is a different key. Failed
calls are never stored.

The file is opened in WAL mode with a busy timeout, so several processes may read and
write the same cache at once; a write is a single ``INSERT OR REPLACE``. A corrupt file is
moved aside with a warning and the cache starts empty.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import time
import warnings
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from llmops._credentials import mask_credentials
from llmops._sqlite import Migrations
from llmops.providers._cachefile import CacheFile
from llmops.providers.base import (
    Completion,
    EmbeddingProvider,
    Message,
    Provider,
    RateStatus,
    TokenLogprob,
)

if TYPE_CHECKING:
    from llmops.evalsets import Case

MIGRATIONS = Migrations("response cache")


@MIGRATIONS.add
def m001_completions(db: sqlite3.Connection) -> None:
    # `if not exists`: a cache written before migrations were recorded keeps its rows.
    db.execute(
        "create table if not exists completions (key text primary key, identity text not null,"
        " model text, value blob not null, created_at real not null)"
    )


def cache_key(
    identity: str,
    model: str | None,
    params: dict[str, Any],
    messages: list[Message],
    variables: Mapping[str, Any] | None = None,
) -> str:
    """The cache key of one call: sha256 of a canonical JSON of everything sent."""
    doc: dict[str, Any] = {
        "v": 1, "identity": identity, "model": model, "params": params, "messages": messages
    }
    if variables is not None:
        doc["vars"] = dict(variables)
    blob = orjson.dumps(doc, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)
    return hashlib.sha256(blob).hexdigest()


def _encode(c: Completion) -> bytes:
    return orjson.dumps(
        {
            "text": c.text,
            "model": c.model,
            "latency_ms": c.latency_ms,
            "prompt_tokens": c.prompt_tokens,
            "completion_tokens": c.completion_tokens,
            "finish_reason": c.finish_reason,
            "logprobs": None
            if c.logprobs is None
            else [[t.token, t.logprob, t.top] for t in c.logprobs],
            **({"contexts": c.contexts} if c.contexts is not None else {}),
        }
    )


def _decode(blob: bytes) -> Completion:
    d = orjson.loads(blob)
    lps = d.get("logprobs")
    return Completion(
        text=d["text"],
        model=d["model"],
        latency_ms=d["latency_ms"],
        prompt_tokens=d.get("prompt_tokens"),
        completion_tokens=d.get("completion_tokens"),
        finish_reason=d.get("finish_reason"),
        cached=True,
        logprobs=None if lps is None else [TokenLogprob(t, lp, top) for t, lp, top in lps],
        attempts=0,
        contexts=d.get("contexts"),
    )


class ResponseCache:
    """Completions by key in one SQLite file, safe to share between processes."""

    def __init__(self, path: Path, *, busy_timeout_ms: int = 30_000) -> None:
        self.path = Path(path)
        self._file = CacheFile(self.path, MIGRATIONS, what="response cache",
                               busy_timeout_ms=busy_timeout_ms)

    def get(self, key: str) -> Completion | None:
        """The stored completion for ``key`` (``cached=True``), or None."""
        row = self._file.run(
            lambda db: db.execute("select value from completions where key = ?", (key,))
            .fetchone()
        )
        return None if row is None else _decode(row[0])

    def put(self, key: str, identity: str, completion: Completion) -> None:
        """Store ``completion`` under ``key``, replacing what was there.

        The project's key values and URL credentials in its text are masked first: an
        answer that quotes a key is never written, in the cache as in the results store.
        """
        text = mask_credentials(completion.text)
        if text != completion.text:
            completion = replace(completion, text=text or "")
        row = (key, identity, completion.model, _encode(completion), time.time())
        self._file.run(lambda db: db.execute(
            "insert or replace into completions (key, identity, model, value, created_at)"
            " values (?, ?, ?, ?, ?)", row))

    def __len__(self) -> int:
        return int(self._file.run(
            lambda db: db.execute("select count(*) from completions").fetchone()[0]))

    def close(self) -> None:
        self._file.close()


class CachedProvider:
    """A provider that answers repeated calls from a :class:`ResponseCache`.

    With ``no_cache`` the cache is not read, but fresh answers are still written, so the
    next normal run can use them. Identical calls in flight at the same time are made
    once and shared.
    """

    def __init__(
        self,
        inner: Provider,
        cache: ResponseCache,
        *,
        no_cache: bool = False,
        case_in_key: bool = False,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.no_cache = no_cache
        self.case_in_key = case_in_key  # an application target answers from the variables
        self._in_flight: dict[str, asyncio.Future[Completion]] = {}
        self._warned = False

    @property
    def identity(self) -> str:
        return self.inner.identity

    @property
    def default_model(self) -> str | None:
        return self.inner.default_model

    @property
    def default_params(self) -> dict[str, Any]:
        return self.inner.default_params

    def rate_status(self) -> RateStatus | None:
        return self.inner.rate_status()

    async def complete(
        self, messages: list[Message], params: dict[str, Any], *, case: Case | None = None
    ) -> Completion:
        defaults = self.inner.default_params
        merged = {**defaults, **params} if defaults else params
        variables = (case.vars if case is not None else {}) if self.case_in_key else None
        model = merged.get("model") or self.default_model
        key = cache_key(self.identity, model, merged, messages, variables)
        if not self.no_cache:
            hit = self._get(key)
            if hit is not None:
                return hit
        pending = self._in_flight.get(key)
        if pending is not None:
            try:
                return await asyncio.shield(pending)
            except asyncio.CancelledError:
                if not pending.cancelled():
                    raise  # this caller was cancelled, not the shared call
            return await self._call_and_store(key, messages, params, case)
        future: asyncio.Future[Completion] = asyncio.get_running_loop().create_future()
        self._in_flight[key] = future
        try:
            result = await self.inner.complete(messages, params, case=case)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # mark retrieved: nobody else may be waiting
            raise
        else:
            self._put(key, result)
            future.set_result(result)
            return result
        finally:
            del self._in_flight[key]

    async def _call_and_store(
        self, key: str, messages: list[Message], params: dict[str, Any], case: Case | None
    ) -> Completion:
        result = await self.inner.complete(messages, params, case=case)
        self._put(key, result)
        return result

    # A cache that cannot be read or written (disk full, locked for too long) costs model
    # calls, never results: say so once and go on.
    def _get(self, key: str) -> Completion | None:
        try:
            return self.cache.get(key)
        except sqlite3.Error as exc:
            self._warn(exc)
            return None

    def _put(self, key: str, result: Completion) -> None:
        try:
            self.cache.put(key, self.identity, result)
        except sqlite3.Error as exc:
            self._warn(exc)

    def _warn(self, exc: sqlite3.Error) -> None:
        if not self._warned:
            self._warned = True
            warnings.warn(f"response cache {self.cache.path} unusable: {exc}", stacklevel=3)

    async def embed(
        self, texts: list[str], model: str | None = None, *, batch_size: int | None = None
    ) -> list[list[float]]:
        """Embeddings from the wrapped provider (not cached here)."""
        if not isinstance(self.inner, EmbeddingProvider):
            raise AttributeError(f"{self.identity} does not serve embeddings")
        return await self.inner.embed(texts, model, batch_size=batch_size)

    async def aclose(self) -> None:
        await self.inner.aclose()
        self.cache.close()
