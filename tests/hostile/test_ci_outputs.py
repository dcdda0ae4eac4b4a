"""Model outputs and endpoint errors that break what CI reads.

Attack → answer:

- control characters in an output (an ANSI colour code, NUL) → ``junit.xml`` stays
  well-formed XML, the characters shown as ``\\x1b``-style escapes;
- ``</details>``, ``<img src=x onerror=...>``, ``<script>``, ``@everyone``, ``#1``,
  ``![](https://tracker/pixel.png)`` and ``[link](...)`` in outputs and endpoint errors →
  ``summary.md``, rendered as GitHub renders Markdown (CommonMark with tables), shows them
  as text: no tag, image, link, mention or issue reference survives, and the report's own
  ``<details>`` sections stay balanced;
- the same in a case's input, its expected answer and a scorer's detail, which the
  "Cases to review" sections of ``summary.md`` quote → shown as text too;
- a backtick or a pipe in a case id → the id is one code span in one table cell.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from html.parser import HTMLParser
from pathlib import Path

from markdown_it import MarkdownIt
from typer.testing import CliRunner

from llmops.cli import app
from tests.fixtures_eval import build_project
from tests.openai_server import FakeOpenAI, Reply

HOSTILE = [
    "Sure.\x1b[31m red \x1b[0m and a NUL \x00 and a bell \x07",
    "</details></table><img src=x onerror=alert(1)> thanks",
    "<script>alert(document.cookie)</script> done",
    "@everyone please look, and @octocat/team too; see #1 and GH-2",
    "![pixel](https://tracker.example/p.png?u=1) and [click](https://evil.example)",
    "*bold* _em_ ~~strike~~ `code` | pipe | and\nnew line\n# heading\n> quote",
    "<https://autolink.example> &lt;img src=x&gt; &#60;b&#62;",
]
ODD_IDS = ["back`tick", "pi|pe", "``double``", "<b>id</b>", "@admin"]

ALLOWED_TAGS = {
    "h2", "h3", "h4", "p", "table", "thead", "tbody", "tr", "th", "td", "code", "pre",
    "details", "summary", "ul", "li", "em", "strong", "blockquote", "br", "hr",
}
MENTION = re.compile(r"(?:^|[^\w])[@#][A-Za-z0-9]")


class _Html(HTMLParser):
    """Tags, attributes and the text outside code of rendered HTML."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[str] = []
        self.ends: list[str] = []
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []
        self.code_texts: list[str] = []
        self._in_code = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self.attrs += attrs
        if tag in ("code", "pre"):
            self._in_code += 1
            self.code_texts.append("")

    def handle_endtag(self, tag: str) -> None:
        self.ends.append(tag)
        if tag in ("code", "pre"):
            self._in_code -= 1

    def handle_data(self, data: str) -> None:
        if self._in_code:
            self.code_texts[-1] += data
        else:
            self.text.append(data)


# Every case fails this scorer, whose detail quotes the output: each one is a case to
# review in summary.md, with its input, expected answer, both outputs and the detail.
QUOTING_SCORER = {"regex": {"pattern": "(?s).+", "invert": True}}


def _project(root: Path, server: FakeOpenAI) -> Path:
    # The first case's call gets the scripted endpoint error.
    cases = [{"id": cid, "vars": {"question": "plain"}, "expected": "nope"} for cid in ODD_IDS]
    cases += [{"id": f"case-{i}", "vars": {"question": text}, "expected": text[::-1] + text}
              for i, text in enumerate(HOSTILE)]
    return build_project(root, server.provider_config(max_retries=0), cases=cases,
                         scorers=[{"exact": {}}, QUOTING_SCORER])


def _eval(root: Path, server: FakeOpenAI) -> Path:
    server.script(Reply.error(400, "<img src=x onerror=alert(2)> </details> @everyone "
                                   "![x](https://tracker.example/e.png)"))
    res = CliRunner().invoke(
        app, ["--project", str(root), "eval", "qa", "--prompt", "qa@v2", "--baseline", "qa@v1",
              "--concurrency", "1", "--report-dir", str(root / "reports"),
              "--format", "md,junit,json"])
    assert res.exit_code in (0, 1), res.output
    return next((root / "reports").iterdir())


def test_junit_stays_well_formed_xml(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    run = _eval(_project(tmp_path / "p", openai_server), openai_server)
    tree = ET.parse(run / "junit.xml")  # raised "not well-formed" before
    texts = [e.text or "" for e in tree.iter("failure")]
    assert any("\\x1b[31m red \\x1b[0m and a NUL \\x00 and a bell \\x07" in t for t in texts)
    names = {tc.get("name") for tc in tree.iter("testcase")}
    assert set(ODD_IDS) <= names


def test_summary_md_renders_as_text_on_github(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    run = _eval(_project(tmp_path / "p", openai_server), openai_server)
    markdown = (run / "summary.md").read_text()
    outputs = {c["output"] for v in json.loads((run / "results.json").read_text())["variants"]
               for c in v["cases"] if c["output"]}
    assert any("onerror" in o for o in outputs)  # the attack reached the results
    assert "### Cases to review" in markdown and "| input |" in markdown
    assert "| expected |" in markdown and "match: " in markdown  # the scorer's detail
    html = MarkdownIt("gfm-like", {"linkify": False}).render(markdown)
    page = _Html()
    page.feed(html)
    assert set(page.tags) <= ALLOWED_TAGS, set(page.tags) - ALLOWED_TAGS
    own = {("class", "language-diff")}  # the report's own fenced prompt diff
    assert not [a for a in page.attrs if a[0] not in ("style", "align") and a not in own], \
        page.attrs
    assert page.tags.count("details") == page.ends.count("details") >= 1
    text = "".join(page.text)
    assert not MENTION.search(text), MENTION.findall(text)
    assert "onerror=alert(1)" in text and "onerror=alert(2)" in text  # shown, not acted on
    assert "@\u200beveryone" in text
    # the odd ids are single code spans, exactly as written
    assert set(ODD_IDS) <= set(page.code_texts)
