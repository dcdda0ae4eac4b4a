"""The detection engine: which detectors run on which role, and one pass per text.

A :class:`Guard` is built once per configuration. For every role it precomputes a
trigger table: the detectors that always run, and for each trigger literal the
detectors it enables. Scanning a text checks each distinct literal once (``in`` on the
text or its lower-cased copy, both in C), then runs only the enabled detectors. Long
texts are scanned in overlapping chunks so that time and memory stay bounded.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Final

from llmops.errors import ConfigError
from llmops.guard.findings import Finding, fingerprint
from llmops.guard.prefilter import Prefilter, key_gate, key_iliteral, key_literal
from llmops.guard.registry import Detector, Settings, TextView, known
from llmops.project import GuardConfig

CATEGORY_OF_CHECK = {
    "pii": "pii",
    "secret": "secret",
    "secrets": "secret",
    "injection": "injection",
    "policy": "policy",
    "format": "format",
}
DEFAULT_CHECKS = ("pii", "secrets", "injection", "policy")
ROLES = ("system", "user", "assistant", "tool", "tool_call")
# PII and secrets in every role but the system prompt: a value the model leaks (assistant,
# tool call) and one a user or a tool disclosed (user, tool result) both sit in the logs.
DEFAULT_ROLES: dict[str, tuple[str, ...]] = {
    "pii": ("user", "assistant", "tool", "tool_call"),
    "secret": ("user", "assistant", "tool", "tool_call"),
    "injection": ("user", "tool"),
    "policy": ("assistant",),
    "format": ("assistant",),
}
ROLE_ALIASES = {
    "developer": "system", "function": "tool", "model": "assistant", "human": "user",
    "ai": "assistant",
}  # fmt: skip
CHUNK: Final = 1 << 20
OVERLAP: Final = 4096
BATCH_TEXT_MAX: Final = 1 << 16  # longer texts are prefiltered on their own, not in a batch


@dataclass
class _Table:
    """The detectors for one role, indexed by their prefilter keys."""

    detectors: list[Detector]
    always: frozenset[int] = frozenset()
    by_key: dict[str, frozenset[int]] = field(default_factory=dict)
    non_ascii: frozenset[int] = frozenset()


def _keys_of(d: Detector) -> list[str]:
    return (
        [key_literal(t) for t in d.triggers]
        + [key_iliteral(t) for t in d.itriggers]
        + [key_gate(g) for g in d.gates]
    )


def _table(detectors: list[Detector]) -> _Table:
    always, non_ascii = set(), set()
    by_key: dict[str, set[int]] = {}
    for i, d in enumerate(detectors):
        keys = _keys_of(d)
        if d.non_ascii:
            non_ascii.add(i)
        elif not keys:
            always.add(i)
        for key in keys:
            by_key.setdefault(key, set()).add(i)
    return _Table(
        detectors,
        frozenset(always),
        {k: frozenset(ix) for k, ix in by_key.items()},
        frozenset(non_ascii),
    )


def resolve_checks(checks: Iterable[str] | None, config: GuardConfig) -> list[Detector]:
    """The detectors named by ``checks`` (categories or detector names); defaults when None."""
    names = list(checks) if checks is not None else list(config.checks or DEFAULT_CHECKS)
    registry = {d.name: d for d in known()}
    chosen: dict[str, Detector] = {}
    for raw in names:
        name = raw.strip().lower()
        if not name:
            continue
        if name == "all":
            chosen.update(registry)
        elif name in CATEGORY_OF_CHECK:
            category = CATEGORY_OF_CHECK[name]
            chosen.update({n: d for n, d in registry.items() if d.category == category})
        elif name in registry:
            chosen[name] = registry[name]
        else:
            options = ", ".join([*CATEGORY_OF_CHECK, *sorted(registry)])
            raise ConfigError(f"unknown check {raw!r}", field="checks", hint=f"known: {options}")
    return [chosen[n] for n in sorted(chosen)]


def _settings(config: GuardConfig) -> Settings:
    from llmops.guard.detectors.policy import compile_patterns, compile_terms

    validator = None
    if config.json_schema is not None:
        import jsonschema

        try:
            cls = jsonschema.validators.validator_for(config.json_schema)
            cls.check_schema(config.json_schema)
        except jsonschema.SchemaError as exc:
            raise ConfigError(
                f"invalid JSON schema: {exc.message}", field="guard.json_schema"
            ) from None
        validator = cls(config.json_schema)
    return Settings(
        banned=compile_terms(config.policy.banned_terms),
        banned_patterns=compile_patterns(config.policy.banned_patterns),
        policy_severity=config.policy.severity,
        json_validator=validator,
        json_required=config.json_schema is not None,
    )


def _configured(detectors: list[Detector], config: GuardConfig) -> list[Detector]:
    # Policy detectors with nothing configured are dropped; banned terms become the
    # detector's prefilter literals (their longest word), so texts without one skip it.
    terms = [" ".join(t.split()).lower() for t in config.policy.banned_terms if t.strip()]
    out = []
    for d in detectors:
        if d.name == "policy.banned_term":
            if not terms:
                continue
            if all(t.isascii() for t in terms):
                d = replace(d, itriggers=tuple({max(t.split(), key=len) for t in terms}))
        elif d.name == "policy.banned_pattern" and not config.policy.banned_patterns:
            continue
        out.append(d)
    return out


def _roles_for(category: str, config: GuardConfig) -> tuple[str, ...]:
    roles = config.roles or {}
    for key in (category, category + "s", "secrets" if category == "secret" else category):
        if key in roles:
            return tuple(ROLE_ALIASES.get(r, r) for r in roles[key])
    return DEFAULT_ROLES[category]


class Guard:
    """A configured set of detectors: ``guard.detect(text, role)``."""

    def __init__(
        self, checks: Iterable[str] | None = None, config: GuardConfig | None = None
    ) -> None:
        self.config = config or GuardConfig()
        self.settings = _settings(self.config)
        self.detectors = _configured(resolve_checks(checks, self.config), self.config)
        self._priority = {d.name: d.priority for d in self.detectors}
        self._all = _table(self.detectors)
        self._by_role: dict[str, _Table] = {}
        for role in ROLES:
            chosen = [d for d in self.detectors if role in _roles_for(d.category, self.config)]
            self._by_role[role] = _table(chosen)
        tables = [self._all, *self._by_role.values()]
        # A record whose texts, joined, match no prefilter key can skip every detector.
        self._skippable = all(not t.always for t in tables)
        self._any_non_ascii = any(t.non_ascii for t in tables)
        self.prefilter = Prefilter(
            [t for d in self.detectors for t in d.triggers],
            [t for d in self.detectors for t in d.itriggers],
            [g for d in self.detectors for g in d.gates],
        )
        self._wants: dict[str | None, bool] = {}
        # Whether a text with no prefilter key can still have a finding: a detector
        # that always runs, or one that runs on any non-ASCII text.
        self._unkeyed = any(t.always for t in tables)

    @property
    def checks(self) -> list[str]:
        return [d.name for d in self.detectors]

    def table(self, role: str | None) -> _Table:
        if role is None:
            return self._all
        role = ROLE_ALIASES.get(role, role)
        return self._by_role.get(role, self._all)

    def wants(self, role: str | None) -> bool:
        """Whether any detector runs on texts of ``role``."""
        wanted = self._wants.get(role)
        if wanted is None:
            wanted = self._wants[role] = bool(self.table(role).detectors)
        return wanted

    def detect_texts(
        self,
        items: Sequence[tuple[str, str | None, str]],
        groups: Sequence[int] | None = None,
    ) -> list[tuple[int, list[Finding]]]:
        """``(index, findings)`` for each ``(text, role, field)`` of ``items`` with findings.

        The same findings as :meth:`detect` on each item, in item order, but the texts
        are prefiltered together: with hyperscan, all of them are joined into one
        buffer and scanned in one call, and only the texts with a prefilter key (or a
        non-ASCII character, for the detectors that look for those) run detectors.
        Without hyperscan, ``groups`` (the record of each item, in runs) lets the texts
        of one record be prefiltered together, as :meth:`detect_many` does.
        """
        out: list[tuple[int, list[Finding]]] = []
        texts = [item[0] for item in items]
        short: Sequence[int] = range(len(texts))
        if texts and max(map(len, texts)) > BATCH_TEXT_MAX:
            short = [i for i, text in enumerate(texts) if len(text) <= BATCH_TEXT_MAX]
            texts = [texts[i] for i in short]
        batch = self.prefilter.batch_keys(texts) if texts else None
        if batch is None:
            skippable = self._skippable and groups is not None
            lo = 0
            while lo < len(items):
                hi = lo + 1
                if skippable:
                    assert groups is not None
                    while hi < len(items) and groups[hi] == groups[lo]:
                        hi += 1
                    if hi - lo > 1 and not self._any_keys(items[lo:hi]):
                        lo = hi
                        continue
                for i in range(lo, hi):
                    text, role, where = items[i]
                    found = self.detect(text, role, where)
                    if found:
                        out.append((i, found))
                lo = hi
            return out
        keyed, non_ascii = batch
        todo: dict[int, set[str] | None] = {short[k]: keys for k, keys in keyed.items()}
        if self._unkeyed:
            todo.update({i: set() for i in short if i not in todo})
        elif self._any_non_ascii:
            todo.update({short[k]: set() for k in non_ascii if short[k] not in todo})
        if len(short) < len(items):  # the long texts, prefiltered one by one
            todo.update(dict.fromkeys(set(range(len(items))) - set(short)))
        for i in sorted(todo):
            text, role, where = items[i]
            keys = todo[i]
            if keys is None:
                found = self.detect(text, role, where)
            elif not text:
                continue
            else:
                table = self.table(role)
                if not table.detectors:
                    continue
                found = self._detect(text, table, 0, where, role, keys)
            if found:
                out.append((i, found))
        return out

    def detect_many(self, texts: list[tuple[str, str | None, str]]) -> list[Finding]:
        """Findings in several ``(text, role, field)`` of one record, prefiltered together.

        The texts are joined and run through the prefilter once; when nothing matches
        (the common case) no detector runs. The join is a superset test: a key found in
        the joined text may belong to no single text, never the other way round.
        """
        if not texts:
            return []
        if self._skippable and len(texts) > 1 and not self._any_keys(texts):
            return []
        out: list[Finding] = []
        for text, role, where in texts:
            out.extend(self.detect(text, role, where))
        return out

    def _any_keys(self, texts: Sequence[tuple[str, str | None, str]]) -> bool:
        """Whether some detector may fire on one of ``texts`` (a superset test: the texts
        are joined and prefiltered once; only valid when ``self._skippable``)."""
        joined = "\x00\n".join(t[0] for t in texts)
        if self._any_non_ascii and not joined.isascii():
            return True
        return bool(self.prefilter.keys(joined, joined.lower))

    def detect(self, text: str, role: str | None = None, field: str = "") -> list[Finding]:
        """Every finding in ``text`` from the detectors that apply to ``role``."""
        if not text:
            return []
        table = self.table(role)
        if not table.detectors:
            return []
        if len(text) <= CHUNK + OVERLAP:
            return self._detect(text, table, 0, field, role)
        out: list[Finding] = []
        seen: set[tuple[str, int]] = set()
        for offset in range(0, len(text), CHUNK):
            for f in self._detect(
                text[offset : offset + CHUNK + OVERLAP], table, offset, field, role
            ):
                if f.start < offset + CHUNK and (f.detector, f.start) not in seen:
                    seen.add((f.detector, f.start))
                    out.append(f)
        return out

    def _detect(
        self,
        text: str,
        table: _Table,
        offset: int,
        field: str,
        role: str | None,
        keys: set[str] | None = None,
    ) -> list[Finding]:
        active = set(table.always)
        view = TextView(text)
        if table.by_key:
            by_key = table.by_key
            if keys is None:
                keys = self.prefilter.keys(text, lambda: view.lower)
            for key in keys:
                ix = by_key.get(key)
                if ix is not None:
                    active |= ix
        if table.non_ascii and not text.isascii():
            active |= table.non_ascii
        if not active:
            return []
        out: list[Finding] = []
        settings = self.settings
        for i in sorted(active):
            d = table.detectors[i]
            name = d.name
            for hit in d.find(view, settings):
                # positional, in the order of Finding's fields (faster than keywords)
                out.append(
                    Finding(
                        name, d.category, hit.severity or d.severity, hit.start + offset,
                        hit.end + offset, hit.evidence, fingerprint(name, hit.normalised),
                        hit.confidence, field, role, None, None, None, None, d.version,
                    )
                )  # fmt: skip
        if len(out) > 1:
            out = _drop_overlaps(out, self._priority)
        return out


def _drop_overlaps(findings: list[Finding], priority: dict[str, int]) -> list[Finding]:
    # The same span reported twice (a phone-like run inside an IBAN, a `password=` hit
    # around a GitHub token) keeps only the finding of the detector of higher priority.
    # For each rank, the spans of higher rank are kept sorted with a running max of their
    # ends, so each question "does a higher-ranked span overlap?" is one bisection.
    def rank(f: Finding) -> int:
        return priority[f.detector]

    leaky = sorted((f for f in findings if f.category in ("pii", "secret")), key=lambda f: f.start)
    ranks = sorted({rank(f) for f in leaky})
    above: dict[int, tuple[list[int], list[int]]] = {}
    for r in ranks:
        starts, max_ends, top = [], [], -1
        for f in leaky:
            if rank(f) > r:
                starts.append(f.start)
                top = max(top, f.end)
                max_ends.append(top)
        above[r] = (starts, max_ends)
    keep = []
    for f in findings:
        if f.category in ("pii", "secret"):
            starts, max_ends = above[rank(f)]
            i = bisect_left(starts, f.end)
            if i and max_ends[i - 1] > f.start:
                continue
        keep.append(f)
    keep.sort(key=lambda f: (f.start, f.detector))
    return keep


@dataclass
class _Cache:
    guards: dict[Any, Guard] = field(default_factory=dict)


_CACHE: Final = _Cache()


def cached_guard(checks: Iterable[str] | None, config: GuardConfig | None) -> Guard:
    """A Guard per (checks, config), built once per process."""
    key = (
        tuple(checks) if checks is not None else None,
        config.model_dump_json() if config is not None else None,
    )
    guard = _CACHE.guards.get(key)
    if guard is None:
        if len(_CACHE.guards) > 32:
            _CACHE.guards.clear()
        guard = _CACHE.guards[key] = Guard(checks, config)
    return guard
