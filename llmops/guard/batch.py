"""Records to findings: the texts of many records scanned together, each finding stamped.

Every scan path (JSONL lines, records given to the Python API, DataFrame cells) hands
its records to a :class:`Batch`. The batch collects the texts of about 1 MB of records,
gives them to the detectors in one call (:meth:`Guard.detect_texts`, which prefilters
them in one pass) and stamps each finding with the record it came from in one place,
:func:`stamp`. Line numbers are relative to the block being scanned; the scanner makes
them absolute when it merges blocks.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Final

import orjson

from llmops.guard.engine import Guard
from llmops.guard.findings import Finding, Row, as_row
from llmops.guard.readers import Record, UnknownShape, record_of_text, records_of
from llmops.guard.result import MAX_BAD_LINES

BATCH_CHARS: Final = 1 << 20  # text characters prefiltered together in one call
BATCH_RECORDS: Final = 4096

# Where a record was found: its own id, its line, its prompt version.
Origin = tuple[str | None, int, str | None]


@dataclass(slots=True)
class BlockResult:
    """What one block produced; lines are relative to the block."""

    n_lines: int = 0
    n_records: int = 0
    n_bad: int = 0
    bad: list[tuple[int, str]] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    rows: list[Row] | None = None  # the findings as rows, once packed for another process
    shapes: dict[str, list[int]] = field(default_factory=dict)  # [records, without text]
    no_text: list[tuple[int, str | None, str]] = field(default_factory=list)  # line, id, shape
    error: str | None = None  # why reading stopped before the end of the block

    def add_bad(self, line: int, reason: str) -> None:
        """Count a line that could not be scanned; the first ``MAX_BAD_LINES`` are kept."""
        self.n_bad += 1
        if len(self.bad) < MAX_BAD_LINES:
            self.bad.append((line, reason))

    def pack(self) -> BlockResult:
        """The findings as rows: what a worker process sends back (cheap to pickle)."""
        self.rows = [as_row(f) for f in self.findings]
        self.findings = []
        return self

    def finding_rows(self) -> list[Row]:
        return self.rows if self.rows is not None else [as_row(f) for f in self.findings]

    def count(self, rec: Record, line: int) -> None:
        """Count a record by its shape, and list it when it held no text to scan."""
        counts = self.shapes.get(rec.shape)
        if counts is None:
            counts = self.shapes[rec.shape] = [0, 0]
        counts[0] += 1
        if not rec.texts:
            counts[1] += 1
            if len(self.no_text) < MAX_BAD_LINES:
                self.no_text.append((line, rec.id, rec.shape))


def stamp(f: Finding, origin: Origin, baseline: frozenset[str]) -> None:
    """Mark ``f`` with the record it was found in and whether the baseline knows it."""
    f.record, f.line, f.prompt_version = origin
    f.suppressed = f.fingerprint in baseline


class Batch:
    """Records waiting to be scanned together; findings go to ``out.findings``."""

    def __init__(
        self,
        guard: Guard,
        baseline: frozenset[str],
        out: BlockResult,
        shape: str | None = None,
        batch_chars: int = BATCH_CHARS,
    ) -> None:
        self.guard = guard
        self.baseline = baseline
        self.out = out
        self.shape = shape  # read every record as this shape instead of detecting it
        self._wants = guard.wants
        self._items: list[tuple[str, str | None, str]] = []  # texts of the pending records
        self._owners: list[int] = []  # for each text, its record's index in _origins
        self._origins: list[Origin] = []
        self._size = 0
        self._batch_chars = batch_chars

    def add_value(self, value: Any, line: int) -> str | None:
        """Add the records of one parsed line (or one API value); the reason it is not a
        record of a known shape, or None."""
        try:
            if isinstance(value, str):
                records = [record_of_text(value)]
            else:
                records = records_of(value, self.shape)
        except UnknownShape as exc:
            return str(exc)
        for rec in records:
            self.add(rec, line)
        return None

    def add(self, rec: Record, line: int) -> None:
        """Add one record found at ``line``; flushes when the batch is full."""
        self.out.n_records += 1
        self.out.count(rec, line)
        owner = len(self._origins)
        self._origins.append((rec.id, line, rec.prompt_version))
        wants = self._wants
        for t in rec.texts:
            if wants(t[1]):
                self._items.append(t)
                self._owners.append(owner)
                self._size += len(t[0])
        if self._size >= self._batch_chars or len(self._origins) >= BATCH_RECORDS:
            self.flush()

    def flush(self) -> None:
        """Scan the pending texts and stamp their findings."""
        if not self._origins:
            return
        found, origins, baseline = self.out.findings, self._origins, self.baseline
        owners = self._owners
        for i, findings in self.guard.detect_texts(self._items, owners):
            origin = origins[owners[i]]
            for f in findings:
                stamp(f, origin, baseline)
                found.append(f)
        self._items.clear()
        self._owners.clear()
        self._origins.clear()
        self._size = 0


def _parse_error(line: bytes, exc: Exception) -> str:
    try:
        line.decode("utf-8")
    except UnicodeDecodeError as bad:
        return f"invalid UTF-8 (byte {bad.start})"
    return f"not valid JSON: {str(exc).split(':', 1)[0]}"


def scan_block(
    lines: Iterable[bytes | None],
    guard: Guard,
    baseline: frozenset[str],
    shape: str | None = None,
) -> BlockResult:
    """Parse and scan a block of JSONL lines; bad lines are counted, never raised.

    ``None`` stands for a line that was too long to read; ``shape`` forces the log shape.
    """
    out = BlockResult()
    batch = Batch(guard, baseline, out, shape)
    loads = orjson.loads
    for rel, line in enumerate(lines, 1):
        out.n_lines = rel
        if line is None:
            reason = "line longer than 64 MiB, skipped"
        elif not line or line.isspace():
            continue
        else:
            try:
                value = loads(line)
            except orjson.JSONDecodeError as exc:
                reason = _parse_error(line, exc)
            else:
                unknown = batch.add_value(value, rel)
                if unknown is None:
                    continue
                reason = unknown
        out.add_bad(rel, reason)
    batch.flush()
    return out


def scan_values(
    values: Iterable[Any], guard: Guard, baseline: frozenset[str], shape: str | None = None
) -> BlockResult:
    """Scan already-parsed values (records or strings); ``line`` is the 1-based position."""
    out = BlockResult()
    batch = Batch(guard, baseline, out, shape)
    for i, value in enumerate(values, 1):
        out.n_lines = i
        reason = batch.add_value(value, i)
        if reason is not None:
            out.add_bad(i, reason)
    batch.flush()
    return out
