"""OpenInference spans (Arize Phoenix and the OpenInference instrumentations).

Messages are ``llm.input_messages`` and ``llm.output_messages``, each
``{"message.role", "message.content" | "message.contents": [{"message_content.type",
"message_content.text"}], "message.tool_calls": [{"tool_call.function.arguments"}]}``.
Exporters write them three ways, all read alike: flattened
(``llm.input_messages.0.message.content``, the OTLP form), nested
(``{"llm": {"input_messages": [{"message": {...}}]}}``, Phoenix's span JSON) or as a
list of dotted-key objects. Spans with no messages give ``input.value`` and
``output.value`` (JSON is read as a payload), ``llm.prompts``/``llm.choices`` of
completion APIs, and the ``retrieval.documents`` a retriever returned. Fields are named
in the flattened form: ``attributes.llm.output_messages.0.message.content``.
"""

from __future__ import annotations

import contextlib
from typing import Any

import orjson

from llmops.guard.readers import Record, Text, shape
from llmops.guard.shapes._envelope import as_str
from llmops.guard.shapes._messages import add, arguments, payload
from llmops.guard.shapes._spans import attribute_names, attributes, span_id

_PREFIXES = ("llm.", "openinference.", "input.value", "output.value", "retrieval.")
_KIND_ROLES = {"TOOL": ("tool_call", "tool"), "RETRIEVER": ("user", "tool")}

Tree = dict[str, Any]


def _claims(obj: dict[str, Any]) -> bool:
    attrs = obj.get("attributes")
    if isinstance(attrs, dict) and any(k in attrs for k in ("llm", "openinference", "input")):
        return True
    return isinstance(attrs, dict | list) and any(
        k.startswith(_PREFIXES) for k in attribute_names(attrs)
    )


def _tree(value: Any) -> Any:
    """Dotted keys split into nested mappings; lists become mappings of their indexes."""
    if isinstance(value, list):
        return {str(i): _tree(v) for i, v in enumerate(value)}
    if not isinstance(value, dict):
        return value
    out: Tree = {}
    for key, item in value.items():
        node = out
        *heads, last = str(key).split(".")
        for head in heads:
            child = node.get(head)
            if not isinstance(child, dict):
                child = node[head] = {}
            node = child
        item = _tree(item)
        if isinstance(node.get(last), dict) and isinstance(item, dict):
            node[last].update(item)
        else:
            node[last] = item
    return out


def _at(tree: Any, *path: str) -> Any:
    for key in path:
        if not isinstance(tree, dict):
            return None
        tree = tree.get(key)
    return tree


def _indexed(node: Any) -> list[tuple[str, Any]]:
    """The items of a list turned mapping, in index order."""
    if isinstance(node, str):  # some exporters keep the list as a JSON string
        try:
            node = _tree(orjson.loads(node))
        except orjson.JSONDecodeError:
            return []
    if not isinstance(node, dict):
        return []
    return sorted(((k, v) for k, v in node.items() if k.isdigit()), key=lambda kv: int(kv[0]))


def _messages(tree: Tree, name: str, default: str, out: list[Text]) -> bool:
    items = _indexed(_at(tree, "llm", name))
    for i, item in items:
        msg = _at(item, "message")
        if not isinstance(msg, dict):
            continue
        base = f"attributes.llm.{name}.{i}.message"
        role = msg.get("role") if type(msg.get("role")) is str else default
        add(msg.get("content"), role, f"{base}.content", out)
        for j, part in _indexed(msg.get("contents")):
            text = _at(part, "message_content", "text")
            add(text, role, f"{base}.contents.{j}.message_content.text", out)
        for j, call in _indexed(msg.get("tool_calls")):
            args = _at(call, "tool_call", "function", "arguments")
            if args is not None:
                arguments(args, f"{base}.tool_calls.{j}.tool_call.function.arguments", out)
        if "function_call_arguments_json" in msg:
            legacy = msg["function_call_arguments_json"]
            arguments(legacy, f"{base}.function_call_arguments_json", out)
    return bool(items)


def _values(tree: Tree, kind: str, out: list[Text]) -> None:
    in_role, out_role = _KIND_ROLES.get(kind, ("user", "assistant"))
    for side, role in (("input", in_role), ("output", out_role)):
        value = _at(tree, side, "value")
        if value is None:
            continue
        json = str(_at(tree, side, "mime_type") or "") == "application/json"
        if json and isinstance(value, str):
            with contextlib.suppress(orjson.JSONDecodeError):
                value = orjson.loads(value)
        payload(value, f"attributes.{side}.value", role, out)


@shape(
    "openinference",
    claims=_claims,
    order=80,
    fields="llm.input_messages, llm.output_messages, input.value, output.value",
    span=True,
)
def read_openinference(span: dict[str, Any]) -> Record:
    """OpenInference spans: llm.input_messages / llm.output_messages, flattened or nested."""
    tree = _tree(attributes(span.get("attributes") or {}))
    kind = str(_at(tree, "openinference", "span", "kind") or span.get("span_kind") or "").upper()
    version = _at(tree, "llm", "prompt_template", "version")
    rec = Record("openinference", as_str(span_id(span)), as_str(version))
    out = rec.texts
    found = _messages(tree, "input_messages", "user", out)
    found = _messages(tree, "output_messages", "assistant", out) or found
    for i, item in _indexed(_at(tree, "llm", "prompts")):
        text = _at(item, "prompt", "text") if isinstance(item, dict) else item
        add(text, "user", f"attributes.llm.prompts.{i}.prompt.text", out)
        found = True
    for i, item in _indexed(_at(tree, "llm", "choices")):
        text = _at(item, "completion", "text") if isinstance(item, dict) else item
        add(text, "assistant", f"attributes.llm.choices.{i}.completion.text", out)
        found = True
    if not found:
        _values(tree, kind, out)
    for i, doc in _indexed(_at(tree, "retrieval", "documents")):
        text = _at(doc, "document", "content")
        add(text, "tool", f"attributes.retrieval.documents.{i}.document.content", out)
    return rec
