"""How an evaluation runs: one options object shared by the CLI, the API and the preflight."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from llmops.errors import UserError

if TYPE_CHECKING:
    from llmops.providers.base import RateStatus


@dataclass(frozen=True)
class EvalOptions:
    """Every choice a run takes besides the project and the suite.

    Attributes:
        prompts: candidate versions (``NAME@REF``); default: the suite's prompt at
            ``production`` plus every version changed or not locked.
        baseline: what candidates are compared with (default ``production``): a label or
            version of the suite's prompt, ``NAME@REF``, ``git:REF[:LABEL_OR_VERSION]``
            (the prompt as it was at a git ref) or ``run:RUN_ID[:VERSION]`` (a stored
            run's results, compared without calling the model again).
        repeat: calls per case and variant.
        concurrency: calls in flight at once (default: the provider's max_concurrency).
        no_cache: do not answer from the response cache (stored baseline results are
            still reused; see ``reuse``).
        resume: finish this interrupted run instead of starting a new one.
        report_dir: where ``<run_id>/`` reports go (default the project's reports dir).
        formats: report formats (see :data:`llmops.reports.FORMATS`); None for the
            default ones, empty for none.
        require_fresh: a stale RAG index is a failure (exit 1) instead of a warning.
        reuse: copy the baseline's results from a stored run that evaluated the same
            prompt digest on the same eval set with the same model, params and endpoint,
            instead of calling the model for it again.
        summary_chars: the most characters ``summary.md`` may have (GitHub's comment
            limit); several suites evaluated together share it, so their summaries
            joined make one comment. Failing cases are left out first, never the
            verdict table.
        max_time_s: the run's time budget in seconds, counted from the start of the
            evaluation (all suites together); when it runs out, calls in flight are
            abandoned, finished results stay in the store and :class:`RunStopped` says
            how to ``resume``. None: no limit.
    """

    prompts: tuple[str, ...] = ()
    baseline: str | None = None
    repeat: int = 1
    concurrency: int | None = None
    no_cache: bool = False
    resume: str | None = None
    report_dir: Path | None = None
    formats: tuple[str, ...] | None = None
    require_fresh: bool = False
    reuse: bool = True
    summary_chars: int = 65_536
    max_time_s: float | None = None

    def __post_init__(self) -> None:
        # Accept any sequence (lists from callers, tuples here) and a str path.
        object.__setattr__(self, "prompts", tuple(self.prompts))
        if self.formats is not None:
            object.__setattr__(self, "formats", tuple(self.formats))
        if self.report_dir is not None and not isinstance(self.report_dir, Path):
            object.__setattr__(self, "report_dir", Path(self.report_dir))

    def checked(self) -> EvalOptions:
        """The options with their numbers checked and report formats normalised.

        Raises:
            UserError: a repeat or concurrency below 1, an unknown report format.
        """
        if self.repeat < 1:
            raise UserError("--repeat must be at least 1")
        if self.concurrency is not None and self.concurrency < 1:
            raise UserError("--concurrency must be at least 1")
        if self.max_time_s is not None and not self.max_time_s > 0:
            raise UserError("--max-time must be a number of seconds above 0")
        from llmops.reports import default_formats, normalise_formats

        formats = default_formats() if self.formats is None else self.formats
        return replace(self, formats=tuple(normalise_formats(formats)))

    def but(self, **changes: Any) -> EvalOptions:
        """A copy with ``changes`` applied (``dataclasses.replace``)."""
        return replace(self, **changes)


def parse_formats(text: str) -> tuple[str, ...]:
    """``--format`` as typed: a comma-separated list, or ``none``."""
    if text.strip().lower() == "none":
        return ()
    return tuple(f for f in (part.strip() for part in text.split(",")) if f)



class Progress(Protocol):
    """Receives a run's progress; the CLI draws it (a rich bar, or plain lines in CI)."""

    def start(self, suite: str, run_id: str, total: int, done: int) -> None: ...

    def advance(self, variant: str, ok: bool, cached: bool) -> None: ...

    def finish(self) -> None: ...

    def warn(self, message: str) -> None: ...

    def judged(self, scorer: str, ok: bool) -> None:
        """A judge (the ``rubric`` scorer) scored one output; ``ok``: it gave a score."""
        ...

    def watch(self, rate_status: Callable[[], RateStatus | None]) -> None:
        """Where to read the endpoint's concurrency and 429 count while the run goes."""
        ...
