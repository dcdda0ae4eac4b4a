"""Prompt-injection detectors: instruction overrides, role hijacks, prompt extraction.

Each match carries a confidence: a phrase that is nearly always hostile ("ignore all
previous instructions", ChatML tokens in user text) scores 0.9 or more; weaker signals
("enable developer mode", "from now on you will") score lower. The
severity follows the confidence: high from 0.8, medium from 0.5, low below. The phrase
patterns run on the lower-cased text, only when one of their trigger words occurs, and
use bounded gaps, so they cannot backtrack catastrophically.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Final

from llmops.guard.findings import Hit, clip
from llmops.guard.registry import Settings, TextView, detector


def severity_for(confidence: float) -> str:
    return "high" if confidence >= 0.8 else "medium" if confidence >= 0.5 else "low"


# For a phrase pattern, literals one of which occurs in every text it matches (lower
# case): a pattern whose literals are all absent is not run. Set by ``_needs`` below.
NEEDS: dict[re.Pattern[str], tuple[str, ...]] = {}


def _needs(patterns: list[tuple[re.Pattern[str], float]], literals: list[tuple[str, ...]]) -> None:
    assert len(patterns) == len(literals)
    for (pattern, _), needed in zip(patterns, literals, strict=True):
        NEEDS[pattern] = needed


def phrase_hits(
    text: str, lower: str, patterns: list[tuple[re.Pattern[str], float]]
) -> Iterator[Hit]:
    taken: list[tuple[int, int]] = []
    for pattern, confidence in patterns:
        needed = NEEDS.get(pattern)
        if needed is not None and not any(w in lower for w in needed):
            continue
        for m in pattern.finditer(lower):
            if any(m.start() < e and s < m.end() for s, e in taken):
                continue
            taken.append((m.start(), m.end()))
            phrase = " ".join(m.group().split())
            yield Hit(
                m.start(),
                m.end(),
                phrase,
                clip(text[m.start() : m.end()]),
                confidence,
                severity_for(confidence),
            )


_W: Final = r"(?:[\w'’-]+[ \t,]+)"  # one filler word and the space after it
_TARGETS: Final = (
    r"(?:instructions?|directives?|rules|prompts?|guidelines|constraints|directions|programming|"
    r"guardrails|restrictions|polic(?:y|ies)|system message|context|commands|training|filters?|"
    r"safeguards|guidance|orders)"
)
_QUALIFIERS: Final = (
    r"(?:all|any|every|previous|prior|above|earlier|preceding|initial|original|your|the system|"
    r"system|developer|safety|existing|old|these|those|my previous)"
)


def rx(*parts: str) -> re.Pattern[str]:
    return re.compile("".join(parts))


_VERBS: Final = (
    r"(?:ignore|disregard|forget|override|bypass|neglect|abandon|discard|skip|drop|overlook"
    r"|set aside)"
)
OVERRIDE = [
    (rx(rf"\b{_VERBS}[ \t]+{_W}{{0,3}}?{_QUALIFIERS}[ \t]+{_W}{{0,2}}?{_TARGETS}\b"), 0.95),
    (
        rx(
            r"\b(?:do not|don't|dont|stop) (?:follow|obey|adhere to|listen to)",
            rf"[ \t]+{_W}{{0,2}}?{_TARGETS}\b",
        ),
        0.85,
    ),
    (rx(r"\bforget (?:about )?everything (?:you|above|before|that|i|we)\b"), 0.85),
    (rx(r"\b(?:new|updated|real|actual|revised) (?:system )?instructions?\s*:"), 0.7),
    (
        rx(
            r"\bfrom now on,? ",
            r"(?:you (?:will|must|are|shall|should)|ignore|only|respond|answer)\b",
        ),
        0.5,
    ),
    (
        rx(
            r"\b(?:instead|rather),? (?:you (?:will|must|should)|just) ",
            r"(?:say|output|print|respond|reply)\b",
        ),
        0.5,
    ),
    (
        rx(
            r"\byour (?:new|real|actual|true) ",
            r"(?:task|goal|purpose|instructions?|objective|role|job) (?:is|are)\b",
        ),
        0.7,
    ),
    (rx(rf"\b{_TARGETS} (?:no longer|don't|do not|doesn't|does not) appl(?:y|ies)\b"), 0.7),
]

_needs(
    OVERRIDE,
    [
        (
            "ignore", "disregard", "forget", "override", "bypass", "neglect", "abandon",
            "discard", "skip", "drop", "overlook", "set aside",
        ),
        ("follow", "obey", "adhere to", "listen to"),
        ("forget ",),
        ("instruction",),
        ("from now on",),
        ("instead", "rather"),
        ("your ",),
        ("appl",),
    ],
)  # fmt: skip


_OVERRIDE_WORDS: Final = (
    "ignore",
    "disregard",
    "forget",
    "override",
    "bypass",
    "neglect",
    "abandon",
    "discard",
    "overlook",
    "set aside",
    "follow",
    "obey",
    "adhere",
    "listen",
    "instruction",
    "from now on",
    "instead",
    "rather",
    "skip",
    "drop",
    "no longer appl",
    "task is",
    "task are",
    "goal is",
    "goal are",
    "purpose is",
    "purpose are",
    "objective is",
    "objective are",
    "role is",
    "role are",
    "job is",
    "job are",
    "not apply",
    "t apply",
)


@detector("injection.override", category="injection", severity="high", itriggers=_OVERRIDE_WORDS)
def override(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Instruction-override phrasings ("ignore all previous instructions")."""
    return phrase_hits(view.text, view.lower, OVERRIDE)


