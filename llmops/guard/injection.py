"""Prompt-injection detectors: phrasings, hidden Unicode and encoded payloads.

Each match carries a confidence: a phrase that is nearly always hostile ("ignore all
previous instructions", ChatML tokens in user text, Unicode tag characters) scores 0.9
or more; weaker signals ("developer mode", a lone zero-width space) score lower. The
severity follows the confidence: high from 0.8, medium from 0.5, low below. The phrase
patterns run on the lower-cased text, only when one of their trigger words occurs, and
use bounded gaps, so they cannot backtrack catastrophically.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator

from llmops.guard.findings import Hit, clip
from llmops.guard.registry import Settings, TextView, detector


def _severity(confidence: float) -> str:
    return "high" if confidence >= 0.8 else "medium" if confidence >= 0.5 else "low"


def _phrase_hits(
    text: str, lower: str, patterns: list[tuple[re.Pattern[str], float]]
) -> Iterator[Hit]:
    taken: list[tuple[int, int]] = []
    for pattern, confidence in patterns:
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
                _severity(confidence),
            )


_W = r"(?:[\w'’-]+[ \t,]+)"  # one filler word and the space after it
_TARGETS = (
    r"(?:instructions?|directives?|rules|prompts?|guidelines|constraints|directions|programming|"
    r"guardrails|restrictions|polic(?:y|ies)|system message|context|commands|training|filters?|"
    r"safeguards|guidance|orders)"
)
_QUALIFIERS = (
    r"(?:all|any|every|previous|prior|above|earlier|preceding|initial|original|your|the system|"
    r"system|developer|safety|existing|old|these|those|my previous)"
)

_OVERRIDE = [
    (
        re.compile(
            r"\b(?:ignore|disregard|forget|override|bypass|neglect|abandon|discard|skip|drop|"
            rf"overlook|set aside)[ \t]+{_W}{{0,3}}?{_QUALIFIERS}[ \t]+{_W}{{0,2}}?{_TARGETS}\b"
        ),
        0.95,
    ),
    (
        re.compile(
            rf"\b(?:do not|don't|dont|stop) (?:follow|obey|adhere to|listen to)[ \t]+{_W}{{0,2}}?{_TARGETS}\b"
        ),
        0.85,
    ),
    (re.compile(r"\bforget (?:about )?everything (?:you|above|before|that|i|we)\b"), 0.85),
    (re.compile(r"\b(?:new|updated|real|actual|revised) (?:system )?instructions?\s*:"), 0.7),
    (
        re.compile(
            r"\bfrom now on,? (?:you (?:will|must|are|shall|should)|ignore|only|respond|answer)\b"
        ),
        0.5,
    ),
    (
        re.compile(
            r"\b(?:instead|rather),? (?:you (?:will|must|should)|just) (?:say|output|print|respond|reply)\b"
        ),
        0.5,
    ),
    (
        re.compile(
            r"\byour (?:new|real|actual|true) (?:task|goal|purpose|instructions?|objective|role|job) (?:is|are)\b"
        ),
        0.7,
    ),
    (re.compile(rf"\b{_TARGETS} (?:no longer|don't|do not|doesn't|does not) appl(?:y|ies)\b"), 0.7),
]


@detector(
    "injection.override",
    category="injection",
    severity="high",
    itriggers=("ignore", "disregard", "forget", "override", "bypass", "neglect", "abandon",
               "discard", "overlook", "set aside", "follow", "obey", "adhere", "listen",
               "instruction", "from now on", "instead", "rather", "skip", "drop", "your new",
               "your real", "your actual", "your true", "no longer appl", "not apply", "t apply"),
)  # fmt: skip
def override(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Instruction-override phrasings ("ignore all previous instructions")."""
    return _phrase_hits(view.text, view.lower, _OVERRIDE)


