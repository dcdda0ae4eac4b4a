"""Langfuse exports: observations (generations, spans, events, tools...) and traces.

An observation is ``{"id", "traceId", "type": "GENERATION", "input", "output",
"promptName"?, "promptVersion"?, ...}`` (``trace_id`` in snake case in blob-storage
exports); a trace is ``{"id", "timestamp", "input", "output", "sessionId", "htmlPath",
"observations": [ids or observations], ...}``. ``input`` and ``output`` hold whatever the
application logged: a string, a message list (``[{"role", "content"}]``), one message,
``{"messages": [...]}``, or any JSON, read with the role of what went in (``user``) or
came out (``assistant``); a ``TOOL`` observation's input is the call (``tool_call``) and
its output the result (``tool``). A trace that carries its observations gives one
record for itself and one for each observation.
"""

from __future__ import annotations

from typing import Any

from llmops.guard.readers import Record, shape
from llmops.guard.shapes._envelope import as_str, prompt_version
from llmops.guard.shapes._messages import payload

_OBSERVATION_KEYS = ("traceId", "trace_id")
_TRACE_KEYS = ("htmlPath", "observations", "sessionId", "bookmarked", "projectId", "session_id")
_ROLES = {"TOOL": ("tool_call", "tool"), "RETRIEVER": ("user", "tool")}


def _claims(obj: dict[str, Any]) -> bool:
    if "input" not in obj and "output" not in obj:
        return isinstance(obj.get("trace"), dict) and isinstance(obj.get("observations"), list)
    return any(k in obj for k in _OBSERVATION_KEYS) or any(k in obj for k in _TRACE_KEYS)


def _version(obj: dict[str, Any]) -> str | None:
    version = prompt_version(obj)
    name = obj.get("promptName") or obj.get("prompt_name")
    if version is None and name:
        number = obj.get("promptVersion") or obj.get("prompt_version")
        version = f"{name}@{number}" if number is not None else str(name)
    return version


def _record(obj: dict[str, Any]) -> Record:
    kind = str(obj.get("type") or "").upper()
    in_role, out_role = _ROLES.get(kind, ("user", "assistant"))
    rec = Record("langfuse", as_str(obj.get("id")), _version(obj))
    payload(obj.get("input"), "input", in_role, rec.texts)
    payload(obj.get("output"), "output", out_role, rec.texts)
    return rec


@shape("langfuse", claims=_claims, order=60, fields="input, output")
def read_langfuse(obj: dict[str, Any]) -> list[Record]:
    """Langfuse observations and traces: input and output."""
    inner = obj.get("trace")
    trace: dict[str, Any] = inner if isinstance(inner, dict) else obj
    records = [_record(trace)]
    for observation in obj.get("observations") or trace.get("observations") or ():
        if isinstance(observation, dict):  # a full observation, not just its id
            records.append(_record(observation))
    return records