_UNBOUND: Final = (
    r"(?:unrestricted|unfiltered|uncensored|jailbroken|evil|unethical|amoral|rogue|unbound"
    r"|unlimited)"
)
ROLE = [
    (
        rx(
            r"<\|(?:im_start|im_end|system|endoftext|start_header_id|end_header_id|eot_id)\|>",
            r"|\[/?inst\]|<</?sys>>",
        ),
        0.9,
    ),
    (rx(r"\bdo anything now\b|\b(?:dan|jailbreak|god|evil) mode\b"), 0.9),
    (
        rx(
            r"\byou are (?:now|no longer) (?:a |an |the |in )?",
            rf"(?:dan\b|{_UNBOUND}|free (?:from|of)",
            r"|no longer|not bound|(?:developer|god|jailbreak) mode)",
        ),
        0.9,
    ),
    (
        rx(
            r"\byou are no longer (?:an? )?",
            r"(?:ai|assistant|chatbot|bound|restricted|required|limited)\b",
        ),
        0.85,
    ),
    (
        rx(
            r"\b(?:act|behave|respond|roleplay|role-play|pose) as ",
            rf"(?:an? |my )?{_W}{{0,1}}?{_UNBOUND}\b",
        ),
        0.85,
    ),
    (
        rx(
            r"\bpretend (?:to be|you are|you're|that you are) (?:an? )?",
            rf"{_W}{{0,1}}?(?:{_UNBOUND}|ai without|different ai|human)\b",
        ),
        0.85,
    ),
    (
        rx(
            r"\bpretend (?:that )?you (?:have no|don't have any|do not have any|are not bound",
            r"|can do anything)\b",
        ),
        0.85,
    ),
    (
        rx(
            r"\b(?:no longer|not) (?:bound|restricted|limited) by\b",
            r"|\bwithout any (?:restrictions|limitations|filters|rules|censorship|guidelines)\b",
        ),
        0.6,
    ),
    (
        rx(
            r"(?:^|\n)[ \t]*(?:#{1,3}[ \t]*)?(?:system|assistant)[ \t]*(?:prompt|message)?",
            r"[ \t]*:[ \t]*\S",
        ),
        0.5,
    ),
    (
        rx(
            r"\b(?:developer|debug|admin|sudo|god) mode (?:enabled|activated|is on)\b",
            r"|\b(?:enter|enable|activate|switch to) (?:the )?(?:developer|debug|admin|sudo|god)",
            r" mode\b(?! (?:on|in|for) )",
        ),
        0.5,
    ),
    (rx(r"\bstop being (?:an? |my )?(?:ai|assistant|chatbot|helpful|language model)\b"), 0.7),
    (
        rx(
            r"\byou have no ",
            r"(?:rules|restrictions|limits|limitations|guidelines|filters|boundaries)\b",
        ),
        0.6,
    ),
]

