"""What the shapes share: chat messages, content parts and free-form payloads as texts.

One reader for every message dialect the tools log: OpenAI chat messages (string or
part-list content, ``tool_calls``, ``refusal``), Anthropic content blocks (``text``,
``tool_use`` input, ``tool_result`` content, ``thinking``), LangChain messages (the
serialized ``{"lc": 1, "kwargs": ...}`` form and the ``{"type": "human", ...}`` form),
OpenAI Responses items (``message``, ``function_call``, ``function_call_output``,
``reasoning``) and generations. :func:`payload` reads a value of unknown form (a
Langfuse ``input``, a LangSmith ``outputs``): the message containers it knows, else every
string in it.
"""

from __future__ import annotations

from typing import Any

import orjson

from llmops.guard.readers import Text

# LangChain message types and class names -> the role that wrote the message.
ROLE_OF_TYPE = {
    "human": "user", "HumanMessage": "user", "HumanMessageChunk": "user",
    "ai": "assistant", "AIMessage": "assistant", "AIMessageChunk": "assistant",
    "system": "system", "SystemMessage": "system", "SystemMessageChunk": "system",
    "tool": "tool", "ToolMessage": "tool", "ToolMessageChunk": "tool",
    "function": "tool", "FunctionMessage": "tool", "FunctionMessageChunk": "tool",
    "chat": None, "ChatMessage": None, "ChatMessageChunk": None,
}  # fmt: skip
# Responses API items that are not a message: the call a model made, the result it got.
CALL_ITEMS = {"function_call": "arguments", "custom_tool_call": "input", "mcp_call": "arguments"}
RESULT_ITEMS = {
    "function_call_output": "output", "custom_tool_call_output": "output",
    "computer_call_output": "output", "mcp_call": "output",
}  # fmt: skip
# Keys whose values are never conversation text (ids, media, signatures, settings).
SKIP = frozenset((
    "id", "type", "role", "model", "name", "tool_call_id", "call_id", "tool_use_id", "signature",
    "image_url", "url", "source", "encrypted_content", "mime_type", "object", "created", "usage",
    "usage_metadata", "response_metadata", "logprobs", "finish_reason", "stop_reason", "status",
    "index", "metadata", "cache_control", "tools", "tool_choice", "temperature", "max_tokens",
    "lc", "lc_kwargs", "invocation_params", "options", "annotations",
))  # fmt: skip
MAX_DEPTH = 12


def add(text: Any, role: str | None, path: str, out: list[Text]) -> None:
    """One text, when it is a non-empty string."""
    if type(text) is str and text:
        out.append((text, role, path))


def arguments(args: Any, path: str, out: list[Text]) -> None:
    """The arguments of a call the model made (a JSON string or a value)."""
    if isinstance(args, str):
        add(args, "tool_call", path, out)
    elif args is not None:
        out.append((orjson.dumps(args).decode(), "tool_call", path))


def content(value: Any, path: str, role: str | None, out: list[Text]) -> None:
    """A message's content: a string, one part, or a list of parts."""
    if isinstance(value, str):
        add(value, role, path, out)
    elif isinstance(value, list):
        for k, part in enumerate(value):
            if isinstance(part, str):
                add(part, role, f"{path}[{k}]", out)
            elif isinstance(part, dict):
                _part(part, f"{path}[{k}]", role, out)
    elif isinstance(value, dict):
        _part(value, path, role, out)


def _part(part: dict[str, Any], path: str, role: str | None, out: list[Text]) -> None:
    kind = part.get("type")
    if kind in ("tool_use", "server_tool_use", "tool_call"):  # Anthropic, LangChain blocks
        for key in ("input", "args", "arguments"):
            if key in part:
                arguments(part[key], f"{path}.{key}", out)
                break
    elif kind in ("tool_result", "web_search_tool_result"):
        content(part.get("content"), f"{path}.content", "tool", out)
    elif kind == "thinking":
        add(part.get("thinking"), role, f"{path}.thinking", out)
    elif kind == "refusal":
        add(part.get("refusal"), role, f"{path}.refusal", out)
    else:
        for key in ("text", "content", "input_text", "output_text"):
            if isinstance(part.get(key), str | list):
                content(part[key], f"{path}.{key}", role, out)
                break


