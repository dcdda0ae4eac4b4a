"""Reading OpenAI-shaped chat completion documents, whichever server produced them."""

from __future__ import annotations

from typing import Any

from llmops.providers.base import Completion, TokenLogprob


class MalformedResponse(ValueError):
    """A response body that is not a chat completion."""


def parse_logprobs(obj: Any) -> list[TokenLogprob] | None:
    """Token log probabilities from a choice's ``logprobs`` field.

    Reads the chat shape (``{"content": [{token, logprob, top_logprobs: [...]}]}``) and the
    legacy completions shape (``{"tokens", "token_logprobs", "top_logprobs": [{tok: lp}]}``).
    Among alternatives with the same text, the first (most likely) is kept.
    """
    if not isinstance(obj, dict):
        return None
    content = obj.get("content")
    if isinstance(content, list):
        out = []
        for entry in content:
            top: dict[str, float] = {}
            for alt in entry.get("top_logprobs") or ():
                top.setdefault(alt["token"], float(alt["logprob"]))
            out.append(TokenLogprob(entry["token"], float(entry["logprob"]), top))
        return out
    tokens = obj.get("tokens")
    if isinstance(tokens, list):
        lps = obj.get("token_logprobs") or [None] * len(tokens)
        tops = obj.get("top_logprobs") or [None] * len(tokens)
        return [
            TokenLogprob(tok, float(lp) if lp is not None else float("-inf"),
                         {k: float(v) for k, v in (top or {}).items()})
            for tok, lp, top in zip(tokens, lps, tops, strict=False)
        ]
    return None


def completion_from_dict(data: Any, *, latency_ms: float, fallback_model: str) -> Completion:
    """A :class:`Completion` from a ``chat.completion`` document.

    Raises:
        MalformedResponse: when the document has no first choice with a message.
    """
    try:
        choice = data["choices"][0]
        message = choice["message"]
    except (KeyError, IndexError, TypeError) as exc:
        raise MalformedResponse("the response has no choices[0].message") from exc
    if not isinstance(message, dict):
        raise MalformedResponse("choices[0].message is not an object")
    usage = data.get("usage") or {}
    try:
        logprobs = parse_logprobs(choice.get("logprobs"))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse("choices[0].logprobs is malformed") from exc
    return Completion(
        text=message.get("content") or "",
        model=data.get("model") or fallback_model,
        latency_ms=latency_ms,
        prompt_tokens=usage.get("prompt_tokens"),
        completion_tokens=usage.get("completion_tokens"),
        finish_reason=choice.get("finish_reason"),
        logprobs=logprobs,
    )


def request_params(defaults: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """What is sent to the model: defaults overridden by ``params``, minus ``_``-keys.

    Keys starting with ``_`` (for example ``_sample``) are part of the cache key only:
    they let a caller ask for a fresh sample of an otherwise identical call.
    """
    merged = {**defaults, **params} if defaults else params
    return {k: v for k, v in merged.items() if not k.startswith("_")}


def answer_problem(data: Any) -> tuple[str, bool] | None:
    """Why a well-formed chat completion is still no answer, and whether to ask again.

    A filtered answer (``finish_reason: content_filter``) or a refusal is final; an empty
    answer is retried, unless the token limit cut it off before any text. A tool call is
    an answer. Returns None for a usable answer.
    """
    choice = data["choices"][0]
    message = choice["message"]
    finish = choice.get("finish_reason")
    if finish == "content_filter":
        return "the endpoint filtered the answer (finish_reason content_filter)", False
    if message.get("content") or message.get("tool_calls") or message.get("function_call"):
        return None
    refusal = message.get("refusal")
    if refusal:
        return f"the model refused: {str(refusal)[:200]}", False
    if finish == "length":
        return "empty answer: max_tokens was reached before any text (finish_reason length)", False
    return f"empty answer (finish_reason {finish})", True


def estimate_tokens(body: dict[str, Any]) -> float:
    """About how many tokens a chat request counts against a tokens-per-minute limit.

    As OpenAI counts it: the prompt (about 4 characters a token) plus ``max_tokens``.
    """
    chars = 0
    for message in body.get("messages") or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            chars += len(content)
        elif content is not None:
            chars += len(str(content))
    limit = body.get("max_tokens") or body.get("max_completion_tokens") or 0
    return chars / 4 + (limit if isinstance(limit, int | float) else 0)
