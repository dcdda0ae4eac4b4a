"""Credentials the detectors cannot know: the project's own keys and passwords in URLs.

The secrets detectors recognise keys by their shape (``sk-...``, ``AKIA...``). A key of
another shape, quoted back by a gateway in its 401 body, would pass them. Two things are
known for certain, and masked wherever text is shown, stored or exported:

- the values of the environment variables the project reads keys from (``api_key_env``
  of the provider, the judge and the embedder, in every suite): each occurrence becomes
  ``[$NAME]``, the variable's name;
- credentials in URLs: ``https://user:pass@host`` becomes ``https://***@host``, and the
  value of a query parameter named like a key (``?api_key=...``, ``&token=...``) ``***``.

Values shorter than :data:`MIN_LENGTH` are not masked: masking a one-letter test key
would mangle every text that contains that letter.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Iterable
from typing import Any

MIN_LENGTH = 8

_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@?#]+@")
_QUERY_SECRET = re.compile(
    r"(?i)([?&](?:api[-_]?key|key|access[-_]?token|token|secret|password|passwd|pwd|sig"
    r"|signature|auth|code)=)[^&#\s\"'<>]+"
)

_lock = threading.Lock()
_known: dict[str, str] = {}  # value -> variable name
_pattern: re.Pattern[str] | None = None


def remember_key(variable: str, value: str | None = None) -> None:
    """Mask the value of environment variable ``variable`` (read now unless given)."""
    global _pattern
    value = os.environ.get(variable) if value is None else value
    if not value or len(value) < MIN_LENGTH or not variable:
        return
    with _lock:
        if _known.get(value) == variable:
            return
        _known[value] = variable
        longest_first = sorted(_known, key=len, reverse=True)
        _pattern = re.compile("|".join(re.escape(v) for v in longest_first))


def remember_keys(variables: Iterable[str]) -> None:
    """:func:`remember_key` for each name (empty names are skipped)."""
    for variable in variables:
        if variable:
            remember_key(variable)


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


def key_variables(config: Any) -> list[str]:
    """Every ``api_key_env`` named anywhere in a config (a dict of dicts and lists), and
    every ``${VARIABLE}`` a ``default_headers`` value reads."""
    found: list[str] = []
    stack = [config]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            value = item.get("api_key_env")
            if isinstance(value, str) and value:
                found.append(value)
            headers = item.get("default_headers")
            if isinstance(headers, dict):
                found += [m for v in headers.values() if isinstance(v, str)
                          for m in _ENV_REF.findall(v)]
            stack.extend(item.values())
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return found


def without_credentials(url: str) -> str:
    """``url`` with its user, password and key-like query values replaced by ``***``."""
    return _QUERY_SECRET.sub(r"\1***", _URL_USERINFO.sub(r"\1***@", url))


def mask_credentials(text: str | None) -> str | None:
    """``text`` with the project's key values and every URL credential masked.

    Cheap when there is nothing to mask: one pass per pattern.
    """
    if not text:
        return text
    pattern = _pattern
    if pattern is not None:
        text = pattern.sub(lambda m: f"[${_known.get(m.group(), 'KEY')}]", text)
    if "@" in text or "=" in text:
        text = without_credentials(text)
    return text


def mask_credentials_in(value: Any) -> Any:
    """``value`` with :func:`mask_credentials` applied to every string in it (dicts, lists)."""
    if isinstance(value, str):
        return mask_credentials(value)
    if isinstance(value, dict):
        return {k: mask_credentials_in(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [mask_credentials_in(v) for v in value]
    return value
