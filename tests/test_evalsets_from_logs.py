"""`llmops evalsets from-logs`: recorded answers from every log shape, masked, sampled."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.evalsets import load_evalset
from llmops.from_logs import sample_logs
from llmops.providers.recorded import require_outputs

EMAIL = "jane.doe@example.com"
KEY = "sk-proj-4f9XbT2qLm8VnR6sWc1ZyA7dKe3HgJ5u"


def openai_record(i: int, question: str, answer: str) -> dict[str, Any]:
    return {"id": f"chat-{i}", "prompt_version": "support@v2", "request": {"messages": [
        {"role": "system", "content": "Be kind."},
        {"role": "user", "content": "earlier question"},
        {"role": "assistant", "content": "earlier answer"},
        {"role": "user", "content": question}]},
        "response": {"choices": [{"message": {"role": "assistant", "content": answer}},
                                 {"message": {"role": "assistant", "content": "second"}}]}}


SHAPES: list[dict[str, Any]] = [
    openai_record(1, f"My email is {EMAIL}, where is my refund?", "Within 30 days."),
    {"custom_id": "batch-7", "response": {"body": {"choices": [
        {"message": {"role": "assistant", "content": "Batch answer."}}]}},
     "body": {"messages": [{"role": "user", "content": "Batch question?"}]}},
    {"span_id": "span-3", "attributes": {
        "gen_ai.input.messages": json.dumps([{"role": "user", "parts": [
            {"type": "text", "content": "Span question?"}]}]),
        "gen_ai.output.messages": json.dumps([{"role": "assistant", "parts": [
            {"type": "text", "content": f"Use the key {KEY}"}]}])}},
    {"id": "simple-4", "input": "Simple question?", "output": "Simple answer."},
    {"id": "no-answer", "input": "Nobody answered this"},
]


def write_logs(path: Path, rows: list[dict[str, Any]], extra: str = "") -> Path:
    text = "".join(json.dumps(r) + "\n" for r in rows) + extra
    if path.suffix == ".gz":
        path.write_bytes(gzip.compress(text.encode()))
    elif path.suffix == ".zst":
        import zstandard

        path.write_bytes(zstandard.ZstdCompressor().compress(text.encode()))
    else:
        path.write_text(text)
    return path


def test_every_shape_becomes_a_case_with_input_and_output(tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "prod.jsonl", SHAPES, "{not json\n")
    report = sample_logs([logs], 10)
    assert (report.records, report.usable, report.without_pair, report.bad_lines) == (
        5, 4, 1, 1)
    assert report.first_bad is not None and report.first_bad.startswith(f"{logs}:6: ")
    by_id = {c.id: (c.input, c.output) for c in report.cases}
    assert by_id == {
        "chat-1": (f"My email is {EMAIL}, where is my refund?", "Within 30 days."),
        "batch-7": ("Batch question?", "Batch answer."),
        "span-3": ("Span question?", f"Use the key {KEY}"),
        "simple-4": ("Simple question?", "Simple answer."),
    }


def test_cli_writes_a_masked_eval_set_that_kind_recorded_accepts(tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "prod.jsonl.gz", SHAPES)
    out = tmp_path / "evalsets" / "production.jsonl"
    out.parent.mkdir()
    result = CliRunner().invoke(app, ["evalsets", "from-logs", str(logs), "--sample", "10",
                                      "--out", str(out)])
    assert result.exit_code == 0, result.output
    assert "wrote 4 cases" in result.output and "PII and secrets masked" in result.output
    text = out.read_text()
    assert EMAIL not in text and KEY not in text
    evalset = load_evalset(out)
    require_outputs(evalset)  # every case has its recorded answer
    first = evalset.cases[0]
    assert first.id == "chat-1" and first.tags == ["prompt_version:support@v2"]
    assert "where is my refund?" in first.vars["input"] and first.output == "Within 30 days."
    kept = tmp_path / "kept.jsonl"
    CliRunner().invoke(app, ["evalsets", "from-logs", str(logs), "--sample", "10",
                             "--out", str(kept), "--keep-pii"])
    assert EMAIL in kept.read_text() and KEY in kept.read_text()


def test_sampling_is_seeded_uniform_and_in_log_order(tmp_path: Path) -> None:
    rows = [openai_record(i, f"question {i}", f"answer {i}") for i in range(1000)]
    logs = [write_logs(tmp_path / "a.jsonl", rows[:600]),
            write_logs(tmp_path / "b.jsonl.zst", rows[600:])]
    first = [c.id for c in sample_logs(logs, 50, seed=1).cases]
    assert first == [c.id for c in sample_logs(logs, 50, seed=1).cases]
    assert first != [c.id for c in sample_logs(logs, 50, seed=2).cases]
    numbers = [int(i.split("-")[1]) for i in first]
    assert len(set(numbers)) == 50 and numbers == sorted(numbers)
    assert any(n >= 600 for n in numbers) and any(n < 600 for n in numbers)  # both files
    # Uniform: over many seeds every part of the logs is drawn about as often.
    halves = [0, 0]
    for seed in range(40):
        for c in sample_logs(logs, 10, seed=seed).cases:
            halves[int(c.id.split("-")[1]) >= 500] += 1
    assert 150 <= halves[0] <= 250 and 150 <= halves[1] <= 250


def test_ids_seen_twice_stay_unique(tmp_path: Path) -> None:
    rows = [openai_record(1, "q", "a"), openai_record(1, "q again", "a again")]
    report = sample_logs([write_logs(tmp_path / "x.jsonl", rows)], 5)
    assert [c.id for c in report.cases] == ["chat-1", "chat-1~2"]


def test_missing_file_is_exit_2_naming_it(tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["evalsets", "from-logs", str(tmp_path / "nope.jsonl"),
                                      "--sample", "3", "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 2
    assert "nope.jsonl: file not found" in result.output
    assert not (tmp_path / "o.jsonl").exists()


def test_no_usable_record_writes_nothing(tmp_path: Path) -> None:
    logs = write_logs(tmp_path / "x.jsonl", [{"id": "a", "input": "unanswered"}])
    result = CliRunner().invoke(app, ["evalsets", "from-logs", str(logs), "--sample", "3",
                                      "--out", str(tmp_path / "o.jsonl")])
    assert result.exit_code == 1 and "nothing written" in result.output
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize("n", ["0", "-1"])
def test_sample_must_be_positive(tmp_path: Path, n: str) -> None:
    result = CliRunner().invoke(app, ["evalsets", "from-logs", "x.jsonl", "--sample", n,
                                      "--out", "o.jsonl"])
    assert result.exit_code == 2


EXPORTS = Path(__file__).parent / "guard_data" / "exports"
# One answered record of each real export: its question and the answer a user would
# expect to be scored (an agent's final answer, never its reasoning or a tool turn).
EXPECTED = {
    "anthropic.jsonl": ("an-1", "Where is my order?", "It ships today."),
    "langfuse.jsonl": ("lf-gen-1", "Hi, please send the invoice", "Done, 4111"),
    "langsmith.jsonl": ("ls-lc-2", "Update my email", "Updating it now."),
    "openai_parts.jsonl": ("chatcmpl-parts-1", "Photo of my card attached", "Verified."),
    "openai_responses.jsonl": ("rs-1", "Book a table", "Booked."),
    "openinference.jsonl": ("oi-flat-1", "Ship it to", "Shipping now;"),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_every_guard_export_shape_gives_the_final_answer(name: str) -> None:
    report = sample_logs([EXPORTS / name], 100)
    by_id = {c.id: c for c in report.cases}
    cid, question, answer = EXPECTED[name]
    assert by_id[cid].input.startswith(question)
    assert by_id[cid].output.startswith(answer), by_id[cid].output


def test_every_guard_export_masked_unless_keep_pii(tmp_path: Path) -> None:
    logs = sorted(str(p) for p in EXPORTS.glob("*.jsonl"))
    masked, kept = tmp_path / "masked.jsonl", tmp_path / "kept.jsonl"
    for out, extra in ((masked, []), (kept, ["--keep-pii"])):
        result = CliRunner().invoke(app, ["evalsets", "from-logs", *logs, "--sample", "100",
                                          "--out", str(out), *extra])
        assert result.exit_code == 0, result.output
    raw = ["maya.r@example.com", "4111 1111 1111 1111", "ghp_oXL3Gv3fgrMRcnNfzSgQGH0FRRHBKv",
           "+44 20 7946 0958", "AKIAIOSFODNN7EXAMPLE", "123-45-6788"]
    assert not [r for r in raw if r in masked.read_text()]
    assert all(r in kept.read_text() for r in raw)
    assert len(load_evalset(masked).cases) == len(load_evalset(kept).cases) == 16
