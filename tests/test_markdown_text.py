"""Untrusted text in summary.md: literal, one line, no mention, no broken code span."""

from __future__ import annotations

import pytest
from markdown_it import MarkdownIt

from llmops.reports.markdown_text import code, html_text, inline

MD = MarkdownIt("gfm-like", {"linkify": False})


def _cell_html(cell: str) -> str:
    html = MD.render(f"| h |\n|---|\n| {cell} |\n")
    return html.split("<td>", 1)[1].split("</td>", 1)[0]


@pytest.mark.parametrize(
    "text",
    ["a | b", "<img src=x onerror=alert(1)>", "![t](https://x.example/p.png)", "*b* _e_ ~~s~~",
     "back`tick", "trailing\\", "[l](https://x.example)", "1. item", "- item", "# heading",
     "&lt;b&gt; &amp;", "tab\there"],
)
def test_inline_text_renders_as_itself(text: str) -> None:
    html = _cell_html(inline(text))
    import html as h

    assert "<" not in html.replace("&lt;", "")  # no tag at all
    assert h.unescape(html) == " ".join(text.split())


@pytest.mark.parametrize("text", ["a`b", "``x``", "`", "a|b", "<b>", " padded "])
def test_code_spans_hold_anything(text: str) -> None:
    html = _cell_html(code(text))
    import html as h

    assert html.startswith("<code>") and html.endswith("</code>")
    assert h.unescape(html[6:-7]).strip() == text.strip()


def test_mentions_and_references_are_broken_but_addresses_are_not() -> None:
    assert inline("@everyone") == "@\u200beveryone"
    assert inline("see #12") == "see \\#\u200b12"
    assert inline("qa@v2") == "qa@v2"  # not a mention on GitHub either
    assert html_text("<x> @team") == "&lt;x&gt; @\u200bteam"
    assert inline("x" * 10, limit=5) == "xxxx…"
