"""Anthropic Messages API: requests and responses, alone or logged as a pair.

- request: ``{"model", "system"?: str | [blocks], "messages": [{"role", "content": str |
  [blocks]}], ...}``; blocks are ``text``, ``image``, ``tool_use`` (the model's call, its
  ``input``), ``tool_result`` (the tool's answer, its ``content``), ``thinking``
- response: ``{"id": "msg_...", "type": "message", "role": "assistant", "content": [blocks]}``
- a pair: ``{"id", "request": {...}, "response": {...}}``
"""

from __future__ import annotations

from typing import Any

from llmops.guard.readers import Record, Text, shape
from llmops.guard.shapes._envelope import (
    anthropic_request,
    anthropic_response,
    api_of,
    as_str,
    prompt_version,
)
from llmops.guard.shapes._messages import content, messages


def _claims(obj: dict[str, Any]) -> bool:
    if "request" in obj or "response" in obj:
        return api_of(obj.get("request"), obj.get("response")) == "anthropic"
    if anthropic_response(obj):
        return True
    return isinstance(obj.get("messages"), list) and anthropic_request(obj)


def _request(req: dict[str, Any], prefix: str, out: list[Text]) -> None:
    content(req.get("system"), f"{prefix}system", "system", out)
    messages(req.get("messages"), f"{prefix}messages", out)


def _response(resp: dict[str, Any], prefix: str, out: list[Text]) -> None:
    role = resp.get("role") if type(resp.get("role")) is str else "assistant"
    content(resp.get("content"), f"{prefix}content", role, out)


@shape("anthropic", claims=_claims, order=30, fields="system, messages, content")
def read_anthropic(obj: dict[str, Any]) -> Record:
    """Anthropic Messages: system, messages and content blocks."""
    request, response = obj.get("request"), obj.get("response")
    rec_id = obj.get("id")
    texts: list[Text] = []
    if isinstance(request, dict) or isinstance(response, dict):
        if isinstance(request, dict):
            _request(request, "request.", texts)
        if isinstance(response, dict):
            _response(response, "response.", texts)
            rec_id = rec_id or response.get("id")
    elif anthropic_response(obj):
        _response(obj, "", texts)
    else:
        _request(obj, "", texts)
    return Record("anthropic", as_str(rec_id), prompt_version(obj), texts)
