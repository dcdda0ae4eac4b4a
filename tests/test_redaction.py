"""PII and secrets in model outputs are masked wherever they are shown or exported.

The results store keeps the raw output (rescoring and the guardrails scorer need it);
reports, ``--json``, ``runs show``, ``runs export`` and ``llmops diff`` show it masked.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.guard import detect, redact
from tests.openai_server import FakeOpenAI

MakeProject = Callable[..., Path]

EMAIL = "jane.doe@example.com"
CARD = "4111 1111 1111 1111"
AWS = "AKIAIOSFODNN7EXAMPLE"
PASSWORD = "hunter2xyz"
RAW = (EMAIL, CARD, AWS, PASSWORD, "4111111111111111")


# --- redact ----------------------------------------------------------------------------


def test_email_and_card() -> None:
    text = f"Contact {EMAIL}, card {CARD} please"
    assert redact(text) == "Contact j***@example.com, card 4111********1111 please"


def test_aws_key() -> None:
    assert redact(f"key: {AWS}.") == "key: AKIA************MPLE."


def test_password_assignment() -> None:
    assert redact(f"config password={PASSWORD} end") == "config password=********** end"


def test_several_findings_right_to_left_keep_the_rest() -> None:
    text = f"a {EMAIL} b {AWS} c password={PASSWORD} d"
    out = redact(text)
    assert out == "a j***@example.com b AKIA************MPLE c password=********** d"
    assert not detect(out or "", checks=["pii", "secrets"])
    assert redact(out) == out  # masking is idempotent: reports may mask a masked text


def test_no_findings_and_empty() -> None:
    text = "The capital of France is Paris. Nothing secret here: 42, 3.14, v1.2.3."
    assert redact(text) is text
    assert redact("") == ""
    assert redact(None) is None


def test_overlapping_findings_are_replaced_once(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib

    from llmops.guard import Finding

    module = importlib.import_module("llmops.guard.redact")
    text = "0123456789abcdefghij"

    def finding(start: int, end: int, evidence: str) -> Finding:
        return Finding(detector="x", category="secret", severity="high", start=start, end=end,
                       evidence=evidence, fingerprint="f")

    class FakeGuard:
        def detect(self, text: str, role: str | None) -> list[Finding]:
            return [finding(2, 6, "<A>"), finding(4, 12, "<LONGER>"), finding(15, 17, "<C>")]

    monkeypatch.setattr(module, "cached_guard", lambda checks, config: FakeGuard())
    # 2..12 is one joint span shown by the longest finding's evidence; 15..17 on its own.
    assert redact(text) == "01<LONGER>cde<C>hij"


# --- end to end ------------------------------------------------------------------------


def _run(root: Path, *args: str) -> Any:
    return CliRunner().invoke(app, ["--project", str(root), *args])


def _cases() -> list[dict[str, Any]]:
    questions = {
        "pii": f"Contact {EMAIL}, card {CARD} please",
        "aws": f"my key is {AWS} ok",
        "password": f"config password={PASSWORD} end",
        "clean": "what is the capital of France",
    }
    return [{"id": k, "vars": {"question": q}, "expected": q} for k, q in questions.items()]


def _assert_masked(text: str, where: str) -> None:
    lowered = text.lower()
    for raw in RAW:
        assert raw.lower() not in lowered, f"{raw!r} shown raw in {where}"


def test_eval_reports_json_and_exports_show_masked_outputs(
    openai_server: FakeOpenAI, make_project: MakeProject, tmp_path: Path
) -> None:
    root = make_project(
        openai_server.provider_config(), cases=_cases(),
        scorers=[{"exact": {}}, {"guardrails": {"checks": ["pii", "secrets"]}}],
    )
    res = _run(root, "eval", "qa", "--json", "-", "--format", "md,html,junit,json",
               "--report-dir", str(tmp_path / "reports"))
    assert res.exit_code in (0, 1), res.output
    _assert_masked(res.stdout, "--json stdout")
    _assert_masked(res.stderr, "terminal output")
    data = json.loads(res.stdout)
    run_id = data["run_id"]

    # The scorer saw the raw text: every case with PII or a secret fails guardrails.
    for v in data["variants"]:
        by_id = {c["id"]: c for c in v["cases"]}
        for case_id in ("pii", "aws", "password"):
            assert by_id[case_id]["scores"]["guardrails"]["value"] == 0, (v["version"], case_id)
        assert by_id["clean"]["scores"]["guardrails"]["value"] == 1
    v1 = next(v for v in data["variants"] if v["version"] == "v1")
    outputs = {c["id"]: c["output"] for c in v1["cases"]}
    assert outputs["pii"] == "Contact j***@example.com, card 4111********1111 please"
    assert outputs["aws"] == "my key is AKIA************MPLE ok"
    assert outputs["password"] == "config password=********** end"
    assert outputs["clean"] == "what is the capital of France"

    # The store keeps the raw outputs (for rescoring).
    import sqlite3

    con = sqlite3.connect(root / ".llmops" / "results.db")
    try:
        stored = {r[0] for r in con.execute("select output from results")}
    finally:
        con.close()
    assert f"Contact {EMAIL}, card {CARD} please" in stored

    reports = tmp_path / "reports" / run_id
    for name in ("summary.md", "junit.xml", "report.html", "results.json"):
        text = (reports / name).read_text(encoding="utf-8")
        _assert_masked(text, name)
    # Masked, then escaped as inert Markdown text (`*` escaped, no @mention).
    assert "j\\*\\*\\*@\u200bexample.com" in (reports / "summary.md").read_text(encoding="utf-8")
    junit = (reports / "junit.xml").read_text(encoding="utf-8")
    assert "AKIA************MPLE" in junit and "J***@EXAMPLE.COM" in junit
    html = (reports / "report.html").read_text(encoding="utf-8")
    assert "4111********1111" in html and "password=**********" in html
    stored_json = json.loads((reports / "results.json").read_text(encoding="utf-8"))
    assert stored_json["variants"][0]["cases"] == data["variants"][0]["cases"]

    shown = _run(root, "runs", "show", run_id)
    assert shown.exit_code == 0, shown.output
    _assert_masked(shown.stdout, "runs show")
    shown_json = _run(root, "runs", "show", run_id, "--json", "-")
    _assert_masked(shown_json.stdout, "runs show --json")

    out = tmp_path / "export.csv"
    exported = _run(root, "runs", "export", run_id, "--csv", str(out))
    assert exported.exit_code == 0, exported.output
    text = out.read_text(encoding="utf-8")
    _assert_masked(text, "runs export --csv")
    rows = list(csv.DictReader(out.open(encoding="utf-8")))
    assert len(rows) == 2 * 4 * 2  # variants × cases × scorers
    masked = {r["output"] for r in rows if r["case_id"] == "pii" and r["version"] == "v1"}
    assert masked == {"Contact j***@example.com, card 4111********1111 please"}


def test_diff_moved_cases_show_masked_outputs(
    openai_server: FakeOpenAI, make_project: MakeProject
) -> None:
    root = make_project(
        openai_server.provider_config(), cases=_cases(),
        scorers=[{"exact": {}}, {"guardrails": {"checks": ["pii", "secrets"]}}],
    )
    assert _run(root, "eval", "qa", "--format", "none").exit_code in (0, 1)
    text = _run(root, "diff", "qa@v1", "qa@v2", "--suite", "qa")
    assert text.exit_code == 0, text.output
    assert "cases that moved most" in text.stdout
    _assert_masked(text.stdout, "diff --suite")
    assert "j***@example.com" in " ".join(text.stdout.split())
    as_json = _run(root, "diff", "qa@v1", "qa@v2", "--suite", "qa", "--json", "-")
    assert as_json.exit_code == 0, as_json.output
    _assert_masked(as_json.stdout, "diff --suite --json")
    moved = {m["case_id"]: m for m in json.loads(as_json.stdout)["results"]["moved"]}
    assert moved["aws"]["a_output"] == "my key is AKIA************MPLE ok"
    assert moved["aws"]["b_output"] == "MY KEY IS AKIA************MPLE OK"
