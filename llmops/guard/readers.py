"""Log records: the four shapes of production logs, detected per line, as texts to scan.

- OpenAI style: ``{"id", "request": {"messages": [...]}, "response": {"choices": [...]}}``
- OpenAI batch output (and input) lines: ``{"custom_id", "response": {"body": {...}}}``
- OpenTelemetry GenAI spans: ``attributes`` with ``gen_ai.input.messages`` and
  ``gen_ai.output.messages`` (JSON strings or lists; OTLP key/value lists too)
- Simple: ``{"id", "input"|"prompt", "output"|"response", "prompt_version"?}``

Each text comes with the path of its field inside the record and the role that wrote it
(``system``, ``user``, ``assistant``, ``tool`` for tool results, ``tool_call`` for the
arguments of a call the model made), which decides the detectors that run on it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import orjson

# One text inside a record: ``(text, role, field)``, where ``field`` is the path of the
# text inside the record and ``role`` who wrote it. A plain tuple: there are millions.
Text = tuple[str, str | None, str]


class Record:
    """A log record reduced to what the scan needs."""

    __slots__ = ("id", "prompt_version", "shape", "texts")

    def __init__(
        self,
        shape: str,
        id: str | None = None,
        prompt_version: str | None = None,
        texts: list[Text] | None = None,
    ) -> None:
        self.shape = shape
        self.id = id
        self.prompt_version = prompt_version
        self.texts: list[Text] = [] if texts is None else texts

    def __repr__(self) -> str:
        return (
            f"Record({self.shape!r}, id={self.id!r}, prompt_version={self.prompt_version!r}, "
            f"texts={self.texts!r})"
        )


class UnknownShape(ValueError):
    """A JSON value that is none of the four log shapes."""


def records_of(obj: Any) -> list[Record]:
    """The records in one parsed line (an OTLP export line may hold several spans)."""
    if not isinstance(obj, dict):
        raise UnknownShape(f"not a JSON object ({type(obj).__name__})")
    if "custom_id" in obj:
        return [_batch(obj)]
    response = obj.get("response")
    if "request" in obj or (isinstance(response, dict) and "choices" in response):
        return [_openai(obj)]
    if "resourceSpans" in obj:
        return [_span(span) for span in _otlp_spans(obj)]
    if isinstance(obj.get("attributes"), dict | list) and _has_gen_ai(obj["attributes"]):
        return [_span(obj)]
    if any(k in obj for k in ("input", "prompt", "output", "response")):
        return [_simple(obj)]
    if "messages" in obj and isinstance(obj["messages"], list):
        rec = Record("messages", _str(obj.get("id")), _version(obj))
        _messages(obj["messages"], "messages", rec.texts)
        return [rec]
    keys = ", ".join(list(obj)[:6]) or "none"
    raise UnknownShape(f"unknown record shape (keys: {keys})")


def record_of_text(value: str) -> Record:
    """A bare string given to the Python API: one text with no role."""
    return Record("text", texts=[(value, None, "")])


def _str(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def _version(obj: dict[str, Any]) -> str | None:
    value = obj.get("prompt_version")
    if type(value) is str:
        return value
    if value is None and isinstance(obj.get("metadata"), dict):
        value = obj["metadata"].get("prompt_version")
    return _str(value)


_PATHS: dict[tuple[str, str], list[str]] = {}


def _paths(prefix: str, suffix: str) -> list[str]:
    """``prefix[i]suffix`` for the first 16 ``i``, made once per (prefix, suffix)."""
    paths = _PATHS.get((prefix, suffix))
    if paths is None:
        if len(_PATHS) > 256:
            _PATHS.clear()
        paths = _PATHS[prefix, suffix] = [f"{prefix}[{i}]{suffix}" for i in range(16)]
    return paths


_REQUEST_PATHS = [f"request.messages[{i}].content" for i in range(16)]
_CHOICE_PATHS = {
    p: [f"{p}.choices[{i}].message.content" for i in range(16)]
    for p in ("response", "response.body")
}


def _content(content: Any, path: str, role: str | None, out: list[Text]) -> None:
    if isinstance(content, str):
        if content:
            out.append((content, role, path))
    elif isinstance(content, list):
        for k, part in enumerate(content):
            if isinstance(part, str):
                _content(part, f"{path}[{k}]", role, out)
            elif isinstance(part, dict):
                for key in ("text", "content", "input_text", "output_text"):
                    if isinstance(part.get(key), str | list):
                        _content(part[key], f"{path}[{k}].{key}", role, out)
                        break


def _arguments(args: Any, path: str, out: list[Text]) -> None:
    if isinstance(args, str):
        if args:
            out.append((args, "tool_call", path))
    elif args is not None:
        out.append((orjson.dumps(args).decode(), "tool_call", path))


def _message(msg: Any, base: str, out: list[Text], default_role: str | None = None) -> None:
    if not isinstance(msg, dict):
        return
    role = msg.get("role") if isinstance(msg.get("role"), str) else default_role
    _content(msg.get("content"), f"{base}.content", role, out)
    calls = msg.get("tool_calls")
    if isinstance(calls, list):
        for j, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if isinstance(fn, dict):
                _arguments(fn.get("arguments"), f"{base}.tool_calls[{j}].function.arguments", out)
    legacy = msg.get("function_call")
    if isinstance(legacy, dict):
        _arguments(legacy.get("arguments"), f"{base}.function_call.arguments", out)


def _messages(messages: Any, prefix: str, out: list[Text], default_role: str | None = None) -> None:
    if type(messages) is not list:
        return
    paths = _paths(prefix, ".content")
    for i, msg in enumerate(messages):
        # The common case (a plain string content, no tool calls) without the general path.
        if type(msg) is dict and len(msg) == 2 and type(content := msg.get("content")) is str:
            role = msg.get("role")
            if content and type(role) is str:
                out.append((content, role, paths[i] if i < 16 else f"{prefix}[{i}].content"))
                continue
        _message(msg, f"{prefix}[{i}]", out, default_role)


def _choices(body: Any, prefix: str, out: list[Text]) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return
    paths = _CHOICE_PATHS.get(prefix) or _paths(prefix + ".choices", ".message.content")
    for i, choice in enumerate(body["choices"]):
        if not isinstance(choice, dict):
            continue
        message = choice.get("message")
        if (
            type(message) is dict
            and len(message) == 2
            and type(content := message.get("content")) is str
        ):
            if content:
                out.append(
                    (
                        content,
                        message.get("role") or "assistant",
                        paths[i] if i < 16 else f"{prefix}.choices[{i}].message.content",
                    )
                )
            continue
        if isinstance(message, dict):
            _message(choice["message"], f"{prefix}.choices[{i}].message", out, "assistant")
        elif isinstance(choice.get("text"), str):
            _content(choice["text"], f"{prefix}.choices[{i}].text", "assistant", out)


def _openai(obj: dict[str, Any]) -> Record:
    # The most common shape of all: _messages inlined, for speed.
    texts: list[Text] = []
    request = obj.get("request")
    if isinstance(request, dict):
        messages = request.get("messages")
        if type(messages) is list:
            for i, msg in enumerate(messages):
                if (
                    type(msg) is dict
                    and len(msg) == 2
                    and type(content := msg.get("content")) is str
                    and content
                    and type(role := msg.get("role")) is str
                ):
                    path = _REQUEST_PATHS[i] if i < 16 else f"request.messages[{i}].content"
                    texts.append((content, role, path))
                else:
                    _message(msg, f"request.messages[{i}]", texts)
        if isinstance(request.get("prompt"), str):
            _content(request["prompt"], "request.prompt", "user", texts)
    _choices(obj.get("response"), "response", texts)
    return Record("openai", _str(obj.get("id")), _version(obj), texts)


def _batch(obj: dict[str, Any]) -> Record:
    rec = Record("openai_batch", _str(obj.get("custom_id")), _version(obj))
    body = obj.get("body")
    if isinstance(body, dict):  # a batch input line
        _messages(body.get("messages"), "body.messages", rec.texts)
    response = obj.get("response")
    if isinstance(response, dict):
        _choices(response.get("body"), "response.body", rec.texts)
    return rec


def _simple(obj: dict[str, Any]) -> Record:
    rec = Record("simple", _str(obj.get("id")), _version(obj))
    for key, role in (
        ("input", "user"),
        ("prompt", "user"),
        ("output", "assistant"),
        ("response", "assistant"),
    ):
        value = obj.get(key)
        if isinstance(value, list) and value and isinstance(value[0], dict) and "role" in value[0]:
            _messages(value, key, rec.texts)
        else:
            _content(value, key, role, rec.texts)
    return rec


# --- OpenTelemetry -------------------------------------------------------------------


def _has_gen_ai(attrs: Any) -> bool:
    if isinstance(attrs, dict):
        return any(k.startswith("gen_ai.") for k in attrs)
    return any(isinstance(a, dict) and str(a.get("key", "")).startswith("gen_ai.") for a in attrs)


def _otlp_value(value: Any) -> Any:
    if not isinstance(value, dict):
        return value
    for key in ("stringValue", "intValue", "doubleValue", "boolValue"):
        if key in value:
            return value[key]
    if "arrayValue" in value:
        return [_otlp_value(v) for v in value["arrayValue"].get("values", [])]
    if "kvlistValue" in value:
        return {
            kv.get("key"): _otlp_value(kv.get("value"))
            for kv in value["kvlistValue"].get("values", [])
        }
    return value


def _attributes(attrs: Any) -> dict[str, Any]:
    if isinstance(attrs, dict):
        return attrs
    return {str(a.get("key")): _otlp_value(a.get("value")) for a in attrs if isinstance(a, dict)}


def _otlp_spans(obj: dict[str, Any]) -> Iterator[dict[str, Any]]:
    for rs in obj.get("resourceSpans") or ():
        for ss in rs.get("scopeSpans") or rs.get("instrumentationLibrarySpans") or ():
            yield from (s for s in ss.get("spans") or () if isinstance(s, dict))


def _parts(messages: Any, prefix: str, out: list[Text], default_role: str) -> None:
    if isinstance(messages, str):
        try:
            messages = orjson.loads(messages)
        except orjson.JSONDecodeError:
            out.append((messages, default_role, prefix))
            return
    if not isinstance(messages, list):
        return
    for i, msg in enumerate(messages):
        if not isinstance(msg, dict):
            continue
        role = msg.get("role") if isinstance(msg.get("role"), str) else default_role
        base = f"{prefix}[{i}]"
        if "content" in msg:
            _content(msg["content"], f"{base}.content", role, out)
        for k, part in enumerate(msg.get("parts") or ()):
            if not isinstance(part, dict):
                continue
            kind = part.get("type")
            if kind == "tool_call":
                _arguments(part.get("arguments"), f"{base}.parts[{k}].arguments", out)
            elif kind == "tool_call_response":
                value = part.get("response")
                text = value if isinstance(value, str) else orjson.dumps(value).decode()
                out.append((text, "tool", f"{base}.parts[{k}].response"))
            elif isinstance(part.get("content"), str):
                _content(part["content"], f"{base}.parts[{k}].content", role, out)


def _span(span: dict[str, Any]) -> Record:
    attrs = _attributes(span.get("attributes") or {})
    span_id = span.get("span_id") or span.get("spanId")
    if span_id is None and isinstance(span.get("context"), dict):
        span_id = span["context"].get("span_id")
    version = attrs.get("llmops.prompt_version") or attrs.get("prompt_version")
    rec = Record("otel", _str(span_id), _str(version))
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
