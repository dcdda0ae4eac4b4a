"""Which API a logged call belongs to, and the fields every shape reads the same way.

Gateways and application logs often write one line per call as ``{"id", "request":
{...}, "response": {...}}``, whatever the API. :func:`api_of` tells the three APIs
apart from their payloads: OpenAI chat completions (``messages`` in, ``choices`` out),
Anthropic Messages (``system`` and content blocks in, a ``message`` with content blocks
out) and the OpenAI Responses API (``input``/``instructions`` in, ``output`` items out).
"""

from __future__ import annotations

from typing import Any

ANTHROPIC_BLOCKS = frozenset(("tool_use", "tool_result", "thinking", "redacted_thinking"))


def anthropic_request(req: dict[str, Any]) -> bool:
    """Whether a request body is an Anthropic Messages request (not an OpenAI chat one)."""
    if "system" in req or "anthropic_version" in req:
        return True
    if str(req.get("model") or "").startswith("claude"):
        return True
    msgs = req.get("messages")
    if isinstance(msgs, list):
        for msg in msgs:
            parts = msg.get("content") if isinstance(msg, dict) else None
            if isinstance(parts, list) and any(
                isinstance(p, dict) and p.get("type") in ANTHROPIC_BLOCKS for p in parts
            ):
                return True
    return False


def anthropic_response(resp: dict[str, Any]) -> bool:
    """Whether a response body is an Anthropic ``message``."""
    return resp.get("type") == "message" and isinstance(resp.get("content"), list)


def responses_response(resp: dict[str, Any]) -> bool:
    """Whether a response body is an OpenAI Responses API ``response``."""
    return resp.get("object") == "response" or (
        isinstance(resp.get("output"), list) and "choices" not in resp
    )


def api_of(request: Any, response: Any) -> str | None:
    """``openai``, ``anthropic`` or ``openai_responses`` for a logged request/response."""
    if isinstance(response, dict):
        if "choices" in response:
            return "openai"
        if anthropic_response(response):
            return "anthropic"
        if responses_response(response):
            return "openai_responses"
    if isinstance(request, dict):
        if "messages" in request:
            return "anthropic" if anthropic_request(request) else "openai"
        if "input" in request or "instructions" in request:
            return "openai_responses"
    return None


def as_str(value: Any) -> str | None:
    return value if value is None or type(value) is str else str(value)


def prompt_version(obj: dict[str, Any]) -> str | None:
    """``prompt_version``, at the top of a record or in its ``metadata``."""
    value = obj.get("prompt_version")
    if type(value) is str:
        return value
    if value is None and isinstance(obj.get("metadata"), dict):
        value = obj["metadata"].get("prompt_version")
    return as_str(value)
