"""A run's writes to the results store, on one thread beside the event loop.

Written from the event loop, every batch of results stops the calls until the store
has answered: a few microseconds for SQLite, a round trip plus the server's own work
for PostgreSQL. Here one thread writes the batches, in the order they were handed over,
while the loop goes on calling the model; the database drivers let go of the
interpreter while they wait. What a batch wrote (its result ids) is collected on the
loop's side with :meth:`StoreWriter.collect`, so scoring stays on the loop.

While a write is waiting for the thread, :attr:`StoreWriter.ready` is false: the
runner then keeps gathering results into a bigger batch instead of queueing another
small one, so a slower store gets fewer, larger writes. At most ``max_waiting`` batches
wait for the thread; beyond that, handing over a batch waits, so a slow store slows the
run down rather than filling memory.

The thread gives the interpreter back at every round trip and must win it back from the
loop each time; with Python's default switch interval (5 ms) a loop with work to do (a
fast model, a cache, many cases) keeps it for up to 5 ms each time, and a write of a few
round trips then takes longer than the calls it writes. While a writer thread runs, the
switch interval is lowered to :data:`SWITCH_INTERVAL_S` (and put back when the last
writer closes).
"""

from __future__ import annotations

import sys
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from concurrent.futures import wait as wait_for
from typing import Any, TypeVar

T = TypeVar("T")

SWITCH_INTERVAL_S = 0.0005


class _SwitchInterval:
    """The lowered switch interval, while at least one writer thread runs."""

    lock = threading.Lock()
    writers = 0
    saved = 0.0

    @classmethod
    def enter(cls) -> None:
        with cls.lock:
            if cls.writers == 0:
                cls.saved = sys.getswitchinterval()
                sys.setswitchinterval(min(cls.saved, SWITCH_INTERVAL_S))
            cls.writers += 1

    @classmethod
    def leave(cls) -> None:
        with cls.lock:
            cls.writers -= 1
            if cls.writers == 0:
                sys.setswitchinterval(cls.saved)


class StoreWriter:
    """Runs store writes in order on one thread; their answers are collected in order."""

    def __init__(self, max_waiting: int = 4) -> None:
        self._pool: ThreadPoolExecutor | None = None
        self._room = threading.BoundedSemaphore(max_waiting)
        self._handed: deque[tuple[Future[Any], Callable[[Any], None] | None]] = deque()
        # Each counter is raised by one thread only, so no update is lost between them.
        self._submitted = 0  # by submit(), on the caller's thread
        self._started = 0  # by the writer thread

    @property
    def ready(self) -> bool:
        """No write is waiting for the thread: a batch handed over now starts soon."""
        return self._started >= self._submitted

    def submit(self, write: Callable[..., T], *args: Any,
               then: Callable[[T], None] | None = None) -> None:
        """Hand ``write(*args)`` to the thread; ``then(answer)`` runs in :meth:`collect`."""
        if self._pool is None:
            _SwitchInterval.enter()
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="llmops-store")
        self._room.acquire()
        try:
            future = self._pool.submit(self._run, write, args)
        except BaseException:
            self._room.release()
            raise
        self._submitted += 1
        future.add_done_callback(lambda _: self._room.release())
        self._handed.append((future, then))

    def _run(self, write: Callable[..., T], args: tuple[Any, ...]) -> T:
        self._started += 1
        return write(*args)

    def collect(self) -> None:
        """Pass each finished write's answer on, in order; raise the first write's error."""
        while self._handed and self._handed[0][0].done():
            future, then = self._handed.popleft()
            answer = future.result()  # a failed write stops the run with its own error
            if then is not None:
                then(answer)

    def settle(self) -> None:
        """Wait for every write handed over, then :meth:`collect` them all."""
        wait_for([f for f, _ in self._handed])
        self.collect()

    @property
    def busy(self) -> bool:
        return bool(self._handed)

    def close(self) -> None:
        """Wait for the writes still running; the thread ends."""
        if self._pool is not None:
            try:
                self._pool.shutdown(wait=True)
            finally:
                self._pool = None
                _SwitchInterval.leave()
