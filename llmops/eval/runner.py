"""The runner: variants × cases × repeats → model outputs and scores in the store.

A fixed pool of worker tasks (the concurrency bound) pulls work from a generator, so
20,000 cases never become 20,000 tasks or 20,000 outputs held in memory. Each finished
call is handed to the store writer (:mod:`llmops.eval.writer`, a thread beside the
event loop) within ``flush_s`` (or every ``flush_rows`` rows, by default the store's
``batch_rows``: a transaction costs more on a server); while the store is busy
with an earlier batch, results gather into a bigger one. What a killed run can lose is
bounded by what was in flight, to the model or to the store; a stopped run (Ctrl-C,
SIGTERM, the time budget) writes everything it was handed before it ends. Outputs are
scored in chunks while the run goes on; a resumed run scores whatever its predecessor
left unscored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from llmops._credentials import mask_credentials
from llmops.errors import LlmopsError, RunStopped, UserError
from llmops.eval.writer import StoreWriter
from llmops.evalsets import Case, EvalSet
from llmops.providers.base import RateLimitExhausted
from llmops.scorers.base import Sample, Score
from llmops.store import ResultRow, ResultsStore, ScoreRow

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.prompts import PromptVersion
    from llmops.providers.base import Provider
    from llmops.scorers.base import Scorer


@dataclass
class Variant:
    """One prompt version as run: its store id, the params sent and its RAG config.

    ``origin`` says where a baseline's prompt came from when not the working tree
    (``git:REF``); the label carries it.
    """

    variant_id: int
    version: PromptVersion
    params: dict[str, Any]
    role: str = "candidate"
    rag: PromptVersion | None = None
    origin: str | None = None

    @property
    def label(self) -> str:
        ref = f"{self.version.name}@{self.version.version}"
        return f"{ref} ({self.origin})" if self.origin else ref


@dataclass
class ScorerSlot:
    """A built scorer and the key its scores are stored under in this run."""

    key: str
    scorer: Scorer


def scorer_slots(scorers: Sequence[Scorer]) -> list[ScorerSlot]:
    """Key each scorer by its name; a name used twice gets ``name#2``, ``name#3``..."""
    slots: list[ScorerSlot] = []
    seen: dict[str, int] = {}
    for s in scorers:
        seen[s.name] = seen.get(s.name, 0) + 1
        key = s.name if seen[s.name] == 1 else f"{s.name}#{seen[s.name]}"
        slots.append(ScorerSlot(key, s))
    return slots


MAX_SCORING_TASKS = 4
MAX_BATCH_ROWS = 2000  # the most results gathered while the store is busy with earlier ones

# Called after each finished call with (variant, ok, cache_hit).
OnResult = Callable[[Variant, bool, bool], None]


@dataclass
class RunStats:
    """What this process did (a resumed run counts only its own calls)."""

    calls: int = 0
    errors: int = 0
    cache_hits: int = 0
    skipped: int = 0
    first_error: str | None = None
    wall_s: float = 0.0


@dataclass(frozen=True)
class TimeBudget:
    """The optional limit on a run's total time (``--max-time``), shared by its suites."""

    seconds: float
    ends: float  # on the time.monotonic() clock

    @classmethod
    def starting_now(cls, seconds: float) -> TimeBudget:
        return cls(seconds, time.monotonic() + seconds)

    def left(self) -> float:
        return max(0.0, self.ends - time.monotonic())

    def spent(self) -> RunStopped:
        """The error that stops a run whose budget ran out."""
        return RunStopped(f"the run's time budget of {self.seconds:g} s (--max-time) ran out; "
                          "stopping the run")


@dataclass
class _Work:
    variant: Variant
    case: Case
    repeat: int
    index: int


