"""The numeric pass the PII detectors share: cards, SSNs, phones and IPv4 in one sweep.

A single possessive (non-backtracking) regex finds every run of digits and separators
once per text, the run is split at spaces into groups, and windows of consecutive
groups are classified (longest first) by checksum and format rules: Luhn and the issuer
prefix for cards, SSA ranges for SSNs, numbering plans for phones, octet ranges for
IPv4. Context words right before a number (order, invoice, tracking, ISBN, version ...)
keep look-alikes from firing. The result is computed once per text and shared through
:meth:`TextView.numbers`.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Final

from llmops.guard.prefilter import GLUED_BEFORE
from llmops.guard.registry import TextView

# At least 4 characters: no shorter run holds a number of any kind.
_NUMBER: Final = re.compile(r"[+(\d][\d ().\-]{3,}+")
_NUMBER_ASCII: Final = re.compile(r"[+(0-9][0-9 ().\-]{3,}+")  # the same on ASCII text, faster
_START: Final = re.compile(r"\+?\(?\d")
_GLUED_BEFORE: Final = frozenset(GLUED_BEFORE + "€£¥")
_NOT_DIGITS: Final = str.maketrans("", "", "+(). -")  # what _NUMBER matches besides digits
_ONLY_SEPARATORS: Final = str.maketrans("", "", "0123456789")
_MAX_GROUPS: Final = 6
_NEGATIVE_CONTEXT: Final = re.compile(
    r"(?:\b(?:order|orders|invoice|tracking|track|isbn|isbn-1[03]|ticket|ref|reference|sku|"
    r"serial|version|ver|build|release|po|confirmation|account|acct|case|id|parcel|"
    r"shipment|transaction|txn|receipt|item|part|model|patent|doi|issn|oid|fedex|ups|usps|"
    r"dhl|awb|booking|reservation|policy|claim|customer|member|license|registration)"
    r"[\s#:.\-]*(?:(?:no|nr|number|num|id|code)\b[\s#:.\-]*)?|#\s*|\bv)$"
)
# The words of _NEGATIVE_CONTEXT, so that _negative can test the end of a text directly.
_NEGATIVE_WORDS: Final = frozenset((
    "order", "orders", "invoice", "tracking", "track", "isbn", "isbn-10", "isbn-13", "ticket",
    "ref", "reference", "sku", "serial", "version", "ver", "build", "release", "po",
    "confirmation", "account", "acct", "case", "id", "parcel", "shipment", "transaction", "txn",
    "receipt", "item", "part", "model", "patent", "doi", "issn", "oid", "fedex", "ups", "usps",
    "dhl", "awb", "booking", "reservation", "policy", "claim", "customer", "member", "license",
    "registration",
))  # fmt: skip
_NUMBER_WORDS: Final = ("no", "nr", "number", "num", "id", "code")


def _is_word(ch: str) -> bool:
    return ch.isalnum() or ch == "_"


def _strip_separators(s: str) -> str:
    end = len(s)
    while end and (s[end - 1].isspace() or s[end - 1] in "#:.-"):
        end -= 1
    return s[:end]


def _ends_with_negative_word(s: str) -> bool:
    start = len(s)
    while start and _is_word(s[start - 1]):
        start -= 1
    word = s[start:]  # the last word; a negative word must be all of it
    if word in _NEGATIVE_WORDS:
        return True
    return (
        word in ("10", "13")
        and s[:start].endswith("isbn-")
        and (start == 5 or not _is_word(s[start - 6]))
    )


def _negative(before: str) -> bool:
    """Whether ``before`` (lower case) ends with a word that makes a number not PII.

    The same answer as ``_NEGATIVE_CONTEXT.search(before) is not None``, several times
    faster: it looks only at the end of the text, where the pattern is anchored.
    """
    end = before[:-1] if before.endswith("\n") else before  # "$" also matches before a final \n
    if end.endswith("v") and (len(end) == 1 or not _is_word(end[-2])):
        return True
    if before.rstrip().endswith("#"):
        return True
    core = _strip_separators(before)
    if _ends_with_negative_word(core):
        return True
    if not core.endswith(_NUMBER_WORDS):
        return False
    return any(
        core.endswith(word) and _ends_with_negative_word(_strip_separators(core[: -len(word)]))
        for word in _NUMBER_WORDS
    )


_PHONE_CONTEXT: Final = re.compile(
    r"\b(?:phone|call|tel|telephone|mobile|cell|cellphone|whatsapp|sms|text|fax|contact|reach|"
    r"dial|ring|landline)\b"
)
_SSN_CONTEXT: Final = re.compile(r"\b(?:ssn|social security|social sec|ss#|ss #)")


@dataclass(slots=True)
class Number:
    """A classified numeric candidate."""

    kind: str
    start: int
    end: int
    digits: str
    raw: str
    confidence: float

    def __init__(
        self, kind: str, start: int, end: int, digits: str, raw: str, confidence: float
    ) -> None:  # written out, as findings.Hit's is
        self.kind = kind
        self.start = start
        self.end = end
        self.digits = digits
        self.raw = raw
        self.confidence = confidence


def _numbers(view: TextView) -> list[Number]:
    text = view.text
    out: list[Number] = []
    for m in (_NUMBER_ASCII if text.isascii() else _NUMBER).finditer(text):
        raw, start = m.group(), m.start()
        if start > 0 and (text[start - 1].isalnum() or text[start - 1] in _GLUED_BEFORE):
            space = raw.find(" ")  # the first group is glued to a word: keep the rest
            if space == -1:
                continue
            trimmed = raw[space:].lstrip(" ")
            start += len(raw) - len(trimmed)
            raw = trimmed
        raw = raw.rstrip(" (.-")
        while raw.endswith(")") and raw.count("(") < raw.count(")"):
            raw = raw[:-1].rstrip(" (.-")
        if raw.startswith("(") and raw.endswith(")") and raw.count("(") == 1 == raw.count(")"):
            raw, start = raw[1:-1], start + 1  # "(4111 1111 1111 1111)": the parentheses wrap it
        if not raw or _START.match(raw) is None:
            continue
        end = start + len(raw)
        if end < len(text) and (text[end].isalnum() or text[end] in "_@"):
            continue  # part of a token such as 123abc or a hex hash
        _windows(text, start, raw, out)
    return out


def _windows(text: str, start: int, raw: str, out: list[Number]) -> None:
    """Classify windows of the space-separated groups of ``raw`` (at ``start``), the
    longest first; each number found goes to ``out``."""
    groups: list[tuple[int, int]] = []
    ends = [0]  # digits in the groups before each group (a running sum)
    pos = start
    for part in raw.split(" "):
        if part:
            groups.append((pos, pos + len(part)))
            n = len(part) if part.isdigit() else len(part.translate(_NOT_DIGITS))
            ends.append(ends[-1] + n)
        pos += len(part) + 1
    i = 0
    cards_only = False  # a window in the tail of an unclassified run
    while i < len(groups):
        for j in range(min(len(groups), i + _MAX_GROUPS) - 1, i - 1, -1):
            if j > i and groups[j][0] - groups[j - 1][1] != 1:
                continue  # never join across a double space
            nd = ends[j + 1] - ends[i]
            # what _classify would turn down on its digit count alone: 4-19 digits, at
            # least 9 but for an IPv4 address (one group with dots), 13 for a card
            if (nd > 19 or nd < (13 if cards_only else 9)) and (
                cards_only or nd < 4 or j > i or "." not in text[groups[i][0] : groups[i][1]]
            ):
                continue
            found = _classify(text, groups[i][0], groups[j][1], cards_only)
            if found is not None:
                out.append(found)
                i, cards_only = j + 1, False
                break
        else:
            # The tail of an unclassified run ("4988 0032 2475 3551" with a bad
            # checksum) is not a phone or an SSN of its own, unless the group before it
            # is a short word-like number ("2 4111 1111 1111 1111") or it opens with + or
            # (. A card, with its layout, issuer and checksum, still is: "card ending
            # 1111 4111 1111 1111 1111".
            i += 1
            if i < len(groups):
                short = groups[i - 1][1] - groups[i - 1][0] <= 3
                cards_only = not (short or text[groups[i][0]] in "+(")


def _classify(text: str, start: int, end: int, cards_only: bool = False) -> Number | None:
    cand = text[start:end]
    if cand.startswith("("):
        if ")" not in cand:
            cand, start = cand[1:], start + 1
        elif cand.endswith(")") and cand.count("(") == 1 == cand.count(")"):
            cand, start, end = cand[1:-1], start + 1, end - 1  # "1111 (4111 ... 1111)"
    if not cand or (not cand[0].isdigit() and cand[0] not in "+("):
        return None
    digits = cand.translate(_NOT_DIGITS)  # cand holds digits and these separators only
    nd = len(digits)
    if nd < 4 or nd > 19:
        return None
    if cards_only:
        if nd < 13 or not _card(cand, digits, text, start):
            return None
        return Number("card", start, end, digits, cand, 0.95)
    if "." in cand and _ipv4(cand):
        if _negative(text[max(0, start - 40) : start].lower()):
            return None
        return Number("ipv4", start, end, digits, cand, 0.9)
    if nd < 9:
        return None
    before = text[max(0, start - 40) : start].lower()
    # The words before the number are looked at only where the verdict depends on them:
    # an SSN, an undelimited card (in _card), a number of a phone's layout.
    negative: bool | None = None
    kind: str | None = None
    if nd == 9:
        negative = _negative(before)
        kind = _ssn(cand, digits, before, negative)
    elif nd >= 13 and _card(cand, digits, text, start):
        kind = "card"
    if kind is None:
        kind = _phone(cand, digits, before)
        if kind is not None and (_negative(before) if negative is None else negative):
            kind = None
    if kind is None:
        return None
    return Number(kind, start, end, digits, cand, 0.95 if kind != "phone-context" else 0.7)


_IPV4: Final = re.compile(r"(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})")


def _ipv4(cand: str) -> bool:
    m = _IPV4.fullmatch(cand)
    if m is None or m.group(1) == "127" or cand == "0.0.0.0":
        return False  # loopback and "any address" name no one's machine
    return all(int(o) <= 255 and (o == "0" or not o.startswith("0")) for o in m.groups())


_SSN: Final = re.compile(r"(\d{3})([- ])(\d{2})\2(\d{4})")
_SSN_DUMMIES: Final = {"078051120", "219099999", "123456789"}


def _ssn(cand: str, digits: str, before: str, negative: bool) -> str | None:
    if len(digits) != 9 or negative:
        return None
    if _SSN.fullmatch(cand) is None and not (
        cand.isdigit() and _SSN_CONTEXT.search(before) is not None
    ):
        return None
    area, group, serial = digits[:3], digits[3:5], digits[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return None
    if digits in _SSN_DUMMIES or len(set(digits)) == 1:
        return None
    return "ssn"


_CARD_LAYOUTS: Final = {
    (4, 4, 4, 4), (4, 6, 5), (4, 6, 4), (4, 4, 4, 4, 3), (4, 4, 5), (4, 4, 4, 4, 2)
}  # fmt: skip


def _card(cand: str, digits: str, text: str, start: int) -> bool:
    """Whether ``cand`` (at ``start`` of ``text``) is a card number; undelimited digits
    after a word such as "order" or "account" are not."""
    if cand.isascii():
        seps = cand.translate(_ONLY_SEPARATORS)
    else:  # digits of other scripts count as digits too
        seps = "".join(ch for ch in cand if not ch.isdigit())
    if seps:
        sep = seps[0]
        if sep not in " -" or seps.count(sep) != len(seps):
            return False
        if tuple(map(len, cand.split(sep))) not in _CARD_LAYOUTS:
            return False
    elif _negative(text[max(0, start - 40) : start].lower()):
        return False
    if not _issuer_ok(digits) or len(set(digits)) < 2:
        return False
    return luhn(digits)


def _issuer_ok(d: str) -> bool:
    n = len(d)
    if d[0] == "4":
        return n in (13, 16, 19)
    two, four = int(d[:2]), int(d[:4])
    if 51 <= two <= 55 or 2221 <= four <= 2720:
        return n == 16
    if two in (34, 37):
        return n == 15
    if two in (36, 38, 39) or 300 <= int(d[:3]) <= 305:
        return 14 <= n <= 19
    if two == 35:
        return 16 <= n <= 19
    if d.startswith("6011") or two in (62, 65) or 644 <= int(d[:3]) <= 649:
        return 16 <= n <= 19
    return False


def luhn(digits: str) -> bool:
    """True when ``digits`` passes the Luhn checksum."""
    if digits.isascii():  # every other digit from the right doubled (minus 9 past 9)
        rev = digits[::-1]
        doubled = rev[1::2].translate(_LUHN_DOUBLE)
        return (sum(rev[0::2].encode()) + sum(doubled.encode()) - 48 * len(digits)) % 10 == 0
    total = 0
    for i, ch in enumerate(reversed(digits)):
        n = ord(ch) - 48
        if i & 1:
            n = n * 2 - 9 if n > 4 else n * 2
        total += n
    return total % 10 == 0


_LUHN_DOUBLE: Final = str.maketrans("0123456789", "0246813579")
_NANP: Final = re.compile(
    r"(?:\+?1[ .\-]?)?(?:\((\d{3})\)[ .\-]?|(\d{3})[ .\-])(\d{3})[ .\-](\d{4})"
)
_GROUP_SPLIT: Final = re.compile(r"[ .\-()]+")


def _phone(cand: str, digits: str, before: str) -> str | None:
    nd = len(digits)
    m = _NANP.fullmatch(cand)
    if m is not None:
        area = m.group(1) or m.group(2)
        return "phone" if area[0] in "23456789" and m.group(3)[0] in "23456789" else None
    international = cand.startswith("00") and cand[2:3] in "123456789" and not cand.isdigit()
    if cand[0] == "+" or international:
        if not 8 <= nd <= 15 or cand.startswith("+0"):
            return None
        groups = [g for g in _GROUP_SPLIT.split(cand.lstrip("+")) if g]
        ok = all(len(g) >= 2 or g == "0" or k <= 1 for k, g in enumerate(groups))
        return "phone" if ok else None
    if cand.isdigit():
        if nd not in (10, 11) or _PHONE_CONTEXT.search(before) is None:
            return None
        if nd == 10 and ((cand[0] in "23456789" and cand[3] in "23456789") or cand[0] == "0"):
            return "phone-context"
        if nd == 11 and cand[0] in "01":
            return "phone-context"
        return None
    national = cand.replace("(", "").replace(")", "")
    if national[0] != "0" or national[1:2] == "0" or not 9 <= nd <= 12 or _SSN.fullmatch(cand):
        return None
    groups = [g for g in _GROUP_SPLIT.split(national) if g]
    if len(groups) < 2 or not 2 <= len(groups[0]) <= 5 or any(len(g) < 2 for g in groups):
        return None
    return "phone"


def numeric_hits(view: TextView, kinds: tuple[str, ...]) -> Iterator[Number]:
    """The numbers of ``kinds`` in the text (the pass runs once per text)."""
    for number in view.numbers(_numbers):
        if number.kind in kinds:
            yield number
