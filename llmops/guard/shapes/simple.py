"""The simplest logs: ``{"id", "input"|"prompt", "output"|"response", "prompt_version"?}``,
and a bare ``{"messages": [...]}``.

Strings are the user's input and the model's output; a message list keeps each
message's role; any other value (one message, a dict of fields) is read as a payload.
"""

from __future__ import annotations

from typing import Any

from llmops.guard.readers import Record, shape
from llmops.guard.shapes._envelope import as_str, prompt_version
from llmops.guard.shapes._messages import add, messages, payload

_KEYS = (("input", "user"), ("prompt", "user"), ("output", "assistant"), ("response", "assistant"))


@shape(
    "simple",
    claims=lambda obj: any(k in obj for k in ("input", "prompt", "output", "response")),
    order=90,
    fields="input, output",
)
def read_simple(obj: dict[str, Any]) -> Record:
    """Simple records: input or prompt, output or response."""
    rec = Record("simple", as_str(obj.get("id")), prompt_version(obj))
    for key, role in _KEYS:
        value = obj.get(key)
        if type(value) is str:
            add(value, role, key, rec.texts)
        elif value is not None:
            payload(value, key, role, rec.texts)
    return rec


@shape(
    "messages",
    claims=lambda obj: isinstance(obj.get("messages"), list),
    order=100,
    fields="messages",
)
def read_messages(obj: dict[str, Any]) -> Record:
    """A bare message list: {"messages": [...]}."""
    rec = Record("messages", as_str(obj.get("id")), prompt_version(obj))
    messages(obj.get("messages"), "messages", rec.texts)
    return rec