@dataclass
class Runner:
    """Runs one suite's variants on an eval set and writes everything to the store."""

    project: Project
    store: ResultsStore
    run_id: str
    provider: Provider
    evalset: EvalSet
    variants: list[Variant]
    slots: list[ScorerSlot]
    repeat: int = 1
    concurrency: int = 8
    query_template: str | None = None
    on_result: OnResult | None = None
    flush_s: float = 0.05
    flush_rows: int | None = None  # None: the store's batch_rows
    score_chunk: int = 256
    budget: TimeBudget | None = None
    stats: RunStats = field(default_factory=RunStats)
    _pending: list[tuple[ResultRow, Sample | None]] = field(default_factory=list)
    _to_score: dict[int, list[tuple[int, Sample]]] = field(default_factory=dict)
    _scoring: set[asyncio.Task[None]] = field(default_factory=set)
    _last_flush: float = 0.0
    _batch_rows: int = 64  # flush_rows, or the store's batch_rows (set when the run starts)
    _rag_lock: asyncio.Lock | None = None
    _score_failures: list[BaseException] = field(default_factory=list)
    _writer: StoreWriter = field(default_factory=StoreWriter)
    _scores: list[ScoreRow] = field(default_factory=list)  # not handed to the writer yet

    async def run(self) -> RunStats:
        """Make every call not already done, score everything, and return the counts.

        Raises:
            RunStopped: the time budget ran out (calls in flight are abandoned; what
                finished is in the store), or the endpoint answered only 429s too long.
        """
        start = time.perf_counter()
        try:
            if self.budget is None:
                await self._run_all()
            else:
                deadline = asyncio.timeout(self.budget.left())
                try:
                    async with deadline:
                        await self._run_all()
                except TimeoutError:
                    if deadline.expired():
                        raise self.budget.spent() from None
                    raise
        finally:
            self._writer.close()  # what was handed over is written before the run ends
        self.stats.wall_s = time.perf_counter() - start
        return self.stats

    async def _run_all(self) -> None:
        done = self.store.done_keys(self.run_id)
        self.stats.skipped = len(done)
        self._last_flush = time.perf_counter()  # the first result waits for company too
        self._batch_rows = self.flush_rows or self.store.batch_rows
        work = self._work(done)
        ticker = asyncio.create_task(self._tick())
        try:
            workers = [asyncio.create_task(self._worker(work)) for _ in range(self.concurrency)]
            try:
                await asyncio.gather(*workers)
            finally:
                for w in workers:
                    w.cancel()
                await asyncio.gather(*workers, return_exceptions=True)
                self._flush(now=True)
                self._write_scores(now=True)
                self._writer.settle()
            for variant_id in list(self._to_score):
                self._start_scoring(variant_id)
            await self._drain_scoring()
            self._write_scores(now=True)
            self._writer.settle()  # the scores, before reading what is still unscored
            await self._score_leftovers()
            self._write_scores(now=True)
            self._writer.settle()
        finally:
            ticker.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await ticker
            for t in self._scoring:
                t.cancel()

    def _work(self, done: set[tuple[int, str, int]]) -> Iterator[_Work]:
        # Cases outermost, so an interrupted run has every variant on the same cases.
        for r in range(self.repeat):
            for i, case in enumerate(self.evalset.cases):
                for v in self.variants:
                    if (v.variant_id, case.id, r) not in done:
                        yield _Work(v, case, r, i)

    async def _worker(self, work: Iterator[_Work]) -> None:
        for item in work:
            row, sample = await self._call(item)
            self._pending.append((row, sample))
            self.stats.calls += 1
            if row.error is not None:
                self.stats.errors += 1
                self.stats.first_error = self.stats.first_error or row.error
            if row.cache_hit:
                self.stats.cache_hits += 1
            if (
                len(self._pending) >= self._batch_rows
                or time.perf_counter() - self._last_flush >= self.flush_s
            ):
                self._flush()
            else:
                self._writer.collect()
            if self.on_result is not None:
                self.on_result(item.variant, row.error is None, row.cache_hit)
            while len(self._scoring) >= MAX_SCORING_TASKS:
                # Scoring slower than the model: wait rather than pile up outputs in memory.
                await asyncio.wait(set(self._scoring), return_when=asyncio.FIRST_COMPLETED)

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.flush_s)
            if self._pending:
                self._flush()

    def _flush(self, *, now: bool = False) -> None:
        """Hand pending results to the writer (one transaction); once written, the
        successful ones are queued for scoring. While an earlier batch still waits for
        the writer, the results gather into a bigger batch instead (unless ``now``)."""
        self._writer.collect()
        self._write_scores()
        if not now and not self._writer.ready and len(self._pending) < MAX_BATCH_ROWS:
            return
        self._last_flush = time.perf_counter()
        if not self._pending:
            return
        pending, self._pending = self._pending, []
        self._writer.submit(self.store.write_results, self.run_id,
                            [_kept(row) for row, _ in pending],
                            then=lambda ids: self._written(ids, pending))

    def _written(self, ids: list[int], pending: list[tuple[ResultRow, Sample | None]]) -> None:
        for result_id, (row, sample) in zip(ids, pending, strict=True):
            if sample is not None and self.slots:
                buf = self._to_score.setdefault(row.variant_id, [])
                buf.append((result_id, sample))
                if len(buf) >= self.score_chunk:
                    self._start_scoring(row.variant_id)

    async def _call(self, item: _Work) -> tuple[ResultRow, Sample | None]:
        from llmops.prompts.render import render_messages

        v, case = item.variant, item.case
        row = ResultRow(v.variant_id, case.id, case.digest, item.repeat, None, None,
                        case_index=item.index)
        try:
            variables: dict[str, Any] = dict(case.vars)
            if v.rag is not None:
                row.retrieved = await self._retrieve(v.rag, case)
                variables["context"] = row.retrieved
            messages = render_messages(v.version, variables)
            params = v.params
            if item.repeat:
                # `_`-keys only enter the cache key: each repeat is a fresh, cached sample.
                params = {**params, "_sample": item.repeat}
            completion = await self.provider.complete(messages, params, case=case)
        except (LlmopsError, Exception) as exc:
            if isinstance(exc, UserError) and not _is_case_error(exc):
                raise
            if isinstance(exc, RateLimitExhausted):
                raise  # every other case would wait as long: stop, keep what is done
            row.error = _describe(exc)
            return row, None
        if completion.contexts is not None:  # what an application target answered from
            row.retrieved = completion.contexts
        # Scored as stored and as a cache hit answers: without the project's credentials.
        row.output = mask_credentials(completion.text)
        row.latency_ms = completion.latency_ms
        row.prompt_tokens = completion.prompt_tokens
        row.completion_tokens = completion.completion_tokens
        row.cache_hit = completion.cached
        return row, Sample(case=case, output=row.output or "", messages=messages,
                           retrieved=row.retrieved)

    async def _retrieve(self, rag: PromptVersion, case: Case) -> list[dict[str, Any]]:
        from llmops import rag as rag_api

        query = retrieval_query(self.query_template, case)
        top_k = rag.rag_config.top_k if rag.rag_config is not None else 4
        if self._rag_lock is None:
            self._rag_lock = asyncio.Lock()
        # One retrieval at a time: the embedder and the Chroma client are shared.
        async with self._rag_lock:
            hits = await asyncio.to_thread(rag_api.retrieve, self.project, rag, query, top_k)
        return [dict(h) if not isinstance(h, dict) else h for h in hits]

    # --- scoring ----------------------------------------------------------------------

    def _start_scoring(self, variant_id: int) -> None:
        batch = self._to_score.pop(variant_id, [])
        if batch:
            task = asyncio.create_task(self._score_batch(batch))
            self._scoring.add(task)
            task.add_done_callback(self._scored)

    def _scored(self, task: asyncio.Task[None]) -> None:
        self._scoring.discard(task)
        if not task.cancelled() and task.exception() is not None:
            self._score_failures.append(task.exception())  # type: ignore[arg-type]

    async def _drain_scoring(self) -> None:
        while self._scoring:
            await asyncio.gather(*list(self._scoring), return_exceptions=True)
        if self._score_failures:
            raise self._score_failures[0]

    async def _score_batch(self, batch: list[tuple[int, Sample]]) -> None:
        samples = [s for _, s in batch]
        results = await asyncio.gather(*(self._score_one(slot, samples) for slot in self.slots))
        rows = [
            ScoreRow(result_id, slot.key, slot.scorer.version, slot.scorer.args,
                     score.value, score.passed, score.error, score.details or None)
            for slot, scores in zip(self.slots, results, strict=True)
            for (result_id, _), score in zip(batch, scores, strict=True)
        ]
        self._scores.extend(_kept_score(r) for r in rows)
        self._write_scores()

    def _write_scores(self, *, now: bool = False) -> None:
        """Hand the scores to the writer; while it is busy, they gather (as results do)."""
        if not self._scores or (not now and not self._writer.ready
                                and len(self._scores) < MAX_BATCH_ROWS):
            return
        scores, self._scores = self._scores, []
        self._writer.submit(self.store.write_scores, scores)

    async def _score_one(self, slot: ScorerSlot, samples: list[Sample]) -> list[Score]:
        try:
            return await slot.scorer.score(samples)
        except UserError:
            raise
        except Exception as exc:
            return [Score.failed(f"scorer {slot.key!r} failed: {_describe(exc)}")] * len(samples)

    async def _score_leftovers(self) -> None:
        """Score results written by an earlier, interrupted process of this run."""
        from llmops.prompts.render import render_messages

        if not self.slots:
            return
        cases = {c.id: c for c in self.evalset.cases}
        keys = [s.key for s in self.slots]
        for v in self.variants:
            for rows in self.store.unscored(v.variant_id, keys, chunk=self.score_chunk):
                batch: list[tuple[int, Sample]] = []
                for r in rows:
                    case = cases.get(r.case_id)
                    if case is None:
                        continue
                    retrieved = r.retrieved
                    variables = dict(case.vars)
                    if retrieved is not None:
                        variables["context"] = retrieved
                    messages = render_messages(v.version, variables)
                    batch.append((r.result_id, Sample(case, r.output or "", messages,
                                                         retrieved)))
                await self._score_batch(batch)


