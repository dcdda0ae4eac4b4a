"""The export shapes of observability tools and provider APIs, and "nothing silently clean".

The fixtures in tests/guard_data/exports/ follow the formats the tools publish (their API
references and SDK sources): Langfuse observations and traces, LangSmith runs, OpenInference
spans, Anthropic Messages, the OpenAI Responses API, OpenAI chat with content parts. Values
are planted in every role; each must be found once, with its field and its role, and the
values planted in system prompts must not be (PII and secrets are looked for in every role
but the system prompt).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from llmops.cli import app
from llmops.guard import scan, scan_files
from llmops.guard.readers import known_shapes, records_of

EXPORTS = Path(__file__).parent / "guard_data" / "exports"

U, A, T, C = "user", "assistant", "tool", "tool_call"
EXPECTED: dict[str, list[tuple[str | None, str, str, str]]] = {
    "langfuse": [
        ("lf-gen-1", "input[1].content", U, "pii.email"),
        ("lf-gen-1", "output.content", A, "pii.credit_card"),
        ("lf-gen-2", "input.messages[0].content[0].text", U, "pii.phone"),
        ("lf-gen-2", "output.tool_calls[0].function.arguments", C, "pii.phone"),
        ("lf-gen-2", "output.tool_calls[0].function.arguments", C, "secret.github_token"),
        ("lf-tool-3", "input.customer_email", C, "pii.email"),
        ("lf-tool-3", "output", T, "pii.iban"),
        ("lf-trace-4", "input", U, "pii.credit_card"),
        ("lf-trace-4", "output", A, "pii.email"),
        ("lf-obs-5", "input[0].content", U, "pii.ssn"),
        ("lf-obs-5", "output[0].text", A, "secret.aws_access_key"),
        ("lf-trace-6", "input.question", U, "pii.iban"),
        ("lf-obs-7", "input[0].content", U, "pii.iban"),
        ("lf-obs-7", "output", A, "pii.email"),
    ],
    "langsmith": [
        ("ls-openai-1", "inputs.messages[1].content", U, "pii.email"),
        ("ls-openai-1", "outputs.choices[0].message.content", A, "pii.credit_card"),
        ("ls-lc-2", "inputs.messages[0][1].kwargs.content[0].text", U, "pii.email"),
        ("ls-lc-2", "outputs.generations[0][0].message.kwargs.content", A, "pii.credit_card"),
        ("ls-lc-2", "outputs.generations[0][0].message.kwargs.tool_calls[0].args", C,
         "secret.github_token"),
        ("ls-tool-3", "inputs.input", C, "pii.email"),
        ("ls-tool-3", "outputs.output.kwargs.content", T, "pii.phone"),
        ("ls-chain-4", "inputs.question", U, "pii.credit_card"),
        ("ls-chain-4", "outputs.messages[1].content", A, "pii.email"),
        ("ls-child-5", "inputs.prompts[0]", U, "pii.ssn"),
        ("ls-child-5", "outputs.generations[0][0].text", A, "pii.email"),
    ],
    "openinference": [
        ("oi-flat-1", "attributes.llm.input_messages.1.message.content", U, "pii.email"),
        ("oi-flat-1", "attributes.llm.output_messages.0.message.content", A, "pii.credit_card"),
        ("oi-flat-1",
         "attributes.llm.output_messages.0.message.tool_calls.0.tool_call.function.arguments", C,
         "secret.github_token"),
        ("oi-nested-2",
         "attributes.llm.input_messages.0.message.contents.0.message_content.text", U,
         "pii.phone"),
        ("oi-nested-2", "attributes.llm.output_messages.0.message.content", A, "pii.email"),
        ("oi-otlp-3", "attributes.llm.input_messages.0.message.content", U, "pii.credit_card"),
        ("oi-otlp-3",
         "attributes.llm.output_messages.0.message.contents.0.message_content.text", A,
         "pii.email"),
        ("oi-tool-4", "attributes.input.value.customer_email", C, "pii.email"),
        ("oi-tool-4", "attributes.output.value", T, "pii.iban"),
        ("oi-chain-5", "attributes.input.value", U, "pii.credit_card"),
        ("oi-chain-5", "attributes.output.value", A, "pii.email"),
        ("oi-retriever-6", "attributes.retrieval.documents.0.document.content", T, "pii.phone"),
    ],
    "anthropic": [
        ("an-1", "request.messages[0].content", U, "pii.email"),
        ("an-1", "request.messages[1].content[1].input", C, "pii.email"),
        ("an-1", "request.messages[1].content[1].input", C, "secret.github_token"),
        ("an-1", "request.messages[2].content[0].content[0].text", T, "pii.credit_card"),
        ("an-1", "response.content[0].text", A, "pii.iban"),
        (None, "messages[0].content[1].text", U, "pii.phone"),
        ("msg_an3", "content[0].thinking", A, "pii.ssn"),
        ("msg_an3", "content[1].text", A, "pii.email"),
        ("msg_an3", "content[2].input", C, "pii.credit_card"),
        (None, "messages[2].content[0].content", T, "secret.aws_access_key"),
    ],
    "openai_responses": [
        ("rs-1", "request.input", U, "pii.phone"),
        ("rs-1", "response.output[1].content[0].text", A, "pii.credit_card"),
        (None, "input[1].content[0].text", U, "pii.email"),
        (None, "input[2].arguments", C, "pii.credit_card"),
        (None, "input[3].output", T, "pii.iban"),
        ("resp_rs3", "output[0].arguments", C, "pii.phone"),
        ("resp_rs3", "output[1].content[0].refusal", A, "pii.email"),
    ],
    "openai": [
        ("chatcmpl-parts-1", "request.messages[1].content[0].text", U, "pii.email"),
        ("chatcmpl-parts-1", "request.messages[2].tool_calls[0].function.arguments", C,
         "pii.ssn"),
        ("chatcmpl-parts-1", "request.messages[3].content[0].text", T, "pii.credit_card"),
        ("chatcmpl-parts-1", "response.choices[0].message.content", A, "secret.github_token"),
    ],
}  # fmt: skip
FILES = {
    "langfuse": "langfuse.jsonl",
    "langsmith": "langsmith.jsonl",
    "openinference": "openinference.jsonl",
    "anthropic": "anthropic.jsonl",
    "openai_responses": "openai_responses.jsonl",
    "openai": "openai_parts.jsonl",
}
# Planted in system prompts, developer messages and instructions: not looked for there.
IN_SYSTEM_PROMPTS = {
    ("an-1", "request.system[0].text"),
    ("lf-gen-1", "input[0].content"),
    ("ls-openai-1", "inputs.messages[0].content"),
    ("chatcmpl-parts-1", "request.messages[0].content[0].text"),
    ("rs-1", "request.instructions"),
    (None, "input[0].content"),  # a developer message of the Responses API
    ("oi-flat-1", "attributes.llm.input_messages.0.message.content"),
}


def found(result: Any) -> list[tuple[str | None, str, str, str]]:
    return [(f.record, f.field, f.role, f.detector) for f in result.findings]


@pytest.mark.parametrize("shape", list(FILES))
def test_every_planted_value_is_found_with_its_role(shape: str) -> None:
    path = EXPORTS / FILES[shape]
    result = scan_files([path])
    assert found(result) == EXPECTED[shape]
    n = sum(1 for line in path.read_text(encoding="utf-8").splitlines() if line.strip())
    assert result.bad_records == 0 and result.records_without_text == 0
    assert list(result.by_shape) == [shape] and result.by_shape[shape]["records"] >= n
    forced = scan_files([path], shape=shape)  # --format NAME reads them the same way
    assert found(forced) == EXPECTED[shape]


def test_system_prompts_are_not_scanned_but_could_be() -> None:
    lines = [
        line
        for name in FILES.values()
        for line in (EXPORTS / name).read_text(encoding="utf-8").splitlines()
    ]
    records = [json.loads(line) for line in lines]
    assert not {(f.record, f.field) for f in scan(records).findings} & IN_SYSTEM_PROMPTS
    result = scan(records, config=_roles_everywhere())  # guard.roles can add them
    system = {(f.record, f.field) for f in result.findings if f.role in ("system", "developer")}
    assert system == IN_SYSTEM_PROMPTS


def _roles_everywhere() -> Any:
    from llmops.project import GuardConfig

    every = ["system", "user", "assistant", "tool", "tool_call"]
    return GuardConfig(roles={"pii": every, "secrets": every})


def test_shapes_are_detected_per_record_in_one_mixed_file(tmp_path: Path) -> None:
    # One file with every shape, interleaved: each record is detected on its own.
    blocks = {s: (EXPORTS / f).read_text(encoding="utf-8").splitlines() for s, f in FILES.items()}
    mixed = tmp_path / "mixed.jsonl"
    lines = [line for i in range(6) for block in blocks.values() for line in block[i : i + 1]]
    mixed.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = scan_files([mixed], workers=2)
    assert set(result.by_shape) == set(FILES) and result.records_without_text == 0
    assert sorted(found(result), key=str) == sorted(
        (x for rows in EXPECTED.values() for x in rows), key=str
    )


def test_record_without_text_is_counted_listed_and_named() -> None:
    records = [
        {"id": "obs-1", "traceId": "t", "type": "GENERATION", "input": "hi", "output": "hello"},
        {"id": "obs-2", "traceId": "t", "type": "SPAN", "input": None, "output": None},
        {"id": "run-1", "run_type": "llm", "inputs": {"messages": []}, "outputs": {}},
        {"resourceSpans": [{"scopeSpans": [{"spans": [{
            "spanId": "http-9",
            "attributes": [{"key": "http.method", "value": {"stringValue": "GET"}}],
        }]}]}]},
    ]  # fmt: skip
    result = scan(records)
    assert result.records_scanned == 4 and result.records_without_text == 3
    assert result.by_shape == {
        "langfuse": {"records": 2, "records_without_text": 1},
        "langsmith": {"records": 1, "records_without_text": 1},
        "otel": {"records": 1, "records_without_text": 1},
    }
    assert [(w["line"], w["record"], w["shape"]) for w in result.without_text] == [
        (2, "obs-2", "langfuse"), (3, "run-1", "langsmith"), (4, None, "otel"),
    ]  # fmt: skip
    assert result.shapes_without_text == ["langsmith", "otel"]
    assert result.too_little_text and result.status() == "INCOMPLETE"
    data = result.to_json()
    assert data["records_without_text"] == 3 and data["by_shape"] == result.by_shape
    assert data["without_text"][0]["reason"].startswith("langfuse record with no text")


def test_forcing_the_wrong_format_gives_no_text_not_a_clean_scan() -> None:
    line = json.loads((EXPORTS / "langfuse.jsonl").read_text(encoding="utf-8").splitlines()[0])
    result = scan([line], shape="langsmith")
    assert result.n_findings == 0 and result.records_without_text == 1
    assert result.too_little_text
    with pytest.raises(Exception, match="unknown log format 'nope'"):
        scan([line], shape="nope")


def test_every_shape_is_listed_and_forceable() -> None:
    names = {s.name for s in known_shapes()}
    assert names >= {
        "openai", "openai_batch", "otel", "simple", "messages", "langfuse", "langsmith",
        "openinference", "anthropic", "openai_responses",
    }  # fmt: skip
    assert [r.shape for r in records_of({"input": "x"}, "langfuse")] == ["langfuse"]


@pytest.fixture
def day(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)  # no llmops.yaml: the defaults apply
    rows = [json.loads(x) for x in (EXPORTS / "langfuse.jsonl").read_text().splitlines()]
    rows.append({"id": "lf-empty", "traceId": "t", "type": "EVENT", "input": None, "output": None})
    path = tmp_path / "day.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def test_cli_too_many_records_without_text_exit_2(day: Path) -> None:
    res = CliRunner().invoke(app, ["guard", "scan", str(day), "--json", "out.json"])
    assert res.exit_code == 2, res.output  # 1 of 8 records gave no text: over 5 %
    assert "1 without text" in res.output
    assert "12% of the records gave no text to scan (more than 5%)" in res.output
    assert "[lf-empty]: langfuse record with no text to scan" in res.output
    data = json.loads((day.parent / "out.json").read_text())
    assert data["records_without_text"] == 1
    assert data["by_shape"] == {"langfuse": {"records": 8, "records_without_text": 1}}
    assert {f["role"] for f in data["findings"]} == {U, A, T, C}
    allowed = CliRunner().invoke(app, ["guard", "scan", str(day), "--max-without-text", "0.2"])
    assert allowed.exit_code == 1, allowed.output  # findings, and enough text


def test_cli_format_option(day: Path) -> None:
    forced = CliRunner().invoke(app, ["guard", "scan", str(day), "--format", "langsmith"])
    assert forced.exit_code == 2
    assert "langsmith: none of its 7 records gave text to scan" in forced.output
    unknown = CliRunner().invoke(app, ["guard", "scan", str(day), "--format", "nope"])
    assert unknown.exit_code == 2 and "unknown log format 'nope'" in unknown.output
    listed = CliRunner().invoke(app, ["guard", "formats"])
    assert listed.exit_code == 0 and "openinference" in listed.output


def test_max_without_text_from_the_project_config(day: Path) -> None:
    (day.parent / "llmops.yaml").write_text("guard:\n  max_without_text: 0.5\n", encoding="utf-8")
    res = CliRunner().invoke(app, ["guard", "scan", str(day), "--no-history"])
    assert res.exit_code == 1, res.output


def test_markdown_summary_shows_roles_and_records_without_text(day: Path) -> None:
    from llmops.guard.report import markdown

    result = scan_files([day])
    text = markdown(result)
    assert "| where | record | field | role | detector |" in text
    assert "1 without text" in text and "[lf-empty]" not in text  # listed by line
    assert "langfuse record with no text to scan in input, output" in text


# --- the shapes from every kind of input ---------------------------------------------

EMPTY_SPAN = {"id": "lf-empty", "traceId": "t", "type": "SPAN", "input": None, "output": None}


def export_rows(shape: str) -> list[dict[str, Any]]:
    lines = (EXPORTS / FILES[shape]).read_text(encoding="utf-8").splitlines()
    return [json.loads(line) for line in lines if line.strip()]


def parquet_row(record: dict[str, Any]) -> dict[str, str | None]:
    """A record as a row of text columns, objects and lists JSON-encoded (as a log table
    written with json.dumps holds them)."""
    return {
        k: json.dumps(v) if isinstance(v, dict | list) else None if v is None else str(v)
        for k, v in record.items()
    }


def write_export_parquet(path: Path, shape: str) -> Path:
    from tests.test_guard_inputs import write_parquet

    rows = [parquet_row(r) for r in export_rows(shape)]
    names = sorted({k for r in rows for k in r})
    return write_parquet(path, [{k: r.get(k) for k in names} for r in rows], group=2)


def every_export_jsonl() -> bytes:
    """Every export record, and one span without text, as JSONL."""
    rows = [r for shape in FILES for r in export_rows(shape)] + [EMPTY_SPAN]
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def located(result: Any, file: str) -> list[tuple[Any, ...]]:
    return [(f.line, *x) for f, x in zip(result.findings, found(result), strict=True)
            if f.file == file]  # fmt: skip


@pytest.mark.parametrize("shape", list(FILES))
def test_every_shape_from_parquet_rows(shape: str, tmp_path: Path) -> None:
    path = write_export_parquet(tmp_path / f"{shape}.parquet", shape)
    for workers in (1, 2):  # row groups of two rows, in one process or in two
        result = scan_files([path], workers=workers)
        assert found(result) == EXPECTED[shape]
        assert result.bad_records == 0 and result.records_without_text == 0
        assert list(result.by_shape) == [shape]
    assert found(scan_files([path], shape=shape)) == EXPECTED[shape]


def test_every_shape_and_role_from_s3_plain_zstd_and_parquet(
    s3_env: Any, tmp_path: Path
) -> None:
    from tests.test_guard_inputs import zstd_frames

    data = every_export_jsonl()
    local_path = tmp_path / "exports.jsonl"
    local_path.write_bytes(data)
    local = scan_files([local_path])
    client = s3_env.client()
    client.create_bucket(Bucket="exports")
    client.put_object(Bucket="exports", Key="day/a.jsonl", Body=data)
    client.put_object(Bucket="exports", Key="day/b.jsonl.zst", Body=zstd_frames(data))
    parquet = write_export_parquet(tmp_path / "oi.parquet", "openinference").read_bytes()
    client.put_object(Bucket="exports", Key="day/c.parquet", Body=parquet)
    result = scan_files(["s3://exports/day/"], workers=2)
    assert not result.file_errors
    want = located(local, str(local_path))
    assert {role for *_, role, _ in want} == {U, A, T, C}
    assert located(result, "s3://exports/day/a.jsonl") == want
    assert located(result, "s3://exports/day/b.jsonl.zst") == want
    assert [x[1:] for x in located(result, "s3://exports/day/c.parquet")] == (
        EXPECTED["openinference"]
    )
    assert result.records_without_text == 2  # the empty span, in the plain and zstd copies
    assert [(w["file"], w["record"]) for w in result.without_text] == [
        ("s3://exports/day/a.jsonl", "lf-empty"), ("s3://exports/day/b.jsonl.zst", "lf-empty"),
    ]  # fmt: skip
    for name, counts in local.by_shape.items():
        copies = 3 if name == "openinference" else 2
        assert result.by_shape[name]["records"] == copies * counts["records"], name


def test_a_responses_record_with_input_and_output_together_scans_both() -> None:
    # What a logging proxy writes for one Responses API call: the request's input beside
    # the response object, the user's items without a "type" (the API allows that).
    record = {
        "id": "resp_1", "object": "response", "model": "gpt-4o", "instructions": "Be brief.",
        "input": [{"role": "user", "content": [
            {"type": "input_text", "text": "my card is 4111 1111 1111 1111"}]}],
        "output": [{"type": "message", "role": "assistant", "content": [
            {"type": "output_text", "text": "Mail me at jane@example.com", "annotations": []}]}],
    }
    found = {(f.detector, f.role, f.field) for f in scan([record]).findings}
    assert found == {
        ("pii.credit_card", "user", "input[0].content[0].text"),
        ("pii.email", "assistant", "output[0].content[0].text"),
    }
