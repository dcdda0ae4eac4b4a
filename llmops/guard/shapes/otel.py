"""OpenTelemetry GenAI spans: ``gen_ai.*`` attributes.

``gen_ai.input.messages`` and ``gen_ai.output.messages`` (JSON strings or lists, with
``parts`` or ``content``), ``gen_ai.system_instructions``, and the older flattened
``gen_ai.prompt.N.content`` / ``gen_ai.completion.N.content``. Attributes may be a
mapping or an OTLP key/value list; a line of an OTLP JSON export (``resourceSpans``)
holds many spans, each read as its own record.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmops.guard.readers import Record, Text, shape
from llmops.guard.shapes._envelope import as_str
from llmops.guard.shapes._messages import arguments, content
from llmops.guard.shapes._spans import attribute_names, attributes, span_id


def _claims(obj: dict[str, Any]) -> bool:
    attrs = obj.get("attributes")
    return isinstance(attrs, dict | list) and any(
        k.startswith("gen_ai.") for k in attribute_names(attrs)
    )


def _parts(msgs: Any, prefix: str, out: list[Text], default_role: str) -> None:
    if isinstance(msgs, str):
        try:
            msgs = orjson.loads(msgs)
        except orjson.JSONDecodeError:
            out.append((msgs, default_role, prefix))
            return
    if not isinstance(msgs, list):
        return
    for i, msg in enumerate(msgs):
        if not isinstance(msg, dict):
            continue
        role = msg.get("role") if isinstance(msg.get("role"), str) else default_role
        base = f"{prefix}[{i}]"
        if "content" in msg:
            content(msg["content"], f"{base}.content", role, out)
        for k, part in enumerate(msg.get("parts") or ()):
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "tool_call":
                arguments(part.get("arguments"), f"{base}.parts[{k}].arguments", out)
            elif kind == "tool_call_response":
                value = part.get("response")
                text = value if isinstance(value, str) else orjson.dumps(value).decode()
                out.append((text, "tool", f"{base}.parts[{k}].response"))
            elif isinstance(part.get("content"), str):
                content(part["content"], f"{base}.parts[{k}].content", role, out)


@shape(
    "otel",
    claims=_claims,
    order=70,
    fields="gen_ai.input.messages, gen_ai.output.messages",
    span=True,
)
def read_otel(span: dict[str, Any]) -> Record:
    """OpenTelemetry GenAI spans (gen_ai.* attributes)."""
    attrs = attributes(span.get("attributes") or {})
    version = attrs.get("llmops.prompt_version") or attrs.get("prompt_version")
    rec = Record("otel", as_str(span_id(span)), as_str(version))
    pre = "attributes."
    if "gen_ai.system_instructions" in attrs:
        _parts(
            attrs["gen_ai.system_instructions"],
            pre + "gen_ai.system_instructions",
            rec.texts,
            "system",
        )
    _parts(attrs.get("gen_ai.input.messages"), pre + "gen_ai.input.messages", rec.texts, "user")
    _parts(
        attrs.get("gen_ai.output.messages"), pre + "gen_ai.output.messages", rec.texts, "assistant"
    )
    for key, value in attrs.items():  # the older flattened convention
        if isinstance(value, str) and key.endswith(".content"):
            head = key[: -len(".content")]
            if head.startswith(("gen_ai.prompt.", "gen_ai.completion.")):
                default = "assistant" if head.startswith("gen_ai.completion.") else "user"
                role = attrs.get(head + ".role", default)
                rec.texts.append((value, str(role), pre + key))
    return rec
