"""results.json: the evaluation's stable machine-readable form (see DESIGN.md).

Written case by case (one case per line) rather than built as one big document, so a
20,000-case run does not hold its whole JSON text in memory.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from llmops._files import atomic_open

if TYPE_CHECKING:
    from collections.abc import Sequence

    from llmops.eval.result import EvalResult
    from llmops.reports import Report


def _dumps(value: Any, indent: int | None = None) -> str:
    return json.dumps(value, ensure_ascii=False, indent=indent)


def _write_one(result: EvalResult, out: IO[str], level: int) -> None:
    pad = " " * level
    data = result.model_dump(mode="json", exclude={"variants": {"__all__": {"cases"}}})
    out.write("{")
    for i, (key, value) in enumerate(data.items()):
        out.write(("," if i else "") + f"\n{pad}  {_dumps(key)}: ")
        if key != "variants":
            out.write(_dumps(value, 2).replace("\n", "\n  " + pad))
            continue
        out.write("[")
        for j, (variant, model) in enumerate(zip(value, result.variants, strict=True)):
            out.write(("," if j else "") + f"\n{pad}    {{")
            for key2, value2 in variant.items():
                text = _dumps(value2, 2).replace("\n", "\n      " + pad)
                out.write(f"\n{pad}      {_dumps(key2)}: {text},")
            out.write(f'\n{pad}      "cases": [')
            for k, case in enumerate(model.cases):
                out.write(("," if k else "") + f"\n{pad}        " + _dumps(case.model_dump()))
            out.write(f"\n{pad}      ]\n{pad}    }}")
        out.write(f"\n{pad}  ]")
    out.write(f"\n{pad}}}")


def write_results_json(results: Sequence[EvalResult], path: str | Path) -> None:
    """Write one result as an object, several as a list; ``-`` is stdout; files atomically."""

    def emit(out: IO[str]) -> None:
        if len(results) == 1:
            _write_one(results[0], out, 0)
        else:
            out.write("[")
            for i, r in enumerate(results):
                out.write(("," if i else "") + "\n  ")
                _write_one(r, out, 2)
            out.write("\n]")
        out.write("\n")

    if str(path) == "-":
        emit(sys.stdout)
        sys.stdout.flush()
        return
    with atomic_open(path) as f:
        emit(f)


def results_json(result: EvalResult) -> dict[str, Any]:
    """The same document as a dict (small runs, the Python API)."""
    return result.to_json()


def write(report: Report, path: Path) -> None:
    """The report format's entry: ``results.json`` of one run."""
    write_results_json([report.result], path)