_needs(
    ROLE,
    [
        ("<|", "inst]", "sys>>"),
        ("do anything now", " mode"),
        ("you are ",),
        ("you are no longer",),
        (" as ",),
        ("pretend ",),
        ("pretend ",),
        (" by", "without any "),
        ("system", "assistant"),
        (" mode",),
        ("stop being ",),
        ("you have no ",),
    ],
)


_ROLE_HIJACK_WORDS: Final = (
    "<|",
    "[inst]",
    "[/inst]",
    "<<sys>>",
    "<</sys>>",
    "do anything now",
    " mode",
    "you are now",
    "you are no longer",
    " as ",
    "pretend",
    "jailbr",
    "bound by",
    "restricted by",
    "limited by",
    "without any",
    "system",
    "assistant",
    "stop being",
    "you have no",
)


@detector(
    "injection.role_hijack", category="injection", severity="high", itriggers=_ROLE_HIJACK_WORDS
)
def role_hijack(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Role hijacking: persona switches, jailbreak modes, chat-template tokens in text."""
    return phrase_hits(view.text, view.lower, ROLE)


_SECRET_PROMPT: Final = (
    r"(?:(?:system|initial|original|hidden|secret|internal|developer|pre-?|confidential|"
    r"underlying|starting)[ \t]*(?:prompt|instructions?|message|rules|guidelines|directives|"
    r"configuration|context)|(?:first|full|entire|exact|complete|whole)[ \t]+"
    r"(?:system prompt|prompt|instructions|system message))"
)
EXTRACTION = [
    (
        rx(
            r"\b(?:reveal|show|print|output|repeat|display|tell|give|write|recite|dump|leak|share|",
            r"disclose|expose|spell out|list|paste|return|what (?:is|are|was|were)|summarize)",
            r"[ \t]+(?:me[ \t]+|us[ \t]+)?(?:all[ \t]+)?(?:of[ \t]+)?(?:your|the|this|its)[ \t]+",
            rf"{_W}{{0,2}}?{_SECRET_PROMPT}",
        ),
        0.85,
    ),
    (
        rx(
            r"\brepeat (?:the |all |back )?(?:the )?",
            r"(?:words|text|everything|content|instructions|lines?)[ \t]+",
            r"(?:above|before|preceding|prior|verbatim)",
        ),
        0.8,
    ),
    (
        rx(
            r"\b(?:instructions|prompt)\b[\w \t]{0,24}\bverbatim\b",
            r"|\bverbatim\b[\w \t]{0,24}\b(?:instructions|prompt)\b",
        ),
        0.8,
    ),
    (rx(r"\bwhat (?:were|are|was) you (?:told|instructed|programmed|prompted)\b"), 0.7),
    (rx(r"\b(?:starting|beginning) with [\"'“]?you are\b"), 0.7),
    (rx(r"\b(?:everything|all (?:the )?text|the text) (?:above|before) (?:this|here)\b"), 0.6),
]

_needs(
    EXTRACTION,
    [
        (
            "prompt", "instruction", "message", "rules", "guidelines", "directives",
            "configuration", "context",
        ),
        ("repeat ",),
        ("verbatim",),
        ("what ",),
        ("you are",),
        ("above", "before"),
    ],
)  # fmt: skip


_PROMPT_EXTRACTION_WORDS: Final = (
    "prompt",
    "instruction",
    "repeat",
    "verbatim",
    "you told",
    "you instructed",
    "you programmed",
    "you prompted",
    "starting with",
    "beginning with",
    "above",
    "before this",
    "before here",
    "rules",
    "guidelines",
    "directives",
    "configuration",
    "message",
    "context",
)


@detector(
    "injection.prompt_extraction",
    category="injection",
    severity="high",
    itriggers=_PROMPT_EXTRACTION_WORDS,
)
def prompt_extraction(view: TextView, settings: Settings) -> Iterator[Hit]:
    """System-prompt extraction attempts ("print your system prompt verbatim")."""
    return phrase_hits(view.text, view.lower, EXTRACTION)
