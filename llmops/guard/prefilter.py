"""The prefilter: which detectors could match a text, found in one pass.

Every detector names its *triggers* (literals that must occur, case-sensitive), its
*itriggers* (literals of the lower-cased text) or a *gate* (a cheap pattern such as "a
run of digits"). With the optional ``hyperscan`` package (x86-64), all of them are
compiled into one multi-pattern database and each text is scanned once; without it,
the literals are checked with ``in`` (C substring search) and the gates with byte
counts. Both paths give the same set of keys, so results do not depend on the engine.
Set ``LLMOPS_GUARD_ENGINE=python`` to force the pure-Python path.
"""

from __future__ import annotations

import os
import threading
from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from itertools import accumulate, compress, repeat
from operator import add, methodcaller, ne
from typing import Any, Final

_NON_DIGITS: Final = bytes(b for b in range(256) if not 48 <= b <= 57)


def _digits(text: str, data: bytes) -> int:
    return len(data.translate(None, _NON_DIGITS))


@dataclass(frozen=True)
class Gate:
    """A cheap necessary condition for a detector.

    ``patterns`` (hyperscan syntax) must match the text, and when ``context`` is given one
    of those case-insensitive literals must occur too. ``fallback`` is the pure-Python
    test. Both must be *supersets* of what the detector can find: a gate may let through
    a text with nothing in it, never hold back one with a finding.
    """

    patterns: tuple[bytes, ...]
    fallback: Callable[[str, bytes], bool]
    context: tuple[str, ...] = ()


# Characters that glue a number to what precedes it (pii._numbers drops such a group).
GLUED_BEFORE = "@#$/\\:+-.,_"
_NOT_GLUED: Final = (
    rb"(?:^|[^0-9A-Za-z" + b"".join(b"\\x%02x" % ord(c) for c in GLUED_BEFORE) + rb"]|\\[nrtbf])"
)
GATES: dict[str, Gate] = {
    # what pii._classify can accept: cards, formatted SSNs, IPv4, +CC / 00CC / NANP /
    # trunk-0 phone layouts
    "digits": Gate(
        (
            rb"[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]{4}[ \-]?[0-9]",
            rb"[0-9]{4}[ \-]?[0-9]{6}[ \-]?[0-9]{4}",
            rb"[0-9]{3}[ \-][0-9]{2}[ \-][0-9]{4}",
            rb"[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}",
            # fixed lengths (a prefix of every longer match): hyperscan reports a match
            # at each place one ends, and a long number would give one per character
            rb"\+\(?[1-9][0-9 ().\-]{7}",
            rb"00[1-9][0-9 ().\-]{6}",
            rb"[0-9]{3}\)?[ .\-]?[0-9]{3}[ .\-][0-9]{4}",
            _NOT_GLUED + rb"\(?0[0-9]{1,4}\)?[ .\-]+[0-9]{2}",
        ),
        lambda t, b: _digits(t, b) >= 4,
    ),
    # unseparated national phone numbers need a phone word nearby
    "digits_phone": Gate(
        (rb"[0-9]{10}",),
        lambda t, b: _digits(t, b) >= 10,
        (
            "phone",
            "call",
            "tel",
            "mobile",
            "cell",
            "whatsapp",
            "sms",
            "text",
            "fax",
            "contact",
            "reach",
            "dial",
            "ring",
            "landline",
        ),
    ),
    # unseparated SSNs need an SSN word nearby
    "digits_ssn": Gate(
        (rb"[0-9]{9}",), lambda t, b: _digits(t, b) >= 9, ("ssn", "social sec", "ss#", "ss #")
    ),
    "email": Gate(
        (rb"[A-Za-z0-9._%+\-]@[A-Za-z0-9][A-Za-z0-9\-]*\.[A-Za-z0-9]",), lambda t, b: "@" in t
    ),
    "iban": Gate((rb"[A-Z]{2}[0-9]{2}(?: ?[A-Za-z0-9]){4}",), lambda t, b: _digits(t, b) >= 2),
    "ipv6": Gate(
        (rb"::", rb"[0-9A-Fa-f]{1,4}(?::[0-9A-Fa-f]{1,4}){7}"), lambda t, b: t.count(":") >= 2
    ),
}


def key_literal(literal: str) -> str:
    return "t:" + literal


def key_iliteral(literal: str) -> str:
    return "i:" + literal


def key_gate(name: str) -> str:
    return "g:" + name


def _hs_escape(literal: str) -> bytes:
    return b"".join(
        bytes([b]) if chr(b).isalnum() else b"\\x%02x" % b for b in literal.encode("utf-8")
    )


