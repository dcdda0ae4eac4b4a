"""The Markdown summary of a scan, and reading a baseline of known findings.

Only masked evidence ever reaches these outputs: findings carry no raw value. The JSON
report is written by :meth:`llmops.guard.result.ScanResult.write_json`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

from llmops.errors import UserError
from llmops.guard.result import ScanResult


def load_baseline(path: str | Path) -> set[str]:
    """Fingerprints from a previous ``--json`` report, a JSON list, or one per line."""
    p = Path(path)
    try:
        raw = p.read_bytes()
    except FileNotFoundError:
        raise UserError("baseline file not found", file=p) from None
    except IsADirectoryError:
        raise UserError("baseline is a directory, expected a file", file=p) from None
    except OSError as exc:
        raise UserError(f"cannot read baseline: {exc.strerror}", file=p) from None
    stripped = raw.removeprefix(b"\xef\xbb\xbf").strip()  # a BOM from a Windows editor
    if stripped[:1] in (b"{", b"["):
        try:
            data = orjson.loads(stripped)
        except orjson.JSONDecodeError as exc:
            raise UserError(f"baseline is not valid JSON ({exc})", file=p) from None
        items = data.get("findings", []) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise UserError("baseline: expected a findings list", file=p, field="findings")
        out = set()
        for i, item in enumerate(items):
            value = item.get("fingerprint") if isinstance(item, dict) else item
            if not isinstance(value, str):
                raise UserError(
                    "baseline entry without a fingerprint", file=p, field=f"findings[{i}]"
                )
            out.add(value)
        return out
    try:
        text = stripped.decode("utf-8")
    except UnicodeDecodeError:
        raise UserError("baseline is not UTF-8 text", file=p) from None
    return {line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")}


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        return str(value).replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]
    return lines


def markdown(result: ScanResult, title: str = "Guard scan") -> str:
    """A Markdown summary: totals, counts by detector and prompt version, sample findings."""
    status = result.status("passed")
    out = [
        f"## {title}: {status}",
        "",
        f"{result.records_scanned} records scanned, {result.bad_records} bad lines, "
        f"{result.records_without_text} without text, "
        f"{result.n_findings} new findings, {result.n_suppressed} suppressed by the baseline "
        f"(fail on: {result.fail_on}).",
        "",
    ]
    detectors = sorted(set(result.counts) | set(result.suppressed_counts))
    if detectors:
        out += _table(
            ["detector", "new", "suppressed"],
            [[d, result.counts.get(d, 0), result.suppressed_counts.get(d, 0)] for d in detectors],
        )
        out.append("")
    versions = result.by_prompt_version
    if versions and set(versions) != {"(none)"}:
        out += ["### By prompt version", ""]
        out += _table(
            ["prompt_version", "findings", "top detectors"],
            [
                [
                    v,
                    sum(c.values()),
                    ", ".join(f"{d} ({n})" for d, n in sorted(c.items(), key=lambda x: -x[1])[:3]),
                ]
                for v, c in versions.items()
            ],
        )
        out.append("")
    if result.sample:
        out += [f"### Findings (first {len(result.sample)})", ""]
        out += _table(
            ["where", "record", "field", "role", "detector", "severity", "evidence"],
            [
                [
                    f"{Path(f.file).name if f.file else ''}:{f.line}",
                    f.record or "",
                    f.field,
                    f.role or "",
                    f.detector,
                    f.severity,
                    f"`{f.evidence}`",
                ]
                for f in result.sample
            ],
        )  # fmt: skip
        out.append("")
    problems = [f for f in result.files if f.error or f.warning]
    if problems or result.bad_lines or result.without_text:
        out += ["### Input problems", ""]
        out += [f"- `{f.path}`: {f.error or f.warning}" for f in problems]
        out += [
            f"- {name}: none of its {result.by_shape[name]['records']} records gave text to scan"
            for name in result.shapes_without_text
        ]
        out += [
            f"- `{w['file'] or 'record'}:{w['line']}`: {w['reason']}"
            for w in result.without_text[:20]
        ]
        out += [
            f"- `{b['file'] or 'record'}:{b['line']}`: {b['reason']}" for b in result.bad_lines[:20]
        ]
        if result.bad_records > 20:
            out.append(f"- … {result.bad_records - 20} more bad lines")
        out.append("")
    return "\n".join(out)
