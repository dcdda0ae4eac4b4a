"""The scan engine: records or files in, findings out, in a stable order.

Files are planned into blocks (:mod:`llmops.guard.sources`); with ``workers > 1`` the
blocks run in a pool of processes, a bounded number in flight, and their results are
merged in block order, so the output is the same whatever the number of workers. Line
numbers are counted per block and made absolute while merging. Findings can be spooled
to a temporary file so that memory stays flat however many there are.
"""

from __future__ import annotations

import multiprocessing
import os
import tempfile
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import orjson

from llmops.guard.engine import Guard, cached_guard
from llmops.guard.findings import SEVERITY_RANK, Finding
from llmops.guard.inputs import check_sources, open_sources
from llmops.guard.readers import UnknownShape, record_of_text, records_of
from llmops.guard.sources import Task, block_lines, plan_tasks
from llmops.project import GuardConfig

SCHEMA_VERSION = 1
MAX_BAD_LINES = 1000
SAMPLE_SIZE = 50


@dataclass(slots=True)
class BlockResult:
    """What one block produced; lines are relative to the block."""

    n_lines: int = 0
    n_records: int = 0
    n_bad: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)


@dataclass
class FileSummary:
    """Per-file counts, and the error that stopped reading it, if any."""

    path: str
    lines: int = 0
    records: int = 0
    bad_records: int = 0
    error: str | None = None
    warning: str | None = None


def _parse_error(line: bytes, exc: Exception) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 (byte {bad.start})"
    return f"not valid JSON: {str(exc).split(':', 1)[0]}"


def scan_object(
    obj: Any, line: int, guard: Guard, baseline: frozenset[str], out: BlockResult
) -> None:
    """Scan one parsed line (or one API record) into ``out``."""
    try:
        records = [record_of_text(obj)] if isinstance(obj, str) else records_of(obj)
    except UnknownShape as exc:
        out.n_bad += 1
        if len(out.bad) < MAX_BAD_LINES:
            out.bad.append((line, str(exc)))
        return
    wants = guard.wants
    for rec in records:
        out.n_records += 1
        texts = [t for t in rec.texts if wants(t[1])]
        for f in guard.detect_many(texts):
            f.record = rec.id
            f.line = line
            f.prompt_version = rec.prompt_version
            f.suppressed = f.fingerprint in baseline
            out.findings.append(f)


BATCH_CHARS = 1 << 20  # text characters prefiltered together in one call
BATCH_RECORDS = 4096


def scan_block(
    lines: Iterable[bytes | None], guard: Guard, baseline: frozenset[str]
) -> BlockResult:
    """Parse and scan a block of JSONL lines; bad lines are counted, never raised.

    The texts of many records are collected and handed to the detectors together
    (:meth:`Guard.detect_texts`), which prefilters them in one pass.
    """
    out = BlockResult()
    loads = orjson.loads
    wants = guard.wants
    items: list[tuple[str, str | None, str]] = []  # the texts of the pending records
    owners: list[int] = []  # for each item, its record's index in ``pending``
    pending: list[tuple[str | None, int, str | None]] = []  # (id, line, prompt_version)
    size = 0

    def flush() -> None:
        found = out.findings
        for i, findings in guard.detect_texts(items, owners):
            rec_id, line, version = pending[owners[i]]
            for f in findings:
                f.record = rec_id
                f.line = line
                f.prompt_version = version
                f.suppressed = f.fingerprint in baseline
                found.append(f)
        items.clear()
        owners.clear()
        pending.clear()

    for rel, line in enumerate(lines, 1):
        out.n_lines = rel
        if line is None:
            reason: str | None = "line longer than 64 MiB, skipped"
        elif not line or line.isspace():
            continue
        else:
            try:
                obj = loads(line)
            except orjson.JSONDecodeError as exc:
                reason = _parse_error(line, exc)
            else:
                try:
                    records = records_of(obj) if not isinstance(obj, str) else [record_of_text(obj)]
                except UnknownShape as exc:
                    reason = str(exc)
                else:
                    for rec in records:
                        out.n_records += 1
                        owner = len(pending)
                        pending.append((rec.id, rel, rec.prompt_version))
                        for t in rec.texts:
                            if wants(t[1]):
                                items.append(t)
                                owners.append(owner)
                                size += len(t[0])
                    if size >= BATCH_CHARS or len(pending) >= BATCH_RECORDS:
                        flush()
                        size = 0
                    continue
        out.n_bad += 1
        if len(out.bad) < MAX_BAD_LINES:
            out.bad.append((rel, reason or "unreadable"))
    if pending:
        flush()
    return out


