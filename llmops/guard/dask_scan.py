"""Scanning on a Dask cluster: ``llmops guard scan ... --dask SCHEDULER_ADDRESS``.

The inputs are planned into the blocks of a local scan (byte ranges of plain files,
Parquet row groups), except that a compressed file is one task, decompressed on the
worker that runs it; stdin (and a web server's file) is read here and its blocks are
sent. Each task is scanned by the local scan's :func:`~llmops.guard.scanner.scan_task`
(so findings are stamped in one place) and sends its findings back as rows. A few tasks
per worker thread are in flight; results are merged in task order by the local scan's
:class:`~llmops.guard.scanner.Merge` (findings spooled to a temporary file), so the
report is the same and the client's memory stays flat.

The workers need llmops installed (the same version) and must be able to read the
inputs: URLs, or local paths on a file system they share with the client.
"""

from __future__ import annotations

import hashlib
import logging
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from llmops.errors import RuntimeFailure, UserError
from llmops.guard.batch import BlockResult
from llmops.guard.engine import Guard, cached_guard
from llmops.guard.inputs import check_sources, open_sources
from llmops.guard.inputs.compressed import whole_file_tasks
from llmops.guard.readers import shape_named
from llmops.guard.result import FileSummary, ScanResult
from llmops.guard.scanner import Merge, ProgressFn, new_result, scan_task
from llmops.guard.sources import SourceError, Task, plan_tasks, read_failure
from llmops.project import GuardConfig

DEFAULT_TIMEOUT = 10.0  # seconds to wait for the scheduler to answer


@dataclass(frozen=True)
class ScanSpec:
    """What every worker needs to build the same detectors as the client."""

    key: str
    checks: tuple[str, ...]
    config_json: str
    baseline: frozenset[str]
    shape: str | None = None  # --format: every record read as this log shape


_GUARDS: dict[str, Guard] = {}  # per worker process: built once per scan configuration


def _guard_of(spec: ScanSpec) -> Guard:
    guard = _GUARDS.get(spec.key)
    if guard is None:
        _GUARDS.clear()
        config = GuardConfig.model_validate_json(spec.config_json)
        guard = _GUARDS[spec.key] = Guard(list(spec.checks), config)
    return guard


def run_task(spec: ScanSpec, task: Task) -> list[BlockResult]:
    """Scan one task on a worker: the blocks it gave, as rows; the last one carries the
    error that stopped its input, if any."""
    guard = _guard_of(spec)
    if task.kind not in ("gzip", "zstd"):
        return [scan_task(task, guard, spec.baseline, spec.shape).pack()]
    blocks: list[BlockResult] = []
    try:
        for part in whole_file_tasks(task):
            blocks.append(scan_task(part, guard, spec.baseline, spec.shape).pack())
    except SourceError as exc:  # a damaged file: the part before the damage was scanned
        blocks.append(BlockResult(error=str(exc)))
    except Exception as exc:  # see sources.readable_lines
        blocks.append(BlockResult(error=read_failure(exc)))
    return blocks


def connect(address: str, timeout: float = DEFAULT_TIMEOUT) -> Any:
    """A Dask client of the scheduler at ``address``.

    Raises:
        UserError: dask is not installed, or the address is not one.
        RuntimeFailure: nothing answered at the address within ``timeout`` seconds.
    """
    try:
        from distributed import Client
    except ImportError:
        raise UserError(
            "--dask needs dask.distributed (pip install 'llmops-prompts[dask]')"
        ) from None
    quiet = logging.getLogger("distributed")
    level = quiet.level
    quiet.setLevel(logging.CRITICAL)  # the failure is said once, below, not in a traceback
    try:
        return Client(address, timeout=timeout, set_as_default=False)  # type: ignore[no-untyped-call]
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
    shape: str | None = None,
    timeout: float = DEFAULT_TIMEOUT,
) -> ScanResult:
    """Scan log inputs on the Dask cluster at ``scheduler``; the result of :func:`scan_files`.

    Raises:
        RuntimeFailure: the scheduler does not answer, or the cluster fails a task for
            good (a task whose worker dies is run again by Dask first).
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    if shape is not None:
        shape_named(shape)
    spec = _spec(guard, frozenset(baseline), shape)
    client = connect(scheduler, timeout)
    try:
        result = new_result(guard, fail_on, spool)
        sources = open_sources(paths)
        result.files = [FileSummary(s.path, error=s.error) for s in sources]
        threads = max(1, sum(client.nthreads().values()))
        merge = Merge(result, progress)
        tasks = plan_tasks(sources, threads, result.set_file_error, whole_files=True)
        blocks = _blocks(client, spec, merge.still_wanted(tasks), 2 * threads + 2, scheduler)
        try:
            for task, block in blocks:
                merge.add(task, block)
        finally:
            blocks.close()  # cancels what is still on the cluster, while the client is up
        check_sources(sources, result)
        return result
    finally:
        client.close()


def _spec(guard: Guard, baseline: frozenset[str], shape: str | None) -> ScanSpec:
    config_json = guard.config.model_dump_json()
    digest = hashlib.sha256(config_json.encode())
    for part in (*guard.checks, "\x00", str(shape), "\x00", *sorted(baseline)):
        digest.update(part.encode() + b"\x00")
    return ScanSpec(digest.hexdigest(), tuple(guard.checks), config_json, baseline, shape)


def _blocks(
    client: Any, spec: ScanSpec, tasks: Iterator[Task], window: int, scheduler: str
) -> Generator[tuple[Task, BlockResult], None, None]:
    """Blocks in task order, at most ``window`` tasks on the cluster at a time."""
    [spec_future] = client.scatter([spec], broadcast=True, hash=False)
    pending: deque[tuple[Task, Any]] = deque()

    def done() -> Iterator[tuple[Task, BlockResult]]:
        task, future = pending.popleft()
        try:
            blocks: list[BlockResult] = future.result()
        except Exception as exc:
            raise RuntimeFailure(
                f"the Dask cluster at {scheduler} failed on {task.path}: "
                f"{type(exc).__name__}: {exc}".replace("\n", " ")
            ) from None
        future.release()
        last = len(blocks) - 1
        for i, block in enumerate(blocks):  # progress once, with the last block
            yield (task if i == last else replace(task, weight=0)), block

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
