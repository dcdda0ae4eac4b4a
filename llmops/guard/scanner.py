"""The scan engine: records or files in, findings out, in a stable order.

Files are planned into blocks (:mod:`llmops.guard.sources`); each block is scanned by
:func:`llmops.guard.batch.scan_block`. With ``workers > 1`` the blocks run in a pool of
processes, a bounded number in flight, and their results are merged in block order, so
the output is the same whatever the number of workers. Line numbers are counted per
block and made absolute while merging.
"""

from __future__ import annotations

import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from llmops.guard.batch import BlockResult, scan_block, scan_values
from llmops.guard.engine import Guard, cached_guard
from llmops.guard.readers import shape_named
from llmops.guard.result import FileSummary, ScanResult
from llmops.guard.sources import (
    Source,
    SourceError,
    Task,
    block_lines,
    gzip_tasks,
    open_source,
    plain_tasks,
)
from llmops.project import GuardConfig

__all__ = ["ScanResult", "scan", "scan_files"]

# --- worker processes ----------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(
    checks: list[str], config_json: str, baseline: frozenset[str], shape: str | None = None
) -> None:
    _WORKER["guard"] = Guard(checks, GuardConfig.model_validate_json(config_json))
    _WORKER["baseline"] = baseline
    _WORKER["shape"] = shape


def _run_task(task: Task) -> BlockResult:
    block = scan_block(block_lines(task), _WORKER["guard"], _WORKER["baseline"], _WORKER["shape"])
    return block.pack()


# --- entry points --------------------------------------------------------------------


def scan(
    records: Iterable[Any],
    *,
    checks: Iterable[str] | None = None,
    config: GuardConfig | None = None,
    baseline: Iterable[str] = (),
    fail_on: str | None = None,
    shape: str | None = None,
) -> ScanResult:
    """Scan an iterable of records (dicts in any known log shape, or strings).

    ``line`` in each finding is the record's 1-based position in the iterable; ``shape``
    reads every record as that shape instead of detecting it.
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    if shape is not None:
        shape_named(shape)
    result = _result(guard)
    result.add_block(scan_values(records, guard, frozenset(baseline), shape))
    return result


def _result(guard: Guard, fail_on: str | None = None, spool: bool = False) -> ScanResult:
    config = guard.config
    return ScanResult(guard.checks, fail_on or config.fail_on, spool, config.max_without_text)


ProgressFn = Callable[[int], None]


def scan_files(
    paths: Iterable[str | Path],
    *,
    checks: Iterable[str] | None = None,
    config: GuardConfig | None = None,
    workers: int = 1,
    baseline: Iterable[str] = (),
    fail_on: str | None = None,
    spool: bool = False,
    progress: ProgressFn | None = None,
    shape: str | None = None,
) -> ScanResult:
    """Scan JSONL / JSONL.gz log files; unreadable files are reported in ``result.files``.

    ``shape`` reads every record as that log shape instead of detecting it.
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    if shape is not None:
        shape_named(shape)
    known = frozenset(baseline)
    result = _result(guard, fail_on, spool)
    sources = [open_source(p) for p in paths]
    result.files = [FileSummary(str(s.path), error=s.error) for s in sources]
    tasks = _tasks(sources, result, max(1, workers))
    if workers <= 1:
        blocks: Iterator[tuple[Task, BlockResult]] = (
            (t, scan_block(block_lines(t), guard, known, shape)) for t in tasks
        )
        _merge(blocks, result, progress)
    else:
        fork = os.name == "posix"
        if fork:  # the workers inherit the compiled detectors instead of rebuilding them
            _WORKER.update(guard=guard, baseline=known, shape=shape)
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        else:
            pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(guard.checks, guard.config.model_dump_json(), known, shape),
            )
        with pool:
            _merge(_ordered(pool, tasks, workers * 2), result, progress)
        _WORKER.clear()
    for summary in result.files:
        if summary.error is None and summary.lines == 0:
            summary.warning = "empty file (no records)"
    return result


def _tasks(sources: list[Source], result: ScanResult, workers: int) -> Iterator[Task]:
    for index, source in enumerate(sources):
        if source.error:
            continue
        if not source.gzip:
            yield from plain_tasks(index, source, workers)
            continue
        try:
            yield from gzip_tasks(index, source)
        except SourceError as exc:
            result.files[index].error = str(exc)


def _ordered(
    pool: ProcessPoolExecutor, tasks: Iterator[Task], window: int
) -> Iterator[tuple[Task, BlockResult]]:
    pending: deque[tuple[Task, Future[BlockResult]]] = deque()
    for task in tasks:
        pending.append((task, pool.submit(_run_task, task)))
        while len(pending) >= window:
            done, future = pending.popleft()
            yield done, future.result()
    while pending:
        done, future = pending.popleft()
        yield done, future.result()


def _merge(
    blocks: Iterator[tuple[Task, BlockResult]], result: ScanResult, progress: ProgressFn | None
) -> None:
    for task, block in blocks:
        summary = result.files[task.file_index]
        base = summary.lines
        summary.lines += block.n_lines
        summary.records += block.n_records
        summary.bad_records += block.n_bad
        result.add_block(block, summary.path, base)
        if progress is not None:
            progress(task.weight)