def tool_calls(msg: dict[str, Any], base: str, out: list[Text]) -> None:
    """The calls in a message: OpenAI ``tool_calls``/``function_call``, LangChain ``args``."""
    calls = msg.get("tool_calls")
    if isinstance(calls, list) and calls:
        for j, call in enumerate(calls):
            if not isinstance(call, dict):
                continue
            fn = call.get("function")
            if isinstance(fn, dict):
                arguments(fn.get("arguments"), f"{base}.tool_calls[{j}].function.arguments", out)
            elif "args" in call:
                arguments(call["args"], f"{base}.tool_calls[{j}].args", out)
        return
    legacy = msg.get("function_call")
    if isinstance(legacy, dict):
        arguments(legacy.get("arguments"), f"{base}.function_call.arguments", out)
        return
    extra = msg.get("additional_kwargs")  # LangChain keeps the provider's calls here
    if isinstance(extra, dict) and ("tool_calls" in extra or "function_call" in extra):
        tool_calls(extra, f"{base}.additional_kwargs", out)


def message(msg: Any, base: str, out: list[Text], default_role: str | None = None) -> None:
    """One message (or one Responses item) in any of the dialects above."""
    if isinstance(msg, str):
        add(msg, default_role, base, out)
        return
    if not isinstance(msg, dict):
        return
    role = msg.get("role")
    kind = msg.get("type")
    if "lc" in msg and isinstance(msg.get("kwargs"), dict):  # LangChain, serialized
        kwargs = msg["kwargs"]
        ident = msg.get("id")
        cls = ident[-1] if isinstance(ident, list) and ident else ""
        role = ROLE_OF_TYPE.get(cls) or ROLE_OF_TYPE.get(kwargs.get("type")) or kwargs.get("role")
        _body(kwargs, f"{base}.kwargs", role if type(role) is str else default_role, out)
        return
    if type(role) is not str:
        if kind in CALL_ITEMS or kind in RESULT_ITEMS or kind == "reasoning":
            _item(msg, kind, base, out)
            return
        role = ROLE_OF_TYPE.get(kind) if type(kind) is str else None
        if isinstance(msg.get("data"), dict):  # LangChain messages_to_dict
            data = msg["data"]
            _body(data, f"{base}.data", role or data.get("role") or default_role, out)
            return
    _body(msg, base, role if type(role) is str else default_role, out)


def _body(msg: dict[str, Any], base: str, role: str | None, out: list[Text]) -> None:
    content(msg.get("content"), f"{base}.content", role, out)
    add(msg.get("refusal"), role, f"{base}.refusal", out)
    tool_calls(msg, base, out)


def _item(item: dict[str, Any], kind: str, base: str, out: list[Text]) -> None:
    key = CALL_ITEMS.get(kind)
    if key is not None:
        arguments(item.get(key), f"{base}.{key}", out)
    key = RESULT_ITEMS.get(kind)
    if key is not None:
        content(item.get(key), f"{base}.{key}", "tool", out)
    if kind == "reasoning":
        content(item.get("summary"), f"{base}.summary", "assistant", out)


def messages(value: Any, prefix: str, out: list[Text], default_role: str | None = None) -> None:
    """A list of messages; a list of lists (LangChain batches) too."""
    if isinstance(value, list):
        for i, msg in enumerate(value):
            if isinstance(msg, list):
                messages(msg, f"{prefix}[{i}]", out, default_role)
            else:
                message(msg, f"{prefix}[{i}]", out, default_role)
    elif isinstance(value, dict | str):
        message(value, prefix, out, default_role)


