"""Load what a run needs after its last call while the calls are still in flight.

A run's calls mostly wait: on the endpoint, and at a rate limit on the limiter. What
comes after the last answer (the statistics with numpy, the masking detectors that
every shown output goes through, the report writers) costs about half a second to
load. Loaded on a background thread while the calls wait, it is ready when they end,
instead of being added to the wall time after them. Nothing here is needed before the
first call, so none of it delays that either.

Loading is only loading: a failure here is ignored, and the same import or build fails
again, where it is needed, with its own error.
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Iterable

_AFTER_THE_CALLS = (
    "llmops.eval.result",
    "llmops.eval.stats",
    "llmops.scorers.agreement",
)


class AfterTheCalls:
    """Loads the after-the-calls modules and the writers of report ``formats`` once started.

    :meth:`start` is called on each answer: the first one starts the loading, so it
    never competes with getting the first request out.
    """

    def __init__(self, formats: Iterable[str] = ()) -> None:
        self._modules = [*_AFTER_THE_CALLS, *formats]
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=_load, args=(self._modules,),
                                            name="llmops-warmup", daemon=True)
            self._thread.start()

    def join(self) -> None:
        """Wait for the loading to end (at once when the calls took longer)."""
        if self._thread is not None:
            self._thread.join()


def _load(modules: list[str]) -> None:
    for module in modules:
        try:
            if "." not in module:  # a report format's name
                from llmops.reports import FORMATS

                module = FORMATS[module].module
            importlib.import_module(module)
        except Exception:  # only loading early: the real import reports the error
            continue
    try:
        from llmops.guard.engine import cached_guard
        from llmops.guard.redact import REDACT_CHECKS

        cached_guard(list(REDACT_CHECKS), None)
    except Exception:  # built again, with its error, where needed
        pass
