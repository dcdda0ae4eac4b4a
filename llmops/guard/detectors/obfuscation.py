"""Obfuscated prompt injection: hidden Unicode and encoded payloads.

Invisible characters (zero-width, bidirectional controls, Unicode tag characters that
smuggle ASCII) are flagged only where they are not ordinary: joiners inside emoji
sequences and Arabic, Persian, Hebrew or Indic words are left alone. Encoded payloads
are base64, hex or HTML-entity blobs next to a marker word, or a request to decode
something and follow it; a blob that decodes to an injection phrase scores highest.
"""

from __future__ import annotations

import base64
import binascii
import re
import unicodedata
from collections.abc import Iterator

from llmops.guard.detectors.injection import (
    EXTRACTION,
    OVERRIDE,
    ROLE,
    phrase_hits,
    rx,
    severity_for,
)
from llmops.guard.findings import Hit, clip
from llmops.guard.registry import Settings, TextView, detector

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
            severity_for(confidence),
        )


# --- encoded payloads ----------------------------------------------------------------

_DECODE_AND_FOLLOW = rx(
    r"\b(?:decode|decipher|decrypt|translate|convert|unscramble)\b[^.\n]{0,60}?\b(?:and|then)\b",
    r"[^.\n]{0,30}?\b(?:follow (?:it|them|that|this|its|the ",
    r"(?:instructions?|commands?|text|message))|",
    r"execute|run it|obey|do what|perform|act on|comply|carry out)",
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
    return any(p.search(low) for p, _ in (*OVERRIDE[:3], *EXTRACTION[:2], *ROLE[:4]))


_ENCODED_PAYLOAD_WORDS = (
    "base64",
    "base-64",
    "b64",
    "rot13",
    "rot-13",
    "hex",
    "decode",
    "decipher",
    "decrypt",
    "unscramble",
    "translate",
    "convert",
    "\\x",
    "\\u00",
    "&#",
)


@detector(
    "injection.encoded_payload",
    category="injection",
    severity="high",
    itriggers=_ENCODED_PAYLOAD_WORDS,
)
def encoded_payload(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Encoded payload markers: decode-and-follow requests, base64/hex blobs hiding instructions."""
    text, lower = view.text, view.lower
    yield from phrase_hits(text, lower, [(_DECODE_AND_FOLLOW, 0.75), (_MARKED, 0.6)])
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
            severity_for(confidence),
        )
