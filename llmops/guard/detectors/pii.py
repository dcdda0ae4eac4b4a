"""PII detectors: email, phone, payment card, IBAN, US SSN, IPv4 and IPv6.

The numeric detectors (card, SSN, phone, IPv4) share one pass over the text
(:mod:`llmops.guard.detectors._numbers`); email, IBAN and IPv6 have their own.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator
from typing import Final

from llmops.guard.detectors._numbers import numeric_hits
from llmops.guard.findings import Hit, mask, mask_digits
from llmops.guard.registry import Settings, TextView, detector


@detector("pii.credit_card", category="pii", severity="high", priority=5, gates=("digits",))
def credit_card(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Payment card numbers (issuer prefix, layout and Luhn checksum)."""
    for n in numeric_hits(view, ("card",)):
        evidence = n.digits[:4] + "*" * (len(n.digits) - 8) + n.digits[-4:]
        yield Hit(n.start, n.end, n.digits, evidence, n.confidence)


@detector("pii.ssn", category="pii", severity="high", priority=4, gates=("digits", "digits_ssn"))
def ssn(view: TextView, settings: Settings) -> Iterator[Hit]:
    """US social security numbers, excluding the ranges never issued."""
    for n in numeric_hits(view, ("ssn",)):
        yield Hit(n.start, n.end, n.digits, "***-**-" + n.digits[-4:], n.confidence)


@detector(
    "pii.phone", category="pii", severity="medium", priority=3, gates=("digits", "digits_phone")
)
def phone(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Phone numbers: international (+CC / 00CC), NANP and trunk-0 national formats."""
    for n in numeric_hits(view, ("phone", "phone-context")):
        digits = n.digits[2:] if n.raw.startswith("00") else n.digits
        yield Hit(n.start, n.end, digits, mask_digits(n.raw), n.confidence)


@detector("pii.ipv4", category="pii", severity="low", priority=2, gates=("digits",))
def ipv4(view: TextView, settings: Settings) -> Iterator[Hit]:
    """IPv4 addresses (valid octets; not after version/build words)."""
    for n in numeric_hits(view, ("ipv4",)):
        a, b, _, _ = n.raw.split(".")
        yield Hit(n.start, n.end, n.raw, f"{a}.{b}.*.*", n.confidence)


# --- email ---------------------------------------------------------------------------

_LOCAL_CHARS: Final = frozenset(
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._%+-"
)
_DOMAIN: Final = re.compile(
    r"(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.){1,8}([A-Za-z]{2,24})\b"
)
_FILE_TLDS: Final = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "ico", "bmp", "tif", "tiff"}
)


@detector("pii.email", category="pii", severity="medium", priority=6, gates=("email",))
def email(view: TextView, settings: Settings) -> Iterator[Hit]:
    """Email addresses (not image names such as icon@2x.png, not @handles)."""
    text = view.text
    at = text.find("@")
    attempts = 0
    while at != -1 and attempts < 5000:  # a bound on time for hostile input
        attempts += 1
        nxt = text.find("@", at + 1)
        start = at
        while start > 0 and at - start < 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        while start < at and text[start] == ".":
            start += 1
        m = _DOMAIN.match(text, at + 1)
        if start < at and m is not None and m.group(1).lower() not in _FILE_TLDS:
            end = m.end()
            local, domain = text[start:at], text[at + 1 : end]
            glued = (
                start > 0
                and text[start - 1] in "/:"
                and not text[:start].lower().endswith("mailto:")
            )
            ssh = local == "git" and end < len(text) and text[end] == ":"
            if not ((end < len(text) and text[end] in "-_@") or glued or ssh):
                value = f"{local}@{domain}".lower()
                yield Hit(start, end, value, f"{local[0]}***@{domain}")
        at = nxt


# --- IBAN ----------------------------------------------------------------------------

_IBAN_LENGTHS: Final = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22,
    "BR": 29, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20,
    "EG": 29, "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18,
    "GR": 27, "GT": 28, "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IS": 26, "IT": 27, "JO": 30,
    "KW": 30, "KZ": 20, "LB": 28, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24,
    "ME": 22, "MK": 19, "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28,
    "PS": 29, "PT": 25, "QA": 29, "RO": 24, "RS": 22, "SA": 24, "SE": 24, "SI": 19, "SK": 24,
    "SM": 27, "TN": 24, "TR": 26, "UA": 29, "VG": 24, "XK": 20,
}  # fmt: skip
# A country code and two digits (the country codes spelt out: scanning is faster than
# with [A-Z]{2}, and matches of any other two letters were skipped anyway).
_IBAN_START: Final = re.compile("(" + "|".join(sorted(_IBAN_LENGTHS)) + r")\d\d")


def iban_valid(compact: str) -> bool:
    """True when ``compact`` (no spaces) has its country's length and passes mod-97."""
    if _IBAN_LENGTHS.get(compact[:2]) != len(compact) or not compact.isalnum():
        return False
    rearranged = compact[4:] + compact[:4]
    return int(rearranged.upper().translate(_IBAN_DIGITS)) % 97 == 1


# A letter stands for its base-36 value (A = 10 ... Z = 35) in the mod-97 check.
_IBAN_DIGITS: Final = str.maketrans({chr(65 + i): str(10 + i) for i in range(26)})


@detector("pii.iban", category="pii", severity="high", priority=7, gates=("iban",))
def iban(view: TextView, settings: Settings) -> Iterator[Hit]:
    """International bank account numbers (country length and mod-97 checksum)."""
    text = view.text
    for m in _IBAN_START.finditer(text):
        length = _IBAN_LENGTHS.get(m.group(1))
        if length is None or (m.start() > 0 and text[m.start() - 1].isalnum()):
            continue
        body = _iban_body(length).match(text, m.start())
        if body is None:
            continue
        pos = body.end()
        if pos < len(text) and text[pos].isalnum():
            continue
        compact = body.group().replace(" ", "").upper()
        if iban_valid(compact):
            yield Hit(m.start(), pos, compact, mask(compact, 4, 4))


_IBAN_BODIES: dict[int, re.Pattern[str]] = {}


def _iban_body(length: int) -> re.Pattern[str]:
    """``length`` ASCII letters or digits, single spaces allowed between them."""
    pattern = _IBAN_BODIES.get(length)
    if pattern is None:
        pattern = re.compile(r"[A-Za-z0-9](?: ?[A-Za-z0-9]){" + str(length - 1) + "}")
        _IBAN_BODIES[length] = pattern
    return pattern


# --- IPv6 ----------------------------------------------------------------------------

_IPV6: Final = re.compile(r"(?<![\w:.])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![\w:]|\.\d)")


@detector("pii.ipv6", category="pii", severity="low", priority=2, gates=("ipv6",))
def ipv6(view: TextView, settings: Settings) -> Iterator[Hit]:
    """IPv6 addresses (validated; at least two non-empty groups)."""
    text = view.text
    for m in _IPV6.finditer(text):
        raw = m.group()
        if sum(1 for g in raw.split(":") if g) < 2:
            continue
        try:
            addr = ipaddress.IPv6Address(raw)
        except ValueError:
            continue
        compressed = addr.compressed
        yield Hit(m.start(), m.end(), compressed, compressed.split(":")[0] + ":****")
