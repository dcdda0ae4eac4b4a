"""The result of a scan: counts, per-file summaries, bad lines, findings, and its JSON.

Findings can be spooled to a temporary file so that memory stays flat however many
there are; the JSON report streams them back without holding them all.
"""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import orjson

from llmops._files import atomic_open
from llmops.guard.findings import FINDING_FIELDS, Finding, Row, as_row
from llmops.severity import SEVERITIES, at_least

if TYPE_CHECKING:
    from llmops.guard.batch import BlockResult

SCHEMA_VERSION = 1
MAX_BAD_LINES = 1000
SAMPLE_SIZE = 50
_LINE = FINDING_FIELDS.index("line")  # "file" follows it
_VERSION = FINDING_FIELDS.index("prompt_version")
_SUPPRESSED = FINDING_FIELDS.index("suppressed")
MAX_WITHOUT_TEXT = 0.05  # default share of records that may give no text (guard config)


@dataclass
class FileSummary:
    """Per-file counts, and the error that stopped reading it, if any."""

    path: str
    lines: int = 0
    records: int = 0
    bad_records: int = 0
    error: str | None = None
    warning: str | None = None


class ScanResult:
    """Counts, per-file summaries, bad lines and findings of one scan."""

    def __init__(
        self,
        checks: list[str],
        fail_on: str,
        spool: bool = False,
        max_without_text: float = MAX_WITHOUT_TEXT,
    ) -> None:
        self.checks = checks
        self.fail_on = fail_on
        self.max_without_text = max_without_text
        self.records_scanned = 0
        self.bad_records = 0
        self.bad_lines: list[dict[str, Any]] = []
        self.records_without_text = 0
        self.without_text: list[dict[str, Any]] = []
        self.by_shape: dict[str, dict[str, int]] = {}
        self.files: list[FileSummary] = []
        self.counts: dict[str, int] = {}
        self.suppressed_counts: dict[str, int] = {}
        self.by_severity: dict[str, int] = {}
        self.by_prompt_version: dict[str, dict[str, int]] = {}
        self._sample: list[Row] = []
        self._findings: list[Row] | None = None if spool else []
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

    @property
    def too_little_text(self) -> bool:
        """More than ``max_without_text`` of the records gave no text to scan."""
        n = self.records_scanned
        return n > 0 and self.records_without_text > self.max_without_text * n

    @property
    def shapes_without_text(self) -> list[str]:
        """The shapes of which no record at all gave text to scan."""
        return [
            name
            for name, c in sorted(self.by_shape.items())
            if c["records"] and c["records"] == c["records_without_text"]
        ]

    def status(self, passed: str = "ok") -> str:
        """``FAILED``, ``INCOMPLETE`` (an input could not be read, or too many records gave
        no text) or ``passed``."""
        if self.failed():
            return "FAILED"
        return "INCOMPLETE" if self.file_errors or self.too_little_text else passed

    def add_block(self, block: BlockResult, file: str | None = None, base: int = 0) -> None:
        """Merge what one block produced; its lines are made absolute by adding ``base``."""
        from llmops.guard.readers import SHAPES

        self.records_scanned += block.n_records
        for line, reason in block.bad:
            self.add_bad(file, base + line, reason)
        self.bad_records += block.n_bad - len(block.bad)
        for name, (records, without) in block.shapes.items():
            counts = self.by_shape.setdefault(name, {"records": 0, "records_without_text": 0})
            counts["records"] += records
            counts["records_without_text"] += without
            self.records_without_text += without
        for line, record, name in block.no_text:
            if len(self.without_text) < MAX_BAD_LINES:
                where = SHAPES[name].fields if name in SHAPES else "the record"
                self.without_text.append({
                    "file": file, "line": base + line, "record": record, "shape": name,
                    "reason": f"{name} record with no text to scan in {where}",
                })  # fmt: skip
        add = self.add_row
        for row in block.finding_rows():
            add((*row[:_LINE], (row[_LINE] or 0) + base, file, *row[_LINE + 2 :]))

    def add(self, f: Finding) -> None:
        """Count one finding and keep it (in memory or in the spool)."""
        self.add_row(as_row(f))

    def add_row(self, row: Row) -> None:
        """:meth:`add` for a finding given as a row (``findings.FINDING_FIELDS``)."""
        detector, suppressed = row[0], row[_SUPPRESSED]
        if suppressed:
            self.suppressed_counts[detector] = self.suppressed_counts.get(detector, 0) + 1
        else:
            self.counts[detector] = self.counts.get(detector, 0) + 1
            self.by_severity[row[2]] = self.by_severity.get(row[2], 0) + 1
            version = self.by_prompt_version.setdefault(row[_VERSION] or "(none)", {})
            version[detector] = version.get(detector, 0) + 1
            if len(self._sample) < SAMPLE_SIZE:
                self._sample.append(row)
        if self._findings is not None:
            self._findings.append(row)
        elif self._spool is not None:
            self._spool.write(orjson.dumps(row, option=orjson.OPT_APPEND_NEWLINE))

    @property
    def sample(self) -> list[Finding]:
        """The first new (not suppressed) findings, for summaries."""
        return [Finding(*row) for row in self._sample]

    def set_file_error(self, index: int, error: str) -> None:
        """An input whose reading failed part-way (what was read before is kept); the
        first error of a file is the one reported."""
        summary = self.files[index]
        if summary.error is None:
            summary.error = error

    def add_bad(self, file: str | None, line: int, reason: str) -> None:
        self.bad_records += 1
        if len(self.bad_lines) < MAX_BAD_LINES:
            self.bad_lines.append({"file": file, "line": line, "reason": reason})

    @property
    def findings(self) -> list[Finding]:
        """Every finding (read back from the spool when the scan spooled them)."""
        return [Finding(*row) for row in self._rows()]

    def iter_finding_dicts(self) -> Iterator[dict[str, Any]]:
        """The findings as JSON mappings, streamed."""
        for row in self._rows():
            yield dict(zip(FINDING_FIELDS, row, strict=True))

    def _rows(self) -> Iterator[Row]:
        if self._findings is not None:
            yield from self._findings
            return
        assert self._spool is not None
        self._spool.flush()
        self._spool.seek(0)
        for line in self._spool:
            yield tuple(orjson.loads(line))
        self._spool.seek(0, os.SEEK_END)

    def failed(self, fail_on: str | None = None) -> bool:
        """True when a new (not suppressed) finding is at or above the threshold."""
        threshold = fail_on or self.fail_on
        return any(n and at_least(s, threshold) for s, n in self.by_severity.items())

    def summary(self) -> dict[str, Any]:
        """Everything but the findings list."""
        return {
            "schema_version": SCHEMA_VERSION,
            "records_scanned": self.records_scanned,
            "bad_records": self.bad_records,
            "records_without_text": self.records_without_text,
            "max_without_text": self.max_without_text,
            "by_shape": dict(sorted(self.by_shape.items())),
            "counts": dict(sorted(self.counts.items())),
            "suppressed": self.n_suppressed,
            "suppressed_counts": dict(sorted(self.suppressed_counts.items())),
            "by_severity": {s: self.by_severity.get(s, 0) for s in SEVERITIES},
            "by_prompt_version": {
                k: dict(sorted(v.items())) for k, v in sorted(self.by_prompt_version.items())
            },
            "checks": self.checks,
            "fail_on": self.fail_on,
            "failed": self.failed(),
            "files": [asdict(f) for f in self.files],
            "bad_lines": self.bad_lines,
            "without_text": self.without_text,
        }

    def to_json(self) -> dict[str, Any]:
        """The JSON contract of ``guard scan --json`` as one mapping."""
        data = self.summary()
        data["findings"] = list(self.iter_finding_dicts())
        return data

    def write_json(self, path: str | Path) -> None:
        """Write the JSON report, streaming the findings; ``-`` is stdout."""
        write_json_stream(self, path)

    def close(self) -> None:
        if self._spool is not None:
            self._spool.close()


_FINDING_KEYS = (
    "file", "line", "record", "field", "role", "detector", "category", "severity", "start",
    "end", "evidence", "confidence", "fingerprint", "prompt_version", "suppressed",
    "detector_version",
)  # fmt: skip


def _finding_json(d: dict[str, Any]) -> dict[str, Any]:
    return {k: d.get(k) for k in _FINDING_KEYS}


def write_json_stream(result: ScanResult, path: str | Path) -> None:
    """Write the scan's JSON report without holding every finding in memory."""
    head = orjson.dumps(result.summary(), option=orjson.OPT_INDENT_2)
    if str(path) == "-":
        out = sys.stdout.buffer
        _write(out, head, result)
        out.flush()
        return
    with atomic_open(path, "wb") as out:
        _write(out, head, result)


def _write(out: Any, head: bytes, result: ScanResult) -> None:
    out.write(head[:-2])  # drop the closing "\n}"
    out.write(b',\n  "findings": [')
    first = True
    for d in result.iter_finding_dicts():
        out.write(b"\n    " if first else b",\n    ")
        out.write(orjson.dumps(_finding_json(d)))
        first = False
    out.write(b"\n  ]\n}\n" if not first else b"]\n}\n")
