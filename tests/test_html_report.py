"""report.html: self-contained, renders in headless Chromium without script errors."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from llmops.cli._app import RootGroup, state
from llmops.cli.history import history_command
from llmops.eval.run import evaluate
from llmops.project import load_project
from llmops.reports import svg
from llmops.reports.history import history
from llmops.reports.html import eval_html, history_html
from tests.test_diff import write_project

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package")


def dump_dom(page: Path, profile: Path) -> str:
    """Load a page in headless Chromium, run its scripts, return the resulting DOM."""
    assert CHROMIUM is not None
    proc = subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--no-first-run", f"--user-data-dir={profile}", "--virtual-time-budget=2000",
         "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout


def script_errors(dom: str) -> str:
    match = re.search(r'<pre id="js-errors">(.*?)</pre>', dom, flags=re.S)
    assert match is not None, "the error box is missing"
    return match.group(1)


@pytest.fixture
def two_runs(tmp_path: Path, openai_server: Any) -> tuple[Path, Any]:
    root = write_project(tmp_path, openai_server.provider_config())
    evaluate(str(root), "s", prompts=["p@v2"], formats=())
    result = evaluate(str(root), "s", prompts=["p@v2"], formats=())
    return root, result


@pytest.fixture
def two_runs_each_backend(store_backend: Any, tmp_path: Path, openai_server: Any
                          ) -> tuple[Path, Any]:
    """The same two runs in a SQLite file, then in a PostgreSQL database."""
    root = write_project(tmp_path, openai_server.provider_config())
    evaluate(str(root), "s", prompts=["p@v2"], formats=())
    result = evaluate(str(root), "s", prompts=["p@v2"], formats=())
    assert store_backend.count(root, "select count(*) from runs") == 2
    return root, result


def test_report_is_self_contained(two_runs: tuple[Path, Any]) -> None:
    root, result = two_runs
    page = eval_html(result, project=load_project(root))
    assert "<script src" not in page and "<link" not in page and "@import" not in page
    assert "url(" not in page
    # The only URL is the SVG namespace, which is a name, never fetched.
    assert set(re.findall(r"https?://[^\s\"'<>]+", page)) == {"http://www.w3.org/2000/svg"}
    assert page.count("<svg") == 3  # distribution, per-case change, history
    assert "improved" in page and "History of p" in page
    for chart in re.findall(r"<svg.*?</svg>", page, flags=re.S):
        ET.fromstring(chart)  # each chart is well-formed XML


@needs_chromium
def test_report_renders_in_headless_chromium(two_runs: tuple[Path, Any], tmp_path: Path) -> None:
    root, result = two_runs
    page = tmp_path / "report.html"
    page.write_text(eval_html(result, project=load_project(root)), encoding="utf-8")
    dom = dump_dom(page, tmp_path / "profile")
    assert 'data-ready="1"' in dom  # the inline script ran to the end
    assert script_errors(dom).strip() == ""
    assert dom.count("<svg") == 3 and "c19" in dom


@needs_chromium
def test_the_error_box_catches_a_script_error(tmp_path: Path) -> None:
    # The check above could not fail if errors were not caught: show that they are.
    page = tmp_path / "broken.html"
    html = eval_html({"run_id": "r", "suite": "s", "variants": [], "comparisons": []})
    page.write_text(html.replace("</body>", "<script>noSuchFunction();</script></body>"))
    assert "noSuchFunction" in script_errors(dump_dom(page, tmp_path / "profile"))


def test_history_reads_every_run_of_the_prompt(two_runs_each_backend: tuple[Path, Any]
                                               ) -> None:
    root, result = two_runs_each_backend
    h = history(load_project(root), "p")
    assert len(h.runs) == 2 and h.runs[-1] == result.run_id
    assert h.scorers == ["contains"]
    means = {(p.run_id, p.version): p.mean for p in h.points}
    assert means[(result.run_id, "v1")] == pytest.approx(0.2)
    assert means[(result.run_id, "v2")] == pytest.approx(1.0)
    assert history(load_project(root), "p", limit=1).runs == [result.run_id]
    assert history(load_project(root), "nope").points == []
    assert "<svg" in history_html(h)


def test_history_command_json_html_and_table(
    two_runs_each_backend: tuple[Path, Any], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root, _ = two_runs_each_backend
    monkeypatch.setattr(state, "project", None)  # as if no --project was given
    app = typer.Typer(cls=RootGroup)
    app.command("history")(history_command)
    app.command("noop")(lambda: None)  # a group, as under `llmops runs`
    runner = CliRunner()
    env = {"LLMOPS_PROJECT": str(root)}
    out = runner.invoke(app, ["history", "p", "--json", "-"], env=env)
    assert out.exit_code == 0, out.output
    assert len(json.loads(out.stdout)["points"]) == 4
    chart = tmp_path / "h.html"
    text = runner.invoke(app, ["history", "p", "--html", str(chart)], env=env)
    assert text.exit_code == 0, text.output
    assert "history of p" in text.stdout and chart.is_file(), text.stdout
    bad = runner.invoke(app, ["history", "p", "--suite", "nope"], env=env)
    assert bad.exit_code == 2 and "unknown suite" in bad.output


def test_charts_handle_empty_and_constant_data() -> None:
    for chart in (
        svg.histogram({"a": [], "b": [0.5, 0.5]}, title="t"),
        svg.delta_scatter([], title="t"),
        svg.delta_scatter([("x", 0.3, 0.0)], title="t"),
        svg.line_chart({"v1": [(0, 0.4, "r1")]}, title="t", x_labels=["r1"]),
        svg.histogram({"<b>": [2.0, -1.0]}, title="a & b"),
    ):
        root = ET.fromstring(chart)
        assert root.tag.endswith("svg")