class Prefilter:
    """Finds the trigger keys present in a text, or in each of many texts at once."""

    def __init__(
        self, literals: Iterable[str], iliterals: Iterable[str], gates: Iterable[str]
    ) -> None:
        self.literals = tuple(sorted(set(literals)))
        self.iliterals = tuple(sorted(set(iliterals)))
        self.gates = tuple(sorted(set(gates)))
        expressions: list[bytes] = []
        caseless: list[bool] = []
        self._keys: list[str] = []
        for x in self.literals:
            expressions.append(_hs_escape(x))
            caseless.append(False)
            self._keys.append(key_literal(x))
        for x in self.iliterals:
            expressions.append(_hs_escape(x))
            caseless.append(True)
            self._keys.append(key_iliteral(x))
        for name in self.gates:
            gate = GATES[name]
            for pattern in gate.patterns:
                expressions.append(pattern)
                caseless.append(False)
                # a gate with context words: "p:" until one of the words is found too
                self._keys.append(("p:" if gate.context else "g:") + name)
        # The database reports every match (not one per pattern), so that the matches of
        # many texts joined into one buffer can be mapped back to their text. The
        # context words of paired gates are checked in Python, on the few texts whose
        # gate pattern matched (in the database they would match in most texts).
        self._db = _hyperscan_db(expressions, caseless)
        self._expressions = (expressions, caseless)
        self._single_db: Any = None  # one report per pattern; built on first need
        self._paired_gates = [
            (key_gate(n), "p:" + n, GATES[n].context) for n in self.gates if GATES[n].context
        ]
        self._lock = threading.Lock()

    @property
    def engine(self) -> str:
        return "hyperscan" if self._db is not None else "python"

    def keys(self, text: str, lower: Callable[[], str]) -> set[str]:
        """The keys of every literal, case-folded literal and gate found in ``text``."""
        data = text.encode("utf-8", "surrogatepass")
        if self._db is not None:
            hits = self._matches(self._db, data, 1024 + len(data) // 64)
            if hits is None:  # a flood of matches (a long run of digits...): one per pattern
                hits = self._matches(self._single(), data, len(self._keys))
            if hits is not None:
                names = self._keys
                found = {names[id_] for _, id_ in hits}
                if self._paired_gates and found:
                    self._pair(found, lower)
                return found
        found = {key_literal(x) for x in self.literals if x in text}
        if self.iliterals:
            low = lower()
            found.update(key_iliteral(x) for x in self.iliterals if x in low)
        for name in self.gates:
            gate = GATES[name]
            if gate.fallback(text, data) and (
                not gate.context or any(w in lower() for w in gate.context)
            ):
                found.add(key_gate(name))
        return found

    def _pair(self, keys: set[str], lower: Callable[[], str]) -> None:
        # A paired gate's key stands when one of its context words occurs (as a
        # substring: a superset of the word itself).
        for name, paired, context in self._paired_gates:
            if paired in keys:
                keys.discard(paired)
                low = lower()
                if any(w in low for w in context):
                    keys.add(name)

    def _single(self) -> Any:
        """The database that reports each pattern once per scan (built when needed)."""
        if self._single_db is None:
            self._single_db = _hyperscan_db(*self._expressions, single=True) or False
        return self._single_db

    def _matches(self, db: Any, data: bytes, limit: int) -> list[tuple[int, int]] | None:
        """``(end, pattern id)`` of every match in ``data``; None past ``limit`` matches
        (the caller then uses a path whose cost does not grow with the matches)."""
        import hyperscan

        if not db:
            return None

        hits: list[tuple[int, int]] = []
        append = hits.append

        def on_match(id_: int, start: int, end: int, flags: int, context: object) -> bool:
            append((end, id_))
            return len(hits) > limit

        with self._lock:  # a database's scratch space is not shared between threads
            try:
                db.scan(data, match_event_handler=on_match)
            except hyperscan.ScanTerminated:
                return None
        return hits

    def batch_keys(self, texts: Sequence[str]) -> tuple[dict[int, set[str]], list[int]] | None:
        """The keys of each text (index -> keys; texts without any are left out), and
        the indexes of the texts that are not pure ASCII.

        The texts are joined into one buffer and scanned in one hyperscan call; each
        match is given to the text it ends in. A pattern cannot match across the
        separator, so the keys of each text are the ones :meth:`keys` finds in it.
        ``None`` when there is no hyperscan, or when the texts hold so many matches
        that prefiltering them one by one is cheaper (the caller then does that).
        """
        if not texts or self._db is None:
            return None
        # Each text is encoded on its own (a copy for ASCII text; joining the str first
        # would widen every text of the batch to the widest character in any of them).
        encoded = list(map(_ENCODE, texts))
        data = _SEPARATOR.join(encoded)
        non_ascii: list[int] = []
        if len(data) != sum(map(len, texts)) + len(_SEPARATOR) * (len(texts) - 1):
            differs = map(ne, map(len, texts), map(len, encoded))
            non_ascii = list(compress(range(len(texts)), differs))
        hits = self._matches(self._db, data, 64 * len(texts) + 4096)
        if hits is None:
            return None
        # bounds[i] is where text i+1 starts: a match ending at ``end`` is in text
        # bisect_right(bounds, end - 1).
        bounds = list(accumulate(map(add, map(len, encoded), repeat(len(_SEPARATOR)))))
        found: dict[int, set[str]] = {}
        names = self._keys
        for end, id_ in hits:
            i = bisect_right(bounds, end - 1)
            keys = found.get(i)
            if keys is None:
                found[i] = {names[id_]}
            else:
                keys.add(names[id_])
        if self._paired_gates:
            for i, keys in found.items():
                self._pair(keys, texts[i].lower)
        return found, non_ascii


_SEPARATOR: Final = b"\x00\n"
_ENCODE: Final = methodcaller("encode", "utf-8", "surrogatepass")


def _hyperscan_db(expressions: list[bytes], caseless: list[bool], single: bool = False) -> Any:
    if os.environ.get("LLMOPS_GUARD_ENGINE", "").lower() == "python" or not expressions:
        return None
    try:
        import hyperscan
    except ImportError:
        return None
    base = hyperscan.HS_FLAG_SINGLEMATCH if single else 0
    flags = [base | hyperscan.HS_FLAG_CASELESS if c else base for c in caseless]
    try:
        db = hyperscan.Database()
        db.compile(
            expressions=expressions,
            ids=list(range(len(expressions))),
            elements=len(expressions),
            flags=flags,
        )
    except Exception:  # an unsupported CPU or build: the Python path gives the same answers
        return None
    return db
