"""Secret detectors, in the style of gitleaks rules.

Each rule is a keyword prefilter (the token's fixed prefix), an anchored regex tried only
where the keyword occurs, an entropy floor where the rule needs one, and stopwords for
placeholders (``sk-your-key-here``, ``<API_KEY>``, ``${TOKEN}``). Tokens are matched
anywhere, so they are found in prose ("my key is sk-...") as well as in code.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

import orjson

from llmops.guard.findings import Hit, entropy, mask
from llmops.guard.registry import Settings, TextView, detector
from llmops.severity import Severity

_PLACEHOLDER: Final = re.compile(
    r"(?i)(?:your|example|sample|dummy|placeholder|changeme|change_me|redacted|xxxx|\*\*\*|"
    r"\.\.\.|<|>|\$\{|\{\{|%\(|insert|replace|fake|test_?key|not_?real|secret_?here|"
    r"key_?here|token_?here)"
)
# The same words spelt out, for ASCII tokens (the common case), where a substring test of
# the lower-cased token gives the same answer as _PLACEHOLDER, many times faster.
_PLACEHOLDER_WORDS: Final = (
    "your", "example", "sample", "dummy", "placeholder", "changeme", "change_me", "redacted",
    "xxxx", "***", "...", "<", ">", "${", "{{", "%(", "insert", "replace", "fake", "test_key",
    "testkey", "not_real", "notreal", "secret_here", "secrethere", "key_here", "keyhere",
    "token_here", "tokenhere",
)  # fmt: skip


def _placeholder(token: str) -> bool:
    """Whether ``token`` holds a placeholder word (``your``, ``example``, ``<``, ``${`` ...)."""
    if not token.isascii():  # case folding beyond ASCII: let the pattern decide
        return _PLACEHOLDER.search(token) is not None
    low = token.lower()
    return any(word in low for word in _PLACEHOLDER_WORDS)


@dataclass(frozen=True)
class Rule:
    """One token rule: prefixes to look for, the anchored regex, the checks after it."""

    prefixes: tuple[str, ...]
    regex: re.Pattern[str]
    min_entropy: float = 0.0
    keep: int = 4  # characters kept at each end of the masked evidence
    mixed: bool = False  # the body must mix upper, lower and digits (random-looking)
    check: Callable[[str], bool] | None = None
    placeholders: bool = True  # reject tokens containing placeholder words
    severity: Callable[[str], str | None] | None = None


# Candidate positions tried per text and rule: a bound on time for hostile input.
MAX_ATTEMPTS: Final = 2000


def _find(view: TextView, rule: Rule) -> Iterator[Hit]:
    text = view.text
    seen: set[int] = set()
    for prefix in rule.prefixes:
        pos = text.find(prefix)
        while pos != -1 and len(seen) < MAX_ATTEMPTS:
            if pos not in seen and (
                pos == 0 or not (text[pos - 1].isalnum() or text[pos - 1] in "_")
            ):
                seen.add(pos)
                m = rule.regex.match(text, pos)
                if m is not None:
                    hit = _accept(rule, m.group(), pos)
                    if hit is not None:
                        yield hit
            pos = text.find(prefix, pos + 1)


def _accept(rule: Rule, token: str, pos: int) -> Hit | None:
    if rule.min_entropy and entropy(token) < rule.min_entropy:
        return None
    if rule.placeholders and _placeholder(token):
        return None
    if rule.mixed and not _random_looking(token):
        return None
    if rule.check is not None and not rule.check(token):
        return None
    severity = rule.severity(token) if rule.severity else None
    return Hit(pos, pos + len(token), token, mask(token, rule.keep, rule.keep), 1.0, severity)


_DIGIT: Final = re.compile("[0-9]")


def _random_looking(token: str) -> bool:
    body = token.split("-")[-1] if token.count("-") < 4 else token
    if body.isascii():  # the same test, without a loop over the characters
        return body != body.lower() and body != body.upper() and _DIGIT.search(body) is not None
    return (
        any(c.isupper() for c in body)
        and any(c.islower() for c in body)
        and any(c.isdigit() for c in body)
    )


def _rule_detector(name: str, rule: Rule, severity: Severity, description: str) -> None:
    def find(view: TextView, settings: Settings) -> Iterator[Hit]:
        return _find(view, rule)

    find.__doc__ = description
    detector(name, category="secret", severity=severity, triggers=rule.prefixes)(find)


_TAIL: Final = r"(?![A-Za-z0-9_\-])"

_rule_detector(
    "secret.aws_access_key",
    Rule(
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        re.compile(r"(?:AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16}(?![A-Za-z0-9])"),
        3.0,
        placeholders=False,
    ),
    "high",
    "AWS access key ids (AKIA/ASIA...).",
)
_rule_detector(
    "secret.github_token",
    Rule(
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        re.compile(r"(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{50,100})(?![A-Za-z0-9])"),
        3.0,
    ),
    "high",
    "GitHub personal, OAuth, app and fine-grained tokens.",
)
_rule_detector(
    "secret.gitlab_token",
    Rule(
        ("glpat-", "gloas-", "gldt-", "glrt-", "glptt-", "glsoat-"),
        re.compile(r"gl(?:pat|oas|dt|rt|ptt|soat)-[A-Za-z0-9_\-]{20,64}" + _TAIL),
        3.0,
    ),
    "high",
    "GitLab personal, deploy, runner and OAuth tokens.",
)
_rule_detector(
    "secret.slack_token",
    Rule(
        ("xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-", "xoxe-", "xapp-", "hooks.slack.com/"),
        re.compile(
            r"(?:xox[bparse]-(?:[0-9]{6,}-){1,3}[A-Za-z0-9]{16,64}|xapp-\d-[A-Z0-9]{6,}-\d{6,}-[a-f0-9]{32,}"
            r"|hooks\.slack\.com/(?:services|workflows)/T[A-Z0-9]{6,}/[AB][A-Z0-9]{6,}/[A-Za-z0-9]{16,})"
            + _TAIL
        ),
        keep=5,
    ),
    "high",
    "Slack bot, user and app tokens and incoming webhooks.",
)
_rule_detector(
    "secret.stripe_key",
    Rule(
        ("sk_live_", "sk_test_", "rk_live_", "rk_test_", "sk_prod_", "rk_prod_"),
        re.compile(r"[sr]k_(?:live|test|prod)_[A-Za-z0-9]{16,99}(?![A-Za-z0-9])"),
        3.0,
        keep=8,
        severity=lambda token: "medium" if "_test_" in token else None,
    ),
    "high",
    "Stripe secret and restricted keys (test keys: medium).",
)
_rule_detector(
    "secret.anthropic_key",
    Rule(
        ("sk-ant-",),
        re.compile(r"sk-ant-(?:api|admin|oat|sid)\d\d-[A-Za-z0-9_\-]{32,200}" + _TAIL),
        3.5,
        keep=10,
    ),
    "high",
    "Anthropic API and admin keys.",
)
_rule_detector(
    "secret.openai_key",
    Rule(
        ("sk-",),
        re.compile(r"sk-(?!ant-)(?:(?:proj|svcacct|admin|None)-)?[A-Za-z0-9_\-]{32,200}" + _TAIL),
        3.5,
        keep=7,
        mixed=True,
    ),
    "high",
    "OpenAI API keys (legacy sk-..., project, service-account and admin keys).",
)
_rule_detector(
    "secret.google_api_key",
    Rule(("AIza",), re.compile(r"AIza[0-9A-Za-z_\-]{35}" + _TAIL), 3.0),
    "high",
    "Google API keys (AIza...).",
)


def _jwt_ok(token: str) -> bool:
    header = token.split(".", 1)[0]
    try:
        decoded = orjson.loads(base64.urlsafe_b64decode(header + "=" * (-len(header) % 4)))
    except (ValueError, binascii.Error, orjson.JSONDecodeError):
        return False
    return isinstance(decoded, dict) and ("alg" in decoded or "typ" in decoded)


_rule_detector(
    "secret.jwt",
    Rule(
        ("eyJ",),
        re.compile(
            r"eyJ[A-Za-z0-9_\-]{8,2000}\.eyJ[A-Za-z0-9_\-]{8,8000}\.[A-Za-z0-9_\-]{0,2000}" + _TAIL
        ),
        keep=6,
        check=_jwt_ok,
    ),
    "medium",
    "JSON Web Tokens (header decodes to JSON with alg/typ).",
)

# --- PEM private keys ----------------------------------------------------------------

_PEM: Final = re.compile(
    r"-----BEGIN ((?:RSA |EC |DSA |OPENSSH |ENCRYPTED |PGP )?PRIVATE KEY(?: BLOCK)?)-----"
)
_BASE64_CHAR: Final = re.compile(r"[A-Za-z0-9+/=]")


@detector("secret.private_key", category="secret", severity="high", triggers=("PRIVATE KEY-----",))
def private_key(view: TextView, settings: Settings) -> Iterator[Hit]:
    """PEM private key blocks with a body (not bare headers, not public keys)."""
    text = view.text
    for n, m in enumerate(_PEM.finditer(text)):
        if n >= MAX_ATTEMPTS:
            break
        end_marker = text.find("-----END", m.end(), m.end() + 20000)
        stop = end_marker if end_marker != -1 else min(len(text), m.end() + 400)
        body = text[m.end() : stop].replace("\\n", "")
        if len(_BASE64_CHAR.findall(body)) < 40 or _PLACEHOLDER.search(body[:60]):
            continue
        end = stop
        if end_marker != -1:
            close = text.find("-----", end_marker + 8)
            end = close + 5 if close != -1 else end_marker
        normalised = "".join(_BASE64_CHAR.findall(body))
        yield Hit(m.start(), end, normalised, f"-----BEGIN {m.group(1)}----- ****")


# --- generic assignments -------------------------------------------------------------

_GENERIC_KEYS: Final = (
    "password", "passwd", "passphrase", "pwd", "secret", "api_key", "apikey", "api-key",
    "access_key", "accesskey", "auth_token", "authtoken", "access_token", "token",
    "credential", "private_key", "client_secret",
)  # fmt: skip
_GENERIC: Final = re.compile(
    r"[A-Za-z0-9_.\-]{0,40}+[\"']?[ \t]{0,5}(?::=|=>|=|:|[ \t]+(?:is|was|=)[ \t]+)[ \t]{0,5}"
    r"(?:\"([^\"\s]{4,200})\"|'([^'\s]{4,200})'|`([^`\s]{4,200})`|([^\s\"'`,;<>(){}\[\]]{4,200}))"
)
_NOT_SECRET_KEYS: Final = re.compile(
    r"(?:tokens|_count|count|_limit|_type|_usage|_length|_len|_url|_uri|_endpoint|_name|_id|"
    r"_file|_path|_env|_header|_expiry|_expires|_ttl|izer|_policy|_manager|_store|_field|"
    r"_prompt|_regex|_pattern|_min|_max|_hint|_label|_question|_reset|_required|_strength)$"
)
_STOPWORDS: Final = frozenset(
    {
        "required",
        "incorrect",
        "invalid",
        "wrong",
        "missing",
        "none",
        "null",
        "nil",
        "undefined",
        "true",
        "false",
        "empty",
        "password",
        "secret",
        "token",
        "changeme",
        "admin",
        "default",
        "hidden",
        "masked",
        "unknown",
        "string",
        "optional",
        "env",
        "environment",
        "config",
        "settings",
        "variable",
        "value",
        "here",
        "below",
        "above",
    }
)
_TRAILING: Final = ".,;:!?)]}"


@detector(
    "secret.generic_assignment",
    category="secret",
    severity="high",
    priority=1,
    itriggers=_GENERIC_KEYS,
)
def generic_assignment(view: TextView, settings: Settings) -> Iterator[Hit]:
    """``password=...``, ``api_key: ...``, ``my password is ...`` with a secret-looking value."""
    text, lower = view.text, view.lower
    done: set[int] = set()
    for key in _GENERIC_KEYS:
        pos = lower.find(key)
        while pos != -1 and len(done) < MAX_ATTEMPTS:
            start = pos
            while start > 0 and pos - start < 40 and _is_key_char(lower[start - 1]):
                start -= 1
            if start not in done:
                done.add(start)
                hit = _assignment(text, lower, start)
                if hit is not None:
                    yield hit
            pos = lower.find(key, pos + len(key))


def _is_key_char(ch: str) -> bool:
    return ch.isalnum() or ch in "_.-"


def _assignment(text: str, lower: str, start: int) -> Hit | None:
    m = _GENERIC.match(text, start)
    if m is None:
        return None
    key_end = start
    while key_end < len(lower) and key_end - start < 40 and _is_key_char(lower[key_end]):
        key_end += 1
    if _NOT_SECRET_KEYS.search(lower[start:key_end]):
        return None
    group = next(g for g in (1, 2, 3, 4) if m.group(g) is not None)
    value = m.group(group)
    vstart = m.start(group)
    if group == 4:
        value = value.rstrip(_TRAILING)
    if not _secret_value(value):
        return None
    evidence = f"{text[start:key_end]}={'*' * min(len(value), 12)}"
    return Hit(start, vstart + len(value), value, evidence)


_IDENTIFIER: Final = re.compile(r"[a-z_]+|[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)+")


def _secret_value(value: str) -> bool:
    if len(value) < 6 or value.lower() in _STOPWORDS or _placeholder(value):
        return False
    if value.isdigit() or value[0] in "$%@&" or _IDENTIFIER.fullmatch(value):
        return False
    has_digit = any(c.isdigit() for c in value)
    has_symbol = any(not c.isalnum() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    if has_alpha and (has_digit or has_symbol):
        return entropy(value) >= 2.0
    return len(value) >= 12 and entropy(value) >= 3.0
