"""Scanning on a Dask cluster: ``llmops guard scan ... --dask SCHEDULER_ADDRESS``.

The inputs are planned into the blocks of a local scan (byte ranges of plain files,
Parquet row groups), except that a compressed file is one task, decompressed on the
worker that runs it; stdin (and a web server's file) is read here and its blocks are
sent. A few tasks per worker thread are in flight; results are merged in task order into
the same :class:`~llmops.guard.scanner.ScanResult` as a local scan (findings spooled to
a temporary file), so the report is the same and the client's memory stays flat.

The workers need llmops installed (the same version) and must be able to read the
inputs: URLs, or local paths on a file system they share with the client.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from llmops.errors import RuntimeFailure, UserError
from llmops.guard.engine import Guard, cached_guard
from llmops.guard.inputs import check_sources, describe_failure, open_sources
from llmops.guard.inputs.compressed import whole_file_tasks
from llmops.guard.scanner import (
    BlockResult,
    FileSummary,
    ProgressFn,
    ScanResult,
    _merge,
    scan_block,
)
from llmops.guard.sources import SourceError, Task, block_lines, plan_tasks
from llmops.project import GuardConfig

DEFAULT_TIMEOUT = 10.0  # seconds to wait for the scheduler to answer


@dataclass(frozen=True)
class ScanSpec:
    """What every worker needs to build the same detectors as the client."""

    key: str
    checks: tuple[str, ...]
    config_json: str
    baseline: frozenset[str]


@dataclass
class TaskOutcome:
    """The blocks one task scanned, and the error that stopped its input, if any."""

    blocks: list[BlockResult] = field(default_factory=list)
    error: str | None = None


_GUARDS: dict[str, Guard] = {}  # per worker process: built once per scan configuration


def _guard_of(spec: ScanSpec) -> Guard:
    guard = _GUARDS.get(spec.key)
    if guard is None:
        _GUARDS.clear()
        config = GuardConfig.model_validate_json(spec.config_json)
        guard = _GUARDS[spec.key] = Guard(list(spec.checks), config)
    return guard


def run_task(spec: ScanSpec, task: Task) -> TaskOutcome:
    """Scan one task on a worker."""
    guard = _guard_of(spec)
    out = TaskOutcome()
    try:
        if task.kind in ("gzip", "zstd"):
            for block in whole_file_tasks(task):
                out.blocks.append(scan_block(block_lines(block), guard, spec.baseline))
        else:
            out.blocks.append(scan_block(block_lines(task), guard, spec.baseline))
    except SourceError as exc:
        out.error = str(exc)
    except (OSError, ValueError) as exc:  # ValueError: pyarrow's ArrowInvalid
        out.error = f"read failed on a Dask worker: {describe_failure(exc)}"
    return out


def connect(address: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """A Dask client of the scheduler at ``address``.

    Raises:
        UserError: dask is not installed, or the address is not one.
        RuntimeFailure: nothing answered at the address within ``timeout`` seconds.
    """
    try:
        from distributed import Client
    except ImportError:
        raise UserError("--dask needs dask.distributed (pip install 'llmops[dask]')") from None
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the failure is said once, below, not in a traceback
    try:
        return Client(address, timeout=timeout, set_as_default=False)
    except (OSError, TimeoutError):
        raise RuntimeFailure(
            f"no Dask scheduler answered at {address} within {timeout:g} s"
        ) from None
    except ValueError as exc:
        raise UserError(f"not a Dask scheduler address: {address} ({exc})") from None
    finally:
        quiet.setLevel(level)


def scan_on_dask(
    paths: Iterable[str | Path],
    scheduler: str,
    *,
    checks: Iterable[str] | None = None,
    config: GuardConfig | None = None,
    baseline: Iterable[str] = (),
    fail_on: str | None = None,
    spool: bool = True,
    progress: ProgressFn | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ScanResult:
    """Scan log inputs on the Dask cluster at ``scheduler``; the result of :func:`scan_files`.

    Raises:
        RuntimeFailure: the scheduler does not answer, or the cluster fails a task for
            good (a task whose worker dies is run again by Dask first).
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    known = frozenset(baseline)
    client = connect(scheduler, timeout)
    try:
        result = ScanResult(guard.checks, fail_on or guard.config.fail_on, spool=spool)
        sources = open_sources(paths)
        result.files = [FileSummary(s.path, error=s.error) for s in sources]
        threads = max(1, sum(client.nthreads().values()))
        tasks = plan_tasks(sources, threads, result.set_file_error, whole_files=True)
        spec = _spec(guard, known)
        outcomes = _outcomes(client, spec, tasks, result, 2 * threads + 2, scheduler)
        try:
            _merge(outcomes, result, progress)
        finally:
            outcomes.close()  # cancels what is still on the cluster, while the client is up
        check_sources(sources, result)
        return result
    finally:
        client.close()


def _spec(guard: Guard, baseline: frozenset[str]) -> ScanSpec:
    config_json = guard.config.model_dump_json()
    digest = hashlib.sha256(config_json.encode())
    for part in (*guard.checks, "\x00", *sorted(baseline)):
        digest.update(part.encode() + b"\x00")
    return ScanSpec(digest.hexdigest(), tuple(guard.checks), config_json, baseline)


def _outcomes(
    client: Any, spec: ScanSpec, tasks: Iterator[Task], result: ScanResult, window: int,
    scheduler: str,
) -> Generator[tuple[Task, BlockResult], None, None]:  # fmt: skip
    """Blocks in task order, at most ``window`` tasks on the cluster at a time."""
    [spec_future] = client.scatter([spec], broadcast=True, hash=False)
    pending: deque[tuple[Task, Any]] = deque()

    def done() -> Iterator[tuple[Task, BlockResult]]:
        task, future = pending.popleft()
        try:
            outcome: TaskOutcome = future.result()
        except Exception as exc:
            raise RuntimeFailure(
                f"the Dask cluster at {scheduler} failed on {task.path}: "
                f"{type(exc).__name__}: {exc}".replace("\n", " ")
            ) from None
        future.release()
        last = len(outcome.blocks) - 1
        for i, block in enumerate(outcome.blocks):  # progress once, with the last block
            yield (task if i == last else replace(task, weight=0)), block
        if outcome.error is not None:
            result.set_file_error(task.file_index, outcome.error)

    try:
        for task in tasks:
            pending.append((task, client.submit(run_task, spec_future, task, pure=False)))
            while len(pending) >= window:
                yield from done()
        while pending:
            yield from done()
    finally:
        for _, future in pending:
            future.cancel()