_UNBOUND = r"(?:unrestricted|unfiltered|uncensored|jailbroken|evil|unethical|amoral|rogue|unbound|unlimited)"
_ROLE = [
    (
        re.compile(
            r"<\|(?:im_start|im_end|system|endoftext|start_header_id|end_header_id|eot_id)\|>|\[/?inst\]|<</?sys>>"
        ),
        0.9,
    ),
    (re.compile(r"\bdo anything now\b|\b(?:dan|jailbreak|god|evil) mode\b"), 0.9),
    (
        re.compile(
            rf"\byou are (?:now|no longer) (?:a |an |the |in )?(?:dan\b|{_UNBOUND}|free (?:from|of)|no longer|not bound|(?:developer|god|jailbreak) mode)"
        ),
        0.9,
    ),
    (
        re.compile(
            r"\byou are no longer (?:an? )?(?:ai|assistant|chatbot|bound|restricted|required|limited)\b"
        ),
        0.85,
    ),
    (
        re.compile(
            rf"\b(?:act|behave|respond|roleplay|role-play|pose) as (?:an? |my )?{_W}{{0,1}}?{_UNBOUND}\b"
        ),
        0.85,
    ),
    (
        re.compile(
            rf"\bpretend (?:to be|you are|you're|that you are) (?:an? )?{_W}{{0,1}}?(?:{_UNBOUND}|ai without|different ai|human)\b"
        ),
        0.85,
    ),
    (
        re.compile(
            r"\bpretend (?:that )?you (?:have no|don't have any|do not have any|are not bound|can do anything)\b"
        ),
        0.85,
    ),
    (
        re.compile(
            r"\b(?:no longer|not) (?:bound|restricted|limited) by\b|\bwithout any (?:restrictions|limitations|filters|rules|censorship|guidelines)\b"
        ),
        0.6,
    ),
    (
        re.compile(
            r"(?:^|\n)[ \t]*(?:#{1,3}[ \t]*)?(?:system|assistant)[ \t]*(?:prompt|message)?[ \t]*:[ \t]*\S"
        ),
        0.5,
    ),
    (
        re.compile(
            r"\b(?:developer|debug|admin|sudo|god) mode (?:enabled|activated|is on)\b|\b(?:enter|enable|activate|switch to) (?:the )?(?:developer|debug|admin|sudo|god) mode\b(?! (?:on|in|for) )"
        ),
        0.5,
    ),
    (
        re.compile(r"\bstop being (?:an? |my )?(?:ai|assistant|chatbot|helpful|language model)\b"),
        0.7,
    ),
    (
        re.compile(
            r"\byou have no (?:rules|restrictions|limits|limitations|guidelines|filters|boundaries)\b"
        ),
        0.6,
    ),
]


