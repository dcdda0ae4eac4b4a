"""The scan engine: records or files in, findings out, in a stable order.

Inputs are found by :mod:`llmops.guard.inputs` and planned into blocks
(:mod:`llmops.guard.sources`); each block is scanned by :func:`scan_task`, which stamps
its findings through :mod:`llmops.guard.batch`. With ``workers > 1`` the blocks run in a
pool of processes, a bounded number in flight, and their results are merged in block
order (:class:`Merge`, shared with the Dask engine), so the output is the same whatever
the number of workers. Line numbers are counted per block and made absolute while
merging.
"""

from __future__ import annotations

import gc
import multiprocessing
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

from llmops.guard.batch import BlockResult, scan_block, scan_values
from llmops.guard.engine import Guard, cached_guard
from llmops.guard.inputs import check_sources, open_sources
from llmops.guard.readers import shape_named
from llmops.guard.result import FileSummary, ScanResult
from llmops.guard.sources import Task, plan_tasks, readable_lines
from llmops.project import GuardConfig

__all__ = ["ScanResult", "scan", "scan_files"]

ProgressFn = Callable[[int], None]


def scan_task(
    task: Task, guard: Guard, baseline: frozenset[str], shape: str | None = None
) -> BlockResult:
    """Scan the lines of one task. A failure to read them (a network error part-way
    through a URL, a damaged row group) ends the block; it is the block's ``error``."""
    failures: list[str] = []
    block = scan_block(readable_lines(task, failures), guard, baseline, shape)
    block.error = failures[0] if failures else None
    return block


class Merge:
    """Blocks merged into a result in task order, by the local and the Dask engines.

    Once reading a file failed, its later blocks are not merged (their line numbers
    would be wrong) and its tasks not yet started are dropped: the file's error says
    where its scan stopped, and the blocks before it are kept.
    """

    def __init__(self, result: ScanResult, progress: ProgressFn | None = None) -> None:
        self.result = result
        self.progress = progress
        self.stopped: set[int] = set()  # files whose reading failed part-way

    def still_wanted(self, tasks: Iterable[Task]) -> Iterator[Task]:
        """``tasks`` but those of files whose reading already failed."""
        return (t for t in tasks if t.file_index not in self.stopped)

    def add(self, task: Task, block: BlockResult) -> None:
        index = task.file_index
        if index not in self.stopped:
            summary = self.result.files[index]
            base = summary.lines
            summary.lines += block.n_lines
            summary.records += block.n_records
            summary.bad_records += block.n_bad
            self.result.add_block(block, summary.path, base)
            if block.error is not None:
                self.stopped.add(index)
                self.result.set_file_error(index, block.error)
        if self.progress is not None:
            self.progress(task.weight)


# --- worker processes ----------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(
    checks: list[str], config_json: str, baseline: frozenset[str], shape: str | None = None
) -> None:
    _WORKER["guard"] = Guard(checks, GuardConfig.model_validate_json(config_json))
    _WORKER["baseline"] = baseline
    _WORKER["shape"] = shape


def _run_task(task: Task) -> BlockResult:
    return scan_task(task, _WORKER["guard"], _WORKER["baseline"], _WORKER["shape"]).pack()


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
    result = new_result(guard, fail_on)
    result.add_block(scan_values(records, guard, frozenset(baseline), shape))
    return result


def new_result(guard: Guard, fail_on: str | None = None, spool: bool = False) -> ScanResult:
    """An empty result for a scan with ``guard``'s checks and configuration."""
    config = guard.config
    return ScanResult(guard.checks, fail_on or config.fail_on, spool, config.max_without_text)


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
    """Scan log files; inputs that cannot be read are reported in ``result.files``.

    ``paths`` may be files (JSONL, gzip, zstd, Parquet), directories, globs, ``-``
    (stdin) and fsspec URLs (:mod:`llmops.guard.inputs`); ``shape`` reads every record
    as that log shape instead of detecting it.
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    if shape is not None:
        shape_named(shape)
    known = frozenset(baseline)
    result = new_result(guard, fail_on, spool)
    sources = open_sources(paths)
    result.files = [FileSummary(s.path, error=s.error) for s in sources]
    merge = Merge(result, progress)
    tasks = merge.still_wanted(plan_tasks(sources, max(1, workers), result.set_file_error))
    if workers <= 1:
        for task in tasks:
            merge.add(task, scan_task(task, guard, known, shape))
    else:
        fork = os.name == "posix"
        if fork:  # the workers inherit the compiled detectors instead of rebuilding them
            _WORKER.update(guard=guard, baseline=known, shape=shape)
            # gc.freeze in each worker: the collector then leaves the inherited objects
            # alone, instead of walking (and so copying) the parent's pages.
            pool = ProcessPoolExecutor(
                workers, mp_context=multiprocessing.get_context("fork"), initializer=gc.freeze
            )
        else:
            pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(guard.checks, guard.config.model_dump_json(), known, shape),
            )
        with pool:
            for task, block in _ordered(pool, tasks, workers * 2):
                merge.add(task, block)
        _WORKER.clear()
    check_sources(sources, result)
    return result


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