def retrieval_query(template: str | None, case: Case) -> str:
    """The text a RAG variant retrieves with: the suite's ``query`` template, else the question."""
    if template:  # in the prompts' bounded sandbox: llmops.yaml may come from a pull request
        from llmops.prompts.render import render_text

        return render_text(template, dict(case.vars), what="the suite's retrieval query")
    if "question" in case.vars:
        return str(case.vars["question"])
    if len(case.vars) == 1:
        return str(next(iter(case.vars.values())))
    raise UserError(
        f"case {case.id!r}: cannot tell which variable is the retrieval query",
        line=case.line,
        hint="name it `question` or set the suite's `query:` template",
    )


def _is_case_error(exc: UserError) -> bool:
    # A template problem in one case's data is that case's error; other user errors stop the run.
    from llmops.errors import TemplateError

    return isinstance(exc, TemplateError)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, LlmopsError):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"


def _kept(row: ResultRow) -> ResultRow:
    """What the store keeps of a result: no secret. An error (an endpoint may quote the
    request) is masked whole; an output loses the project's key values and URL
    credentials only, and keeps its PII for rescoring and the guardrails scorer."""
    output = mask_credentials(row.output)
    error = None if row.error is None else _redact(row.error)
    if output is row.output and error is row.error:
        return row  # the common case: nothing to mask, no copy
    return replace(row, output=output, error=error)


def _kept_score(row: ScoreRow) -> ScoreRow:
    """What the store keeps of a score: a judge's error or detail may quote its key."""
    details = row.details
    if details:
        text = json.dumps(details, default=str)
        masked = mask_credentials(text)
        if masked != text:
            details = json.loads(masked or "{}")
    error = None if row.error is None else _redact(row.error)
    if details is row.details and error is row.error:
        return row
    return replace(row, error=error, details=details)


def _redact(text: str) -> str | None:
    from llmops.guard.redact import redact  # the detectors load only when there is an error

    return redact(text)
