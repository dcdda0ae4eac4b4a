"""An eval set of recorded answers, sampled from production logs.

Every log shape ``llmops guard scan`` reads (OpenAI chat, batch and Responses records,
Anthropic messages, Langfuse, LangSmith, OpenInference and OpenTelemetry spans, simple
records) is read through the guard's log readers. A record becomes a case when it has a
user message and an answer to it (see :func:`_pair`): the last user message is
``vars.input``, the answer ``output``. Cases are drawn by reservoir sampling (seeded, so
the same logs and seed give the same cases) and written in the order they appear in the
logs. PII and secrets are masked in what is written unless ``keep_pii``; the project's
key values and URL credentials are masked always.
"""

from __future__ import annotations

import gzip
import io
import json
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from llmops.errors import LogFormatError, UserError

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


@dataclass
class LogCase:
    """One sampled record, where it came from, and the case it becomes."""

    file: str
    line: int
    id: str
    input: str
    output: str
    prompt_version: str | None = None

    def as_case(self, keep_pii: bool) -> dict[str, Any]:
        from llmops._credentials import mask_credentials
        from llmops.guard import redact

        # Keys and URL credentials are masked even with keep_pii: they are no test data.
        mask = mask_credentials if keep_pii else redact
        case: dict[str, Any] = {"id": self.id, "vars": {"input": mask(self.input)},
                                "output": mask(self.output)}
        if self.prompt_version:
            case["tags"] = [f"prompt_version:{self.prompt_version}"]
        return case


@dataclass
class FromLogsReport:
    """What was read, what was kept and what was skipped."""

    files: int = 0
    lines: int = 0
    records: int = 0
    usable: int = 0  # records with both a user message and an answer
    without_pair: int = 0
    bad_lines: int = 0
    first_bad: str | None = None  # "file:line: why"
    cases: list[LogCase] = field(default_factory=list)


def sample_logs(paths: Iterable[str | Path], n: int, seed: int = 0) -> FromLogsReport:
    """Up to ``n`` cases drawn uniformly from the usable records of ``paths``.

    Raises:
        LogFormatError: a path is missing or unreadable.
        UserError: ``n`` is below 1.
    """
    if n < 1:
        raise UserError("--sample must be at least 1")
    rng = random.Random(seed)
    report = FromLogsReport()
    reservoir: list[tuple[int, LogCase]] = []
    for path in paths:
        report.files += 1
        for case in _cases_in(Path(path), report):
            report.usable += 1
            item = (report.usable, case)
            if len(reservoir) < n:
                reservoir.append(item)
            else:
                j = rng.randrange(report.usable)
                if j < n:
                    reservoir[j] = item
    report.cases = [case for _, case in sorted(reservoir, key=lambda item: item[0])]
    _unique_ids(report.cases)
    return report


def write_cases(report: FromLogsReport, out: str | Path, *, keep_pii: bool = False) -> None:
    """Write the sampled cases as an eval set (JSONL), atomically."""
    from llmops._files import write_atomic

    lines = [json.dumps(c.as_case(keep_pii), ensure_ascii=False) for c in report.cases]
    write_atomic(Path(out), "".join(line + "\n" for line in lines))


def _cases_in(path: Path, report: FromLogsReport) -> Iterator[LogCase]:
    from llmops.guard.readers import UnknownShape, records_of

    for number, raw in _lines(path):
        report.lines += 1
        if not raw.strip():
            continue
        try:
            records = records_of(json.loads(raw))
        except (ValueError, UnknownShape, RecursionError) as exc:
            report.bad_lines += 1
            if report.first_bad is None:
                why = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
                report.first_bad = f"{path}:{number}: {why}"
            continue
        for k, record in enumerate(records):
            report.records += 1
            pair = _pair(record.texts)
            if pair is None:
                report.without_pair += 1
                continue
            suffix = f"#{k}" if len(records) > 1 else ""
            cid = record.id or f"{path.name}:{number}{suffix}"
            yield LogCase(str(path), number, cid, pair[0], pair[1], record.prompt_version)


def _pair(texts: list[tuple[str, str | None, str]]) -> tuple[str, str] | None:
    """The last user message and the answer to it.

    The answer is the first assistant text after the last user message and after any
    tool results that follow it: an agent's final answer, not the turn that called a
    tool. Reasoning (a Responses API summary, an Anthropic ``thinking`` block) is not an
    answer.
    """
    last_user = None
    for i, (_, role, _) in enumerate(texts):
        if role == "user":
            last_user = i
    if last_user is None:
        return None
    start = last_user + 1
    for i in range(start, len(texts)):
        if texts[i][1] == "tool":
            start = i + 1
    for text, role, where in texts[start:]:
        if role == "assistant" and text.strip() and not _is_reasoning(where):
            return texts[last_user][0], text
    return None


def _is_reasoning(where: str) -> bool:
    return ".summary[" in where or where.endswith(".thinking") or "reasoning" in where


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    try:
        with path.open("rb") as raw:
            magic = raw.read(4)
            raw.seek(0)
            stream = _decompressed(raw, magic, path)
            for number, line in enumerate(stream, start=1):
                yield number, line.decode("utf-8", "replace")
    except FileNotFoundError:
        raise LogFormatError("file not found", file=path) from None
    except IsADirectoryError:
        raise LogFormatError("is a directory, expected a log file", file=path) from None
    except (OSError, EOFError) as exc:
        raise LogFormatError(f"cannot read: {exc}", file=path) from None


def _decompressed(raw: IO[bytes], magic: bytes, path: Path) -> Iterable[bytes]:
    if magic[:2] == b"\x1f\x8b":
        return gzip.GzipFile(fileobj=raw)
    if magic == ZSTD_MAGIC:
        try:
            import zstandard
        except ImportError:
            raise LogFormatError("a .zst file needs the zstandard package", file=path,
                                 hint="pip install zstandard") from None
        reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
        return io.BufferedReader(reader)
    return raw


def _unique_ids(cases: list[LogCase]) -> None:
    """A record id seen twice (retries, several files) gets ``~2``, ``~3``, ..."""
    seen: dict[str, int] = {}
    for case in cases:
        count = seen.get(case.id, 0) + 1
        seen[case.id] = count
        if count > 1:
            case.id = f"{case.id}~{count}"
