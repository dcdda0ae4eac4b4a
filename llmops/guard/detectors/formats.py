"""Format detectors for model outputs: JSON validity or schema, and refusals.

``format.json`` only fires on an output that is expected to be JSON: when the project
sets ``guard.json_schema``, or when the text itself opens as JSON (``{``, ``[`` or a
```` ```json ```` fence) and does not parse. ``format.refusal`` flags the stock refusal
phrasings ("I'm sorry, but I can't help with that").
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import orjson

from llmops.guard.findings import Hit, clip
from llmops.guard.registry import Settings, TextView, detector

_FENCE = re.compile(r"^\s*```(?:json)?\s*\n(.*?)\n?```\s*$", re.DOTALL)


def _json_body(text: str) -> tuple[str, bool]:
    m = _FENCE.match(text)
    return (m.group(1), True) if m else (text, False)


@detector("format.json", category="format", severity="medium")
def json_output(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Outputs that should be JSON but do not parse or break the configured schema."""
    text = view.text
    body, fenced = _json_body(text)
    body = body.strip()
    expected = settings.json_required or fenced or body[:1] in ("{", "[")
    if not expected:
        return
    try:
        value = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        yield Hit(0, len(text), "invalid", f"invalid JSON: {clip(str(exc), 70)}")
        return
    if settings.json_validator is not None:
        error = next(iter(settings.json_validator.iter_errors(value)), None)
        if error is not None:
            where = "/".join(str(p) for p in error.absolute_path) or "(root)"
            yield Hit(
                0, len(text), f"schema:{where}", f"schema: {where}: {clip(error.message, 60)}"
            )


_REFUSAL = re.compile(
    r"\b(?:i'?m sorry,? but i (?:can(?:no|')t|am unable|won'?t)|i (?:can(?:no|')t|am unable to|"
    r"won'?t) (?:help|assist|comply|provide|do that|fulfil+|answer|share|support) (?:with )?"
    r"(?:that|this|your request|you with)|as an ai(?: language model)?,? i (?:can(?:no|')t|don'?t|"
    r"am not able)|i'?m (?:not able|unable) to (?:help|assist|comply|provide) "
    r"(?:with )?(?:that|this)|"
    r"i must (?:decline|refuse)|i (?:cannot|can't|won't) (?:engage|participate) in)"
)


@detector(
    "format.refusal",
    category="format",
    severity="low",
    itriggers=(
        "sorry",
        "can't",
        "can’t",
        "cannot",
        "won't",
        "won’t",
        "unable",
        "not able",
        "as an ai",
        "decline",
        "refuse",
    ),
)
def refusal(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Stock refusal phrasings in a model's answer."""
    lower = view.lower.replace("’", "'")
    m = _REFUSAL.search(lower)
    if m is not None:
        phrase = " ".join(m.group().split())
        yield Hit(m.start(), m.end(), phrase, clip(view.text[m.start() : m.end()], 60))