def choices(body: Any, prefix: str, out: list[Text]) -> None:
    """The choices of a chat (or text) completion: the assistant's answers."""
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return
    for i, choice in enumerate(body["choices"]):
        if not isinstance(choice, dict):
            continue
        if isinstance(choice.get("message"), dict):
            message(choice["message"], f"{prefix}choices[{i}].message", out, "assistant")
        elif isinstance(choice.get("text"), str):
            add(choice["text"], "assistant", f"{prefix}choices[{i}].text", out)


def generations(value: Any, prefix: str, out: list[Text]) -> None:
    """LangChain ``generations``: lists of ``{"text", "message"?}``, written by the model."""
    if not isinstance(value, list):
        return
    for i, gen in enumerate(value):
        path = f"{prefix}[{i}]"
        if isinstance(gen, list):
            generations(gen, path, out)
        elif isinstance(gen, dict):
            if isinstance(gen.get("message"), dict):
                message(gen["message"], f"{path}.message", out, "assistant")
            else:
                add(gen.get("text"), "assistant", f"{path}.text", out)


def is_message(value: Any) -> bool:
    """Whether a dict is one message or Responses item (in any dialect above)."""
    if not isinstance(value, dict):
        return False
    if "role" in value:
        return "content" in value or "tool_calls" in value or "parts" in value
    if "lc" in value:
        return isinstance(value.get("kwargs"), dict)
    kind = value.get("type")
    if kind in ROLE_OF_TYPE:
        return "content" in value or "data" in value
    return kind in CALL_ITEMS or kind in RESULT_ITEMS


def _is_messages(value: list[Any]) -> bool:
    first = value[0] if value else None
    if isinstance(first, list):
        first = first[0] if first else None
    return is_message(first)


def _json_messages(text: str) -> Any:
    # A JSON string that holds messages is read as messages, so each keeps its role;
    # any other string is scanned as it is.
    if text[:1] not in ("[", "{"):
        return None
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError:
        return None
    if isinstance(value, list) and _is_messages(value):
        return value
    if isinstance(value, dict) and (is_message(value) or "messages" in value):
        return value
    return None


def payload(value: Any, path: str, role: str | None, out: list[Text], depth: int = 0) -> None:
    """Texts of a value of unknown form: known message containers, else every string.

    ``role`` is the role of the texts found outside any message: ``user`` for what went
    into a model or a chain, ``assistant`` for what came out.
    """
    if depth > MAX_DEPTH:
        return
    if isinstance(value, str):
        parsed = _json_messages(value)
        if parsed is None:
            add(value, role, path, out)
        else:
            payload(parsed, path, role, out, depth + 1)
    elif isinstance(value, list):
        if _is_messages(value):
            messages(value, path, out, role)
        else:
            for i, item in enumerate(value):
                payload(item, f"{path}[{i}]", role, out, depth + 1)
    elif isinstance(value, dict):
        if is_message(value):
            message(value, path, out, role)
        elif not _containers(value, path, role, out):
            for key, item in value.items():
                if key not in SKIP:
                    payload(item, f"{path}.{key}", role, out, depth + 1)


def _containers(value: dict[str, Any], path: str, role: str | None, out: list[Text]) -> bool:
    """Read the message containers in ``value``; whether it had any."""
    found = False
    if "messages" in value:
        messages(value["messages"], f"{path}.messages", out, role)
        found = True
    if "choices" in value:
        choices(value, f"{path}.", out)
        found = True
    if "generations" in value:
        generations(value["generations"], f"{path}.generations", out)
        found = True
    for key, key_role in (("system", "system"), ("instructions", "system")):
        if key in value:
            content(value[key], f"{path}.{key}", key_role, out)
            found = True
    for key, key_role in (("prompt", "user"), ("prompts", "user")):
        if key in value:
            content(value[key], f"{path}.{key}", key_role, out)
            found = True
    if isinstance(value.get("input"), list):  # Responses API input items
        messages(value["input"], f"{path}.input", out, "user")
        found = True
    if isinstance(value.get("output"), list):  # Responses API output items
        messages(value["output"], f"{path}.output", out, "assistant")
        found = True
    return found
