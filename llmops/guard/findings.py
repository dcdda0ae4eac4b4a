"""Findings: what a detector reports, with masked evidence and a stable fingerprint.

The evidence of a finding never holds the matched secret or PII value: only a masked
form such as ``4111********1111``. The fingerprint is a hash of the detector's name and
the normalised value, so the same card number seen twice (formatted differently) gives
the same fingerprint, and a baseline of fingerprints can suppress known findings
without storing the values themselves.
"""

from __future__ import annotations

import collections
import hashlib
import importlib
import math
from dataclasses import dataclass, fields
from operator import attrgetter
from typing import Any

CATEGORIES = ("pii", "secret", "injection", "policy", "format")


# Hit and Finding are made for every match: their __init__ is written out (dataclass
# keeps a class's own), so that the compiled modules (llmops/_compiled.py) build them
# without running the dataclass module's generated Python code.


@dataclass(slots=True)
class Hit:
    """A raw match inside one text, before it becomes a :class:`Finding`."""

    start: int
    end: int
    normalised: str  # hashed into the fingerprint, never shown
    evidence: str  # already masked
    confidence: float = 1.0
    severity: str | None = None  # overrides the detector's severity when set

    def __init__(
        self,
        start: int,
        end: int,
        normalised: str,
        evidence: str,
        confidence: float = 1.0,
        severity: str | None = None,
    ) -> None:
        self.start = start
        self.end = end
        self.normalised = normalised
        self.evidence = evidence
        self.confidence = confidence
        self.severity = severity


@dataclass(slots=True)
class Finding:
    """One match of one detector in one field of one record.

    ``start`` and ``end`` are character offsets into the field's text; ``line`` is the
    1-based line of the record in its file and ``record`` the record's own id.
    """

    detector: str
    category: str
    severity: str
    start: int
    end: int
    evidence: str
    fingerprint: str
    confidence: float = 1.0
    field: str = ""
    role: str | None = None
    record: str | None = None
    line: int | None = None
    file: str | None = None
    prompt_version: str | None = None
    detector_version: str = "1"
    suppressed: bool = False

    def __init__(
        self,
        detector: str,
        category: str,
        severity: str,
        start: int,
        end: int,
        evidence: str,
        fingerprint: str,
        confidence: float = 1.0,
        field: str = "",
        role: str | None = None,
        record: str | None = None,
        line: int | None = None,
        file: str | None = None,
        prompt_version: str | None = None,
        detector_version: str = "1",
        suppressed: bool = False,
    ) -> None:
        self.detector = detector
        self.category = category
        self.severity = severity
        self.start = start
        self.end = end
        self.evidence = evidence
        self.fingerprint = fingerprint
        self.confidence = confidence
        self.field = field
        self.role = role
        self.record = record
        self.line = line
        self.file = file
        self.prompt_version = prompt_version
        self.detector_version = detector_version
        self.suppressed = suppressed

    def to_dict(self) -> dict[str, Any]:
        """The finding as the JSON contract's mapping (plus extra fields)."""
        return {name: getattr(self, name) for name in FINDING_FIELDS}


# A finding as a plain tuple of its fields, in this order: what crosses from a worker
# process to the scan and what the spool keeps (cheaper to pickle and encode than the
# dataclass). ``Finding(*row)`` rebuilds it.
FINDING_FIELDS = tuple(f.name for f in fields(Finding))
Row = tuple[Any, ...]
as_row: Any = attrgetter(*FINDING_FIELDS)


def fingerprint(detector: str, normalised: str) -> str:
    """A stable, non-reversible id of a detector's match: sha256 of name and value."""
    digest: str = _SHA256(f"{detector}\x00{normalised}".encode()).hexdigest()
    return digest[:24]


def _builtin_sha256() -> Any:
    """CPython's own SHA-256 (the one hashlib falls back to): the same digest as
    OpenSSL's, without looking the algorithm up in OpenSSL on every call."""
    for name in ("_sha2", "_sha256"):  # 3.12+, 3.11
        try:
            return importlib.import_module(name).sha256
        except (ImportError, AttributeError):
            continue
    return hashlib.sha256


_SHA256: Any = _builtin_sha256()


def entropy(value: str) -> float:
    """Shannon entropy in bits per character."""
    n = len(value)
    if not n:
        return 0.0
    tally: dict[str, int] = {}
    _COUNT_INTO(tally, value)  # Counter's own C counting loop, without building a Counter
    if n > 512:
        return -sum(c / n * math.log2(c / n) for c in tally.values())
    terms = _ENTROPY_TERMS.get(n)
    if terms is None:  # -p * log2(p) for p = c / n, each computed once per length
        terms = _ENTROPY_TERMS[n] = [0.0] + [-(c / n * math.log2(c / n)) for c in range(1, n + 1)]
    total = 0.0
    for c in tally.values():
        total += terms[c]
    return total


def _count_into(tally: dict[str, int], value: str) -> None:
    for ch in value:
        tally[ch] = tally.get(ch, 0) + 1


_ENTROPY_TERMS: dict[int, list[float]] = {}
_COUNT_INTO: Any = getattr(collections, "_count_elements", None) or _count_into


def mask(value: str, keep_start: int = 4, keep_end: int = 4) -> str:
    """Star out the middle of ``value``; short values keep less so most stays hidden."""
    n = len(value)
    if n <= 8:
        return value[:1] + "*" * (n - 1) if n > 4 else "*" * n
    if keep_start + keep_end > n // 2:
        keep_start = keep_end = max(1, n // 6)
    stars = min(n - keep_start - keep_end, 24)
    return value[:keep_start] + "*" * stars + value[n - keep_end :]


def mask_digits(value: str, keep_end: int = 2) -> str:
    """Star every digit except the last ``keep_end``, keeping the formatting."""
    total = sum(ch.isdigit() for ch in value)
    seen = 0
    out = []
    for ch in value:
        if ch.isdigit():
            seen += 1
            out.append(ch if seen > total - keep_end else "*")
        else:
            out.append(ch)
    return "".join(out)


def clip(text: str, limit: int = 80) -> str:
    """Shorten non-sensitive evidence (injection phrases) for display."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
