"""OpenAI Responses API: requests and responses, alone or logged as a pair.

- request: ``{"model", "instructions"?, "input": str | [items]}``; input items are
  messages (``{"role", "content": str | [{"type": "input_text", "text"}]}``), earlier
  ``function_call`` items and the ``function_call_output`` the application sent back
- response: ``{"id": "resp_...", "object": "response", "output": [items]}``; output items
  are ``message`` (``content[].text`` of ``output_text`` parts, ``refusal``),
  ``function_call`` (its ``arguments``) and ``reasoning`` (its ``summary``)
- a pair: ``{"id", "request": {...}, "response": {...}}``
"""

from __future__ import annotations

from typing import Any

from llmops.guard.readers import Record, Text, shape
from llmops.guard.shapes._envelope import api_of, as_str, prompt_version, responses_response
from llmops.guard.shapes._messages import content, messages

_NOT_A_REQUEST = ("output", "response", "messages", "inputs", "outputs")


def _claims(obj: dict[str, Any]) -> bool:
    if "request" in obj or "response" in obj:
        return api_of(obj.get("request"), obj.get("response")) == "openai_responses"
    if responses_response(obj) and "object" in obj:
        return True
    return "input" in obj and "model" in obj and not any(k in obj for k in _NOT_A_REQUEST)


def _request(req: dict[str, Any], prefix: str, out: list[Text]) -> None:
    content(req.get("instructions"), f"{prefix}instructions", "system", out)
    messages(req.get("input"), f"{prefix}input", out, "user")


def _response(resp: dict[str, Any], prefix: str, out: list[Text], instructions: bool) -> None:
    if instructions:  # a response echoes the request's instructions
        content(resp.get("instructions"), f"{prefix}instructions", "system", out)
    messages(resp.get("output"), f"{prefix}output", out, "assistant")


@shape(
    "openai_responses", claims=_claims, order=40, fields="instructions, input, output"
)
def read_responses(obj: dict[str, Any]) -> Record:
    """OpenAI Responses API: instructions, input items and output items."""
    request, response = obj.get("request"), obj.get("response")
    rec_id = obj.get("id")
    texts: list[Text] = []
    if isinstance(request, dict) or isinstance(response, dict):
        if isinstance(request, dict):
            _request(request, "request.", texts)
        if isinstance(response, dict):
            _response(response, "response.", texts, not isinstance(request, dict))
            rec_id = rec_id or response.get("id")
    elif "output" in obj:  # a response, or one log record of input and output together
        content(obj.get("instructions"), "instructions", "system", texts)
        messages(obj.get("input"), "input", texts, "user")
        messages(obj.get("output"), "output", texts, "assistant")
    else:
        _request(obj, "", texts)
    return Record("openai_responses", as_str(rec_id), prompt_version(obj), texts)
