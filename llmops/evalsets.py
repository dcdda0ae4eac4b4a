"""Eval sets: JSONL, YAML or CSV files of cases, validated before any model call.

Every problem is reported with the file and the line of the case, and no model is
called until the whole file is known to be good.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from llmops._yaml import load_yaml, read_text
from llmops.errors import EvalSetError

FIELDS = ("id", "vars", "expected", "contexts", "rubric", "tags", "human_score")
CSV_FIELDS = ("id", "expected", "contexts", "rubric", "tags", "human_score")
SUFFIXES = (".jsonl", ".yaml", ".yml", ".csv")
MAX_DEPTH = 100  # nesting levels of lists and mappings in one case


@dataclass
class Case:
    """One evaluation case."""

    id: str
    vars: dict[str, Any]
    expected: str | list[str] | None = None
    contexts: list[str] = field(default_factory=list)
    rubric: str | None = None
    tags: list[str] = field(default_factory=list)
    human_score: float | None = None
    line: int | None = None  # where the case starts in its file, for error messages
    digest: str = ""  # sha256 of the case's canonical JSON


@dataclass
class EvalSet:
    """A validated eval set: its file, its digest and its cases in file order."""

    path: Path
    digest: str
    cases: list[Case]

    def __len__(self) -> int:
        return len(self.cases)

    def check_variables(self, variables: Sequence[str], prompt_ref: str = "") -> None:
        """Fail on the first case whose ``vars`` miss one of the prompt's variables."""
        check_variables(self, variables, prompt_ref)


def canonical_json(data: Any) -> bytes:
    """The JSON bytes that digests are computed over: sorted keys, no spaces, UTF-8."""
    return orjson.dumps(data, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS)


def case_digest(case: Case) -> str:
    """sha256 of everything in a case that can change a result or a score."""
    body = {
        "id": case.id,
        "vars": case.vars,
        "expected": case.expected,
        "contexts": case.contexts,
        "rubric": case.rubric,
        "tags": case.tags,
        "human_score": case.human_score,
    }
    return hashlib.sha256(canonical_json(body)).hexdigest()


def evalset_digest(cases: Iterable[Case]) -> str:
    """sha256 over the case digests in order: the same cases give the same digest in any format."""
    h = hashlib.sha256()
    for case in cases:
        h.update(case.digest.encode("ascii"))
        h.update(b"\n")
    return h.hexdigest()


def load_evalset(path: str | Path, variables: Sequence[str] | None = None) -> EvalSet:
    """Load and validate an eval set; with ``variables``, also check that cases cover them.

    Raises:
        EvalSetError: the file is missing, malformed, has duplicate ids, wrong types, or a
            case lacks a variable; the message names the file, line and case id.
    """
    p = Path(path)
    suffix = p.suffix.lower()
    if suffix not in SUFFIXES:
        raise EvalSetError(
            f"unsupported eval set format {suffix or '(none)'!r}",
            file=p,
            hint="use .jsonl, .yaml or .csv",
        )
    if suffix == ".jsonl":
        raw = _read_jsonl(p)
    elif suffix == ".csv":
        raw = _read_csv(p)
    else:
        raw = _read_yaml(p)
    cases: list[Case] = []
    seen: dict[str, int | None] = {}
    for line, data in raw:
        if _deeper_than(data, MAX_DEPTH):
            raise _too_deep(p, line)
        case = _to_case(p, line, data)
        if case.id in seen:
            raise EvalSetError(
                f"duplicate case id {case.id!r} (first at line {seen[case.id]})",
                file=p,
                line=line,
            )
        seen[case.id] = line
        cases.append(case)
    if not cases:
        raise EvalSetError("the eval set has no cases", file=p)
    evalset = EvalSet(path=p, digest=evalset_digest(cases), cases=cases)
    if variables is not None:
        check_variables(evalset, variables)
    return evalset


def check_variables(evalset: EvalSet, variables: Sequence[str], prompt_ref: str = "") -> None:
    """Raise :class:`EvalSetError` naming the first case that lacks a prompt variable."""
    needed = [v for v in variables if v != "context"]  # RAG fills `context` itself
    for case in evalset.cases:
        missing = [v for v in needed if v not in case.vars]
        if missing:
            names = ", ".join(repr(m) for m in missing)
            whose = f" needed by {prompt_ref}" if prompt_ref else ""
            raise EvalSetError(
                f"case {case.id!r} lacks variable {names}{whose}",
                file=evalset.path,
                line=case.line,
                hint=f"add it under `vars`; the prompt declares {list(variables)}",
            )


# --- readers: each yields (line, mapping) -----------------------------------------------