@detector(
    "injection.role_hijack",
    category="injection",
    severity="high",
    itriggers=("<|", "[inst]", "[/inst]", "<<sys>>", "<</sys>>", "do anything now", " mode", "you are now",
               "you are no longer", " as ", "pretend", "jailbr", "bound by", "restricted by",
               "limited by", "without any", "system", "assistant", "stop being", "you have no"),
)  # fmt: skip
def role_hijack(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Role hijacking: persona switches, jailbreak modes, chat-template tokens in text."""
    return _phrase_hits(view.text, view.lower, _ROLE)


_SECRET_PROMPT = (
    r"(?:(?:system|initial|original|hidden|secret|internal|developer|pre-?|confidential|"
    r"underlying|starting)[ \t]*(?:prompt|instructions?|message|rules|guidelines|directives|"
    r"configuration|context)|(?:first|full|entire|exact|complete|whole)[ \t]+"
    r"(?:system prompt|prompt|instructions|system message))"
)
_EXTRACTION = [
    (
        re.compile(
            r"\b(?:reveal|show|print|output|repeat|display|tell|give|write|recite|dump|leak|share|"
            r"disclose|expose|spell out|list|paste|return|what (?:is|are|was|were)|summarize)"
            rf"[ \t]+(?:me[ \t]+|us[ \t]+)?(?:all[ \t]+)?(?:of[ \t]+)?(?:your|the|this|its)[ \t]+{_W}{{0,2}}?{_SECRET_PROMPT}"
        ),
        0.85,
    ),
    (
        re.compile(
            r"\brepeat (?:the |all |back )?(?:the )?(?:words|text|everything|content|instructions|lines?)[ \t]+(?:above|before|preceding|prior|verbatim)"
        ),
        0.8,
    ),
    (
        re.compile(
            r"\b(?:instructions|prompt)\b[\w \t]{0,24}\bverbatim\b|\bverbatim\b[\w \t]{0,24}\b(?:instructions|prompt)\b"
        ),
        0.8,
    ),
    (re.compile(r"\bwhat (?:were|are|was) you (?:told|instructed|programmed|prompted)\b"), 0.7),
    (re.compile(r"\b(?:starting|beginning) with [\"'“]?you are\b"), 0.7),
    (
        re.compile(r"\b(?:everything|all (?:the )?text|the text) (?:above|before) (?:this|here)\b"),
        0.6,
    ),
]


@detector(
    "injection.prompt_extraction",
    category="injection",
    severity="high",
    itriggers=("prompt", "instruction", "repeat", "verbatim", "you told", "you instructed",
               "you programmed", "you prompted", "starting with", "beginning with", "above", "before this",
               "before here", "rules", "guidelines", "directives", "configuration", "message",
               "context"),
)  # fmt: skip
def prompt_extraction(view: TextView, settings: Settings) -> Iterator[Hit]:
    """System-prompt extraction attempts ("print your system prompt verbatim")."""
    return _phrase_hits(view.text, view.lower, _EXTRACTION)


# --- hidden Unicode ------------------------------------------------------------------

_INVISIBLE = re.compile(
    "[\u200b\u200c\u200d\u200e\u200f\u2060-\u2064\ufeff\u180e\u00ad\u061c"
    "\u202a-\u202e\u2066-\u2069\U000e0000-\U000e007f]+"
)
_BIDI = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


def _is_emoji(ch: str) -> bool:
    cp = ord(ch)
    return cp >= 0x1F000 or 0x2600 <= cp <= 0x27BF or cp in (0xFE0F, 0x20E3)


def _script_letter(ch: str) -> bool:
    # Joiners and direction marks are ordinary inside Arabic, Persian, Hebrew, Indic text.
    return not ch.isascii() and (ch.isalpha() or unicodedata.category(ch).startswith("M"))


@detector("injection.invisible_unicode", category="injection", severity="high", non_ascii=True)
def invisible_unicode(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Invisible and bidirectional-control characters, and Unicode tag smuggling."""
    text = view.text
    for m in _INVISIBLE.finditer(text):
        run = m.group()
        before = text[m.start() - 1] if m.start() > 0 else ""
        after = text[m.end()] if m.end() < len(text) else ""
        tags = [ch for ch in run if ord(ch) >= 0xE0000]
        if tags:
            hidden = "".join(
                chr(ord(ch) - 0xE0000) for ch in tags if 0x20 <= ord(ch) - 0xE0000 < 0x7F
            )
            confidence = 0.95
            what = f"{len(tags)} tag characters (hidden text, {len(hidden)} chars)"
        elif set(run) & _BIDI:
            confidence, what = 0.8, "bidirectional override/isolate controls"
        else:
            if m.start() == 0 and run == "\ufeff":
                continue
            if set(run) <= {"\u200d", "\ufe0f"} and (_is_emoji(before) or _is_emoji(after)):
                continue
            if set(run) <= {"\u200c", "\u200d", "\u200e", "\u200f", "\u061c", "\u00ad"} and (
                _script_letter(before) or _script_letter(after) or "\u00ad" in run
            ):
                continue
            confidence, what = (0.7 if len(run) > 1 else 0.55), "zero-width characters"
        codes = ",".join(sorted({f"U+{ord(ch):04X}" for ch in run}))[:60]
        yield Hit(
            m.start(),
            m.end(),
            codes,
            f"{what}: {codes} x{len(run)}",
            confidence,
            _severity(confidence),
        )


# --- encoded payloads ----------------------------------------------------------------

_DECODE_AND_FOLLOW = re.compile(
    r"\b(?:decode|decipher|decrypt|translate|convert|unscramble)\b[^.\n]{0,60}?\b(?:and|then)\b"
    r"[^.\n]{0,30}?\b(?:follow (?:it|them|that|this|its|the (?:instructions?|commands?|text|message))|"
    r"execute|run it|obey|do what|perform|act on|comply|carry out)"
)
_MARKED = re.compile(
    r"\b(?:base64|base-64|b64|rot13|rot-13|hex)(?:[- ]encoded)?\b[^\n]{0,20}?[:=]\s*\S{16,}"
)
_B64_RUN = re.compile(r"[A-Za-z0-9+/]{20,}={0,2}")
_ESCAPES = re.compile(
    r"(?:\\x[0-9a-fA-F]{2}){8,}|(?:\\u00[0-9a-fA-F]{2}){8,}|(?:&#x?[0-9a-fA-F]{2,4};){8,}"
)


def _decoded_text(blob: str) -> str | None:
    try:
        raw = base64.b64decode(blob + "=" * (-len(blob) % 4), validate=True)
        text = raw.decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    printable = sum(ch.isprintable() or ch in "\n\t" for ch in text)
    return text if text and printable / len(text) > 0.95 else None


def _unescape(blob: str) -> str:
    if blob.startswith("&#"):
        parts = [p for p in blob.replace("&#", " ").replace(";", " ").split() if p]
        return "".join(chr(int(p[1:], 16) if p[0] in "xX" else int(p)) for p in parts)
    return "".join(
        chr(int(h, 16)) for h in re.findall(r"[0-9a-fA-F]{2}(?=\\|$)", blob.replace("\\u00", "\\x"))
    )


def _looks_hostile(decoded: str) -> bool:
    low = decoded.lower()
    return any(p.search(low) for p, _ in (*_OVERRIDE[:3], *_EXTRACTION[:2], *_ROLE[:4]))


@detector(
    "injection.encoded_payload",
    category="injection",
    severity="high",
    itriggers=("base64", "base-64", "b64", "rot13", "rot-13", "hex", "decode", "decipher",
               "decrypt", "unscramble", "translate", "convert", "\\x", "\\u00", "&#"),
)  # fmt: skip
def encoded_payload(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Encoded payload markers: decode-and-follow requests, base64/hex blobs hiding instructions."""
    text, lower = view.text, view.lower
    yield from _phrase_hits(text, lower, [(_DECODE_AND_FOLLOW, 0.75), (_MARKED, 0.6)])
    for m in _B64_RUN.finditer(text):
        decoded = _decoded_text(m.group())
        if decoded is not None and _looks_hostile(decoded):
            yield Hit(
                m.start(), m.end(), m.group(), f"base64 hiding: {clip(decoded, 60)}", 0.95, "high"
            )
    for m in _ESCAPES.finditer(text):
        decoded = _unescape(m.group())
        confidence = 0.9 if _looks_hostile(decoded) else 0.5
        yield Hit(
            m.start(),
            m.end(),
            m.group(),
            f"escaped text: {clip(decoded, 60)}",
            confidence,
            _severity(confidence),
        )
