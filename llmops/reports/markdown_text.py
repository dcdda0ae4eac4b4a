"""Untrusted text inside GitHub Markdown: shown as written, never acted on.

Model outputs, endpoint errors and case ids end up in ``summary.md``, which GitHub renders
as a pull-request comment. Written verbatim, ``</details>`` closes the report's sections,
``<img onerror=...>`` and ``![](https://tracker/pixel.png)`` become images, ``@everyone``
and ``#123`` notify people and cross-reference issues, a ``|`` splits a table cell, and a
backtick ends a code span. These functions make such text inert:

- :func:`inline` for table cells, list items and headings: one line, HTML characters as
  entities, Markdown punctuation backslash-escaped;
- :func:`code` for a code span of any content, safe inside a table;
- :func:`html_text` for text inside the report's own HTML (``<summary>``).

Control characters (an ANSI colour code) are shown as U+FFFD.

Mentions and issue references get a zero-width space after ``@`` or ``#``: GitHub looks
for them in the rendered text, where entities and backslashes are already gone.
"""

from __future__ import annotations

import re

_ZWSP = "\u200b"
_HTML = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;"})
_PUNCTUATION = re.compile(r"([\\`*_\[\]!|~#])")
_LIST_MARKER = re.compile(r"^([+\-]|\d+(?=[.)]))")
_REFERENCE = re.compile(r"(?<![A-Za-z0-9_])([@#])(?=[A-Za-z0-9])")  # @user, @org/team, #123
_BACKTICKS = re.compile(r"`+")
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")


def _one_line(text: object, limit: int | None) -> str:
    flat = " ".join(_CONTROL.sub("\ufffd", str(text)).split())
    if limit is not None and len(flat) > limit:
        flat = flat[: limit - 1] + "…"
    return flat


def _no_references(text: str) -> str:
    return _REFERENCE.sub(lambda m: m.group(1) + _ZWSP, text)


def inline(text: object, limit: int | None = None) -> str:
    """``text`` as literal inline Markdown: one line, cut to ``limit`` characters."""
    flat = _one_line(text, limit)
    escaped = _PUNCTUATION.sub(r"\\\1", flat.translate(_HTML))
    # A leading `-`, `+` or `1.` would start a list inside a list item.
    escaped = _LIST_MARKER.sub(lambda m: m.group(1) + "\\" if m.group(1)[0].isdigit()
                               else "\\" + m.group(1), escaped)
    return _no_references(escaped)


def code(text: object, limit: int | None = None) -> str:
    """``text`` as a code span, whatever backticks or pipes it holds (table-safe)."""
    flat = _one_line(text, limit).replace("|", "\\|")
    longest = max((len(run) for run in _BACKTICKS.findall(flat)), default=0)
    fence = "`" * (longest + 1)
    if flat.startswith("`") or flat.endswith("`") or not flat.strip():
        flat = f" {flat} "
    return f"{fence}{flat}{fence}"


def html_text(text: object, limit: int | None = None) -> str:
    """``text`` inside an HTML element of the report: entities, one line, no references."""
    return _no_references(_one_line(text, limit).translate(_HTML))


def html_code(text: object, limit: int | None = None) -> str:
    """``text`` as an HTML ``<code>`` element of the report (inside ``<summary>``): one
    line, entities, written as is otherwise; GitHub links no mention or reference
    inside ``code``."""
    return f"<code>{_one_line(text, limit).translate(_HTML)}</code>"
