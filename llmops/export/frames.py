"""Eval results as pandas DataFrames, and stored runs as CSV, JSON Lines or Parquet files.

pandas (and pyarrow for Parquet) come with the ``export`` extra; without them the caller
gets a :class:`llmops.errors.UserError` (exit 2) saying which extra to install.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import UserError

if TYPE_CHECKING:
    import pandas as pd

    from llmops.eval.result import EvalResult
    from llmops.store import ResultsStore

FORMATS = ("csv", "jsonl", "parquet")
_EXTENSIONS = {".csv": "csv", ".jsonl": "jsonl", ".ndjson": "jsonl", ".parquet": "parquet"}


def require_pandas(what: str = "a DataFrame") -> Any:
    """The pandas module, or a UserError naming the extra that provides it."""
    try:
        import pandas
    except ImportError:
        raise UserError(f"{what} needs pandas, which is not installed",
                        hint="pip install 'llmops-prompts[export]'") from None
    return pandas


def eval_frame(result: EvalResult) -> pd.DataFrame:
    """One row per case, repeat and variant; one column per scorer (its value).

    Columns: run_id, suite, prompt, version, role, model, case_id, repeat, output, error,
    latency_ms, cached, prompt_tokens, completion_tokens, then the scorers in suite order.
    Texts are masked as in every report.
    """
    pd = require_pandas()
    scorers: list[str] = []
    for variant in result.variants:
        for key in variant.summary.scores:
            if key not in scorers:
                scorers.append(key)
    rows: list[dict[str, Any]] = []
    for variant in result.variants:
        for case in variant.cases:
            row: dict[str, Any] = {
                "run_id": result.run_id, "suite": result.suite, "prompt": variant.prompt,
                "version": variant.version, "role": variant.role, "model": variant.model,
                "case_id": case.id, "repeat": case.repeat, "output": case.output,
                "error": case.error, "latency_ms": case.latency_ms, "cached": case.cached,
                "prompt_tokens": case.prompt_tokens,
                "completion_tokens": case.completion_tokens,
            }
            for key in scorers:
                score = case.scores.get(key)
                row[key] = score.value if score is not None else None
            rows.append(row)
    columns = ["run_id", "suite", "prompt", "version", "role", "model", "case_id", "repeat",
               "output", "error", "latency_ms", "cached", "prompt_tokens",
               "completion_tokens", *scorers]
    return pd.DataFrame(rows, columns=columns)


def export_format(fmt: str | None, out: Path) -> str:
    """The format asked for, else the one ``out``'s extension names, else CSV."""
    if fmt is None:
        return _EXTENSIONS.get(out.suffix.lower(), "csv")
    if fmt not in FORMATS:
        raise UserError(f"--format: unknown export format {fmt!r}",
                        hint=f"one of {', '.join(FORMATS)}")
    return fmt


def runs_frame(store: ResultsStore, run_ids: Sequence[str]) -> pd.DataFrame:
    """Every result and score of the runs: one row per (variant, case, repeat, scorer)."""
    from llmops.eval.stored import export_rows

    pd = require_pandas("runs export")
    for run_id in run_ids:
        store.run(run_id)  # an unknown run: one clear error before anything is written
    rows = [_flat_args(row) for run_id in run_ids for row in export_rows(store, run_id)]
    return pd.DataFrame(rows, columns=list(rows[0]) if rows else None)


def _flat_args(row: dict[str, Any]) -> dict[str, Any]:
    """A scorer's arguments as JSON text: one column that every format can hold."""
    if row.get("args") is not None:
        row["args"] = json.dumps(row["args"], sort_keys=True, ensure_ascii=False)
    return row


def write_frame(frame: pd.DataFrame, out: Path, fmt: str) -> None:
    """Write ``frame`` to ``out`` as ``fmt``, atomically (:func:`llmops._files.atomic_open`:
    a device such as ``/dev/stdout`` is written in place, never replaced)."""
    from llmops._files import atomic_open

    if fmt == "parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise UserError("Parquet export needs pyarrow, which is not installed",
                            hint="pip install 'llmops-prompts[export]'") from None
    with atomic_open(out, "wb" if fmt == "parquet" else "w") as f:
        if fmt == "csv":
            frame.to_csv(f, index=False)
        elif fmt == "jsonl":
            frame.to_json(f, orient="records", lines=True, force_ascii=False)
        else:
            frame.to_parquet(f, index=False)
