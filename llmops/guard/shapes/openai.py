"""OpenAI chat completions: a logged request/response pair, a bare completion, batch lines.

- ``{"id", "prompt_version"?, "request": {"messages": [...]}, "response": {"choices": [...]}}``
- a bare ``chat.completion`` (or ``text_completion``) object
- batch input and output lines: ``{"custom_id", "body"?: {...}, "response": {"body": {...}}}``

This is the most common shape of all, so its reader has a fast path for the usual
message (a role and a string content, nothing else).
"""

from __future__ import annotations

from typing import Any

from llmops.guard.readers import Record, Text, shape
from llmops.guard.shapes._envelope import api_of, as_str, prompt_version
from llmops.guard.shapes._messages import add, message, messages

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


def _choices(body: Any, prefix: str, out: list[Text]) -> None:
    if not isinstance(body, dict) or not isinstance(body.get("choices"), list):
        return
    head = f"{prefix}.choices" if prefix else "choices"
    paths = _paths(head, ".message.content")
    for i, choice in enumerate(body["choices"]):
        if not isinstance(choice, dict):
            continue
        msg = choice.get("message")
        if type(msg) is dict and len(msg) == 2 and type(content := msg.get("content")) is str:
            if content:
                path = paths[i] if i < 16 else f"{head}[{i}].message.content"
                out.append((content, msg.get("role") or "assistant", path))
            continue
        if isinstance(msg, dict):
            message(msg, f"{head}[{i}].message", out, "assistant")
        else:
            add(choice.get("text"), "assistant", f"{head}[{i}].text", out)


def _claims(obj: dict[str, Any]) -> bool:
    if "request" in obj or isinstance(obj.get("response"), dict):
        return api_of(obj.get("request"), obj.get("response")) in ("openai", None) and (
            "request" in obj or "choices" in obj["response"]
        )
    return obj.get("object") in ("chat.completion", "text_completion") and "choices" in obj


@shape("openai", claims=_claims, order=10, fields="request.messages, response.choices")
def read_openai(obj: dict[str, Any]) -> Record:
    """OpenAI chat completions: request messages and response choices."""
    if "request" not in obj and "response" not in obj:  # a bare completion object
        rec = Record("openai", as_str(obj.get("id")), prompt_version(obj))
        _choices(obj, "", rec.texts)
        return rec
    texts: list[Text] = []
    request = obj.get("request")
    if isinstance(request, dict):
        msgs = request.get("messages")
        if type(msgs) is list:
            for i, msg in enumerate(msgs):
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
                    message(msg, f"request.messages[{i}]", texts)
        if isinstance(request.get("prompt"), str):
            add(request["prompt"], "user", "request.prompt", texts)
    _choices(obj.get("response"), "response", texts)
    return Record("openai", as_str(obj.get("id")), prompt_version(obj), texts)


@shape(
    "openai_batch",
    claims=lambda obj: "custom_id" in obj,
    order=20,
    fields="body.messages, response.body.choices",
)
def read_batch(obj: dict[str, Any]) -> Record:
    """OpenAI Batch API input and output lines."""
    rec = Record("openai_batch", as_str(obj.get("custom_id")), prompt_version(obj))
    body = obj.get("body")
    if isinstance(body, dict):  # a batch input line
        messages(body.get("messages"), "body.messages", rec.texts)
    response = obj.get("response")
    if isinstance(response, dict):
        _choices(response.get("body"), "response.body", rec.texts)
    return rec
