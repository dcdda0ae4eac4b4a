"""LangSmith runs (exported or fetched with the SDK).

A run is ``{"id", "name", "run_type": "llm" | "chain" | "tool" | ..., "inputs",
"outputs", "trace_id", "dotted_order", "extra": {"metadata": ...}, ...}``. What
``inputs`` and ``outputs`` hold depends on what was traced: an OpenAI client wrapped
with ``wrap_openai`` logs the request (``inputs.messages``) and the completion
(``outputs.choices``); a LangChain chat model logs serialized messages
(``inputs.messages``: lists of ``{"lc": 1, "id": [..., "HumanMessage"], "kwargs":
{"content"}}``) and ``outputs.generations``; a chain logs its own arguments. A ``tool``
run's inputs are the call (``tool_call``) and its outputs the result (``tool``). Child
runs nested in ``child_runs`` are records of their own.
"""

from __future__ import annotations

from typing import Any

from llmops.guard.readers import Record, shape
from llmops.guard.shapes._envelope import as_str, prompt_version
from llmops.guard.shapes._messages import payload

_RUN_KEYS = ("trace_id", "dotted_order", "session_id", "parent_run_id")
_ROLES = {"tool": ("tool_call", "tool"), "retriever": ("user", "tool")}


def _claims(obj: dict[str, Any]) -> bool:
    if "run_type" in obj:
        return True
    return ("inputs" in obj or "outputs" in obj) and any(k in obj for k in _RUN_KEYS)


def _version(run: dict[str, Any]) -> str | None:
    version = prompt_version(run)
    extra = run.get("extra")
    if version is None and isinstance(extra, dict) and isinstance(extra.get("metadata"), dict):
        version = as_str(extra["metadata"].get("prompt_version"))
    return version


def _records(run: dict[str, Any], out: list[Record], depth: int = 0) -> None:
    in_role, out_role = _ROLES.get(str(run.get("run_type") or "").lower(), ("user", "assistant"))
    rec = Record("langsmith", as_str(run.get("id")), _version(run))
    payload(run.get("inputs"), "inputs", in_role, rec.texts)
    payload(run.get("outputs"), "outputs", out_role, rec.texts)
    out.append(rec)
    if depth < 32:
        for child in run.get("child_runs") or ():
            if isinstance(child, dict):
                _records(child, out, depth + 1)


@shape("langsmith", claims=_claims, order=50, fields="inputs, outputs")
def read_langsmith(obj: dict[str, Any]) -> list[Record]:
    """LangSmith runs: inputs and outputs (OpenAI-wrapped or LangChain-serialized)."""
    out: list[Record] = []
    _records(obj, out)
    return out
