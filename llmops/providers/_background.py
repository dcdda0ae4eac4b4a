"""One event loop on a daemon thread, for synchronous callers of the async client.

The embedder is synchronous (the similarity scorer runs it on a worker thread, index
sync calls it directly), while the OpenAI-compatible client is async. Coroutines handed
here run on one long-lived loop, so the client's connection pool and the endpoint's rate
limiter are reused from call to call.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

T = TypeVar("T")

_loop: asyncio.AbstractEventLoop | None = None
_lock = threading.Lock()


def _background_loop() -> asyncio.AbstractEventLoop:
    global _loop
    with _lock:
        if _loop is None or _loop.is_closed():
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="llmops-client", daemon=True).start()
            _loop = loop
        return _loop


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Run ``coro`` on the background loop and wait for its result (or exception)."""
    return asyncio.run_coroutine_threadsafe(coro, _background_loop()).result()