def _read_jsonl(path: Path) -> list[tuple[int, Any]]:
    text = read_text(path, EvalSetError)
    rows: list[tuple[int, Any]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.lstrip().startswith("//"):
            continue
        try:
            rows.append((number, json.loads(line)))
        except json.JSONDecodeError as exc:
            raise EvalSetError(
                f"malformed JSON: {exc.msg} (column {exc.colno})", file=path, line=number
            ) from None
        except RecursionError:
            raise _too_deep(path, number) from None
    return rows


def _read_yaml(path: Path) -> list[tuple[int, Any]]:
    doc = load_yaml(path, EvalSetError)
    data = doc.data
    if isinstance(data, dict) and isinstance(data.get("cases"), list):
        items, prefix = data["cases"], ["cases"]
    elif isinstance(data, list):
        items, prefix = data, []
    else:
        raise EvalSetError(
            "expected a list of cases (or a mapping with `cases:`)", file=path, line=1
        )
    return [(doc.line_of([*prefix, i]) or 1, item) for i, item in enumerate(items)]


def _read_csv(path: Path) -> list[tuple[int, Any]]:
    text = read_text(path, EvalSetError)
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(reader)
    except StopIteration:
        raise EvalSetError("empty CSV file", file=path) from None
    except csv.Error as exc:
        raise EvalSetError(f"malformed CSV: {exc}", file=path, line=1) from None
    header = [h.strip() for h in header]
    if "id" not in header:
        raise EvalSetError("the CSV header has no `id` column", file=path, line=1)
    dupes = sorted({h for h in header if header.count(h) > 1})
    if dupes:
        raise EvalSetError(f"duplicate CSV column(s) {dupes}", file=path, line=1)
    rows: list[tuple[int, Any]] = []
    start = reader.line_num + 1
    try:
        for row in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                raise EvalSetError(
                    f"row has {len(row)} cells, the header has {len(header)}",
                    file=path,
                    line=line,
                )
            rows.append((line, _csv_record(path, line, dict(zip(header, row, strict=True)))))
    except csv.Error as exc:
        raise EvalSetError(f"malformed CSV: {exc}", file=path, line=start) from None
    return rows


def _csv_list(cell: str) -> list[str] | str:
    """A CSV list cell: a JSON array, or values separated by ``|``."""
    cell = cell.strip()
    if not cell:
        return []
    if cell.startswith("["):
        try:
            value = json.loads(cell)
        except json.JSONDecodeError:
            return cell  # reported as a type error by _to_case
        return value if isinstance(value, list) else cell
    return [part.strip() for part in cell.split("|") if part.strip()]


def _csv_record(path: Path, line: int, row: dict[str, str]) -> dict[str, Any]:
    record: dict[str, Any] = {"id": row["id"].strip()}
    for name in ("expected", "rubric"):
        if row.get(name, "").strip():
            record[name] = row[name]
    for name in ("contexts", "tags"):
        if name in row:
            record[name] = _csv_list(row[name])
    score = row.get("human_score", "").strip()
    if score:
        try:
            record["human_score"] = float(score)
        except ValueError:
            raise EvalSetError(
                f"human_score {score!r} is not a number", file=path, line=line
            ) from None
    record["vars"] = {k: v for k, v in row.items() if k not in CSV_FIELDS}
    return record


# --- validation ---------------------------------------------------------------------------


def _too_deep(path: Path, line: int) -> EvalSetError:
    return EvalSetError(
        f"the case is nested more than {MAX_DEPTH} levels deep", file=path, line=line,
        hint="flatten the values",
    )


def _deeper_than(value: Any, limit: int) -> bool:
    """Whether lists and mappings in ``value`` nest more than ``limit`` levels (no recursion)."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict):
            children: Iterable[Any] = item.values()
        elif isinstance(item, list | tuple):
            children = item
        else:
            continue
        if depth >= limit:
            return True
        stack.extend((child, depth + 1) for child in children)
    return False


def _finite_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _to_case(path: Path, line: int, data: Any) -> Case:
    def bad(msg: str, what: str | None = None) -> EvalSetError:
        return EvalSetError(msg, file=path, line=line, field=what)

    if not isinstance(data, dict):
        raise bad(f"expected a mapping (one case), got {type(data).__name__}")
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise bad(f"unknown key(s) {unknown}", f"{unknown[0]}") from None
    cid = data.get("id")
    if isinstance(cid, bool) or not isinstance(cid, str | int) or str(cid).strip() == "":
        raise bad("every case needs a non-empty string `id`", "id")
    cid = str(cid)
    where = f"case {cid!r}: "
    variables = data.get("vars", {})
    if variables is None:
        variables = {}
    if not isinstance(variables, dict) or not all(isinstance(k, str) for k in variables):
        raise bad(where + "`vars` must be a mapping of names to values", "vars")
    expected = data.get("expected")
    if not (
        expected is None
        or isinstance(expected, str)
        or (isinstance(expected, list) and all(isinstance(e, str) for e in expected))
    ):
        raise bad(where + "`expected` must be a string or a list of strings", "expected")
    lists: dict[str, list[str]] = {}
    for name in ("contexts", "tags"):
        value = data.get(name)
        if value is None:
            value = []
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise bad(where + f"`{name}` must be a list of strings", name)
        lists[name] = value
    rubric = data.get("rubric")
    if rubric is not None and not isinstance(rubric, str):
        raise bad(where + "`rubric` must be a string", "rubric")
    score = data.get("human_score")
    if score is not None and not _finite_number(score):
        raise bad(where + f"`human_score` must be a finite number, got {score!r}", "human_score")
    case = Case(
        id=cid,
        vars=variables,
        expected=expected,
        contexts=lists["contexts"],
        rubric=rubric,
        tags=lists["tags"],
        human_score=float(score) if score is not None else None,
        line=line,
    )
    try:
        case.digest = case_digest(case)
    except TypeError as exc:  # a value JSON cannot hold (e.g. a YAML timestamp with a zone)
        raise bad(where + f"a value cannot be stored as JSON: {exc}") from None
    return case