# --- worker processes ----------------------------------------------------------------

_WORKER: dict[str, Any] = {}


def _init_worker(checks: list[str], config_json: str, baseline: frozenset[str]) -> None:
    _WORKER["guard"] = Guard(checks, GuardConfig.model_validate_json(config_json))
    _WORKER["baseline"] = baseline


def _run_task(task: Task) -> BlockResult:
    return scan_block(block_lines(task), _WORKER["guard"], _WORKER["baseline"])


# --- results -------------------------------------------------------------------------


class ScanResult:
    """Counts, per-file summaries, bad lines and findings of one scan."""

    def __init__(self, checks: list[str], fail_on: str, spool: bool = False) -> None:
        self.checks = checks
        self.fail_on = fail_on
        self.records_scanned = 0
        self.bad_records = 0
        self.bad_lines: list[dict[str, Any]] = []
        self.files: list[FileSummary] = []
        self.counts: dict[str, int] = {}
        self.suppressed_counts: dict[str, int] = {}
        self.by_severity: dict[str, int] = {}
        self.by_prompt_version: dict[str, dict[str, int]] = {}
        self.sample: list[Finding] = []
        self._findings: list[Finding] | None = None if spool else []
        self._spool: BinaryIO | None = tempfile.TemporaryFile() if spool else None  # noqa: SIM115

    @property
    def n_findings(self) -> int:
        return sum(self.counts.values())

    @property
    def n_suppressed(self) -> int:
        return sum(self.suppressed_counts.values())

    @property
    def file_errors(self) -> list[FileSummary]:
        return [f for f in self.files if f.error]

    @property
    def nothing_read(self) -> bool:
        """An input could not be read and not a single line was read from any input."""
        return bool(self.file_errors) and not any(f.lines for f in self.files)

    def status(self, passed: str = "ok") -> str:
        """``FAILED``, ``INCOMPLETE`` (an input could not be read) or ``passed``."""
        if self.failed():
            return "FAILED"
        return "INCOMPLETE" if self.file_errors else passed

    def add(self, f: Finding) -> None:
        """Count one finding and keep it (in memory or in the spool)."""
        if f.suppressed:
            self.suppressed_counts[f.detector] = self.suppressed_counts.get(f.detector, 0) + 1
        else:
            self.counts[f.detector] = self.counts.get(f.detector, 0) + 1
            self.by_severity[f.severity] = self.by_severity.get(f.severity, 0) + 1
            version = self.by_prompt_version.setdefault(f.prompt_version or "(none)", {})
            version[f.detector] = version.get(f.detector, 0) + 1
        if len(self.sample) < SAMPLE_SIZE and not f.suppressed:
            self.sample.append(f)
        if self._findings is not None:
            self._findings.append(f)
        elif self._spool is not None:
            # orjson writes a dataclass as the mapping of its fields, as to_dict() does
            self._spool.write(orjson.dumps(f, option=orjson.OPT_APPEND_NEWLINE))

    def set_file_error(self, index: int, error: str) -> None:
        """An input whose reading failed part-way (what was read before is kept)."""
        self.files[index].error = error

    def add_bad(self, file: str | None, line: int, reason: str) -> None:
        self.bad_records += 1
        if len(self.bad_lines) < MAX_BAD_LINES:
            self.bad_lines.append({"file": file, "line": line, "reason": reason})

    @property
    def findings(self) -> list[Finding]:
        """Every finding (read back from the spool when the scan spooled them)."""
        if self._findings is not None:
            return self._findings
        return [Finding(**d) for d in self.iter_finding_dicts()]

    def iter_finding_dicts(self) -> Iterator[dict[str, Any]]:
        """The findings as JSON mappings, streamed."""
        if self._findings is not None:
            yield from (f.to_dict() for f in self._findings)
            return
        assert self._spool is not None
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            yield orjson.loads(line)
        self._spool.seek(0, os.SEEK_END)

    def failed(self, fail_on: str | None = None) -> bool:
        """True when a new (not suppressed) finding is at or above the threshold."""
        threshold = SEVERITY_RANK[fail_on or self.fail_on]
        return any(SEVERITY_RANK[s] >= threshold and n for s, n in self.by_severity.items())

    def summary(self) -> dict[str, Any]:
        """Everything but the findings list."""
        return {
            "schema_version": SCHEMA_VERSION,
            "records_scanned": self.records_scanned,
            "bad_records": self.bad_records,
            "counts": dict(sorted(self.counts.items())),
            "suppressed": self.n_suppressed,
            "suppressed_counts": dict(sorted(self.suppressed_counts.items())),
            "by_severity": {s: self.by_severity.get(s, 0) for s in SEVERITY_RANK},
            "by_prompt_version": {
                k: dict(sorted(v.items())) for k, v in sorted(self.by_prompt_version.items())
            },
            "checks": self.checks,
            "fail_on": self.fail_on,
            "failed": self.failed(),
            "files": [vars(f) for f in self.files],
            "bad_lines": self.bad_lines,
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``guard scan --json`` as one mapping."""
        data = self.summary()
        data["findings"] = list(self.iter_finding_dicts())
        return data

    def write_json(self, path: str | Path) -> None:
        """Write the JSON report, streaming the findings; ``-`` is stdout."""
        from llmops.guard.report import write_json_stream

        write_json_stream(self, path)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


# --- entry points --------------------------------------------------------------------


def scan(
    records: Iterable[Any],
    *,
    checks: Iterable[str] | None = None,
    config: GuardConfig | None = None,
    baseline: Iterable[str] = (),
    fail_on: str | None = None,
) -> ScanResult:
    """Scan an iterable of records (dicts in any of the four log shapes, or strings).

    ``line`` in each finding is the record's 1-based position in the iterable.
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    known = frozenset(baseline)
    result = ScanResult(guard.checks, fail_on or guard.config.fail_on)
    for i, obj in enumerate(records, 1):
        block = BlockResult()
        scan_object(obj, i, guard, known, block)
        result.records_scanned += block.n_records
        for line, reason in block.bad:
            result.add_bad(None, line, reason)
        for f in block.findings:
            result.add(f)
    return result


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
) -> ScanResult:
    """Scan log files; unreadable inputs are reported in ``result.files``.

    ``paths`` may be files (JSONL, gzip, zstd, Parquet), directories, globs, ``-``
    (stdin) and fsspec URLs (:mod:`llmops.guard.inputs`).
    """
    guard = cached_guard(list(checks) if checks is not None else None, config)
    known = frozenset(baseline)
    result = ScanResult(guard.checks, fail_on or guard.config.fail_on, spool=spool)
    # inputs: paths, directories, globs, '-', URLs (llmops.guard.inputs)
    sources = open_sources(paths)
    result.files = [FileSummary(s.path, error=s.error) for s in sources]
    tasks = plan_tasks(sources, max(1, workers), result.set_file_error)
    if workers <= 1:
        blocks: Iterator[tuple[Task, BlockResult]] = (
            (t, scan_block(block_lines(t), guard, known)) for t in tasks
        )
        _merge(blocks, result, progress)
    else:
        fork = os.name == "posix"
        if fork:  # the workers inherit the compiled detectors instead of rebuilding them
            _WORKER["guard"], _WORKER["baseline"] = guard, known
            pool = ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("fork"))
        else:
            pool = ProcessPoolExecutor(
                workers,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(guard.checks, guard.config.model_dump_json(), known),
            )
        with pool:
            _merge(_ordered(pool, tasks, workers * 2), result, progress)
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


def _merge(
    blocks: Iterator[tuple[Task, BlockResult]], result: ScanResult, progress: ProgressFn | None
) -> None:
    for task, block in blocks:
        summary = result.files[task.file_index]
        base = summary.lines
        summary.lines += block.n_lines
        summary.records += block.n_records
        summary.bad_records += block.n_bad
        result.records_scanned += block.n_records
        for line, reason in block.bad:
            result.add_bad(summary.path, base + line, reason)
        result.bad_records += block.n_bad - len(block.bad)
        for f in block.findings:
            f.line = (f.line or 0) + base
            f.file = summary.path
            result.add(f)
        if progress is not None:
            progress(task.weight)
