"""What docs/guard.md and the nightly workflow example promise, checked against the code.

- Every log shape has a section under "Log shapes" with an example record; each example
  is read as that shape, gives text, and the fields the section names (with their roles)
  are the fields of that text.
- The "Scan" step of examples/ci/nightly-guard.yml, run by bash as the workflow runs it,
  reads yesterday's prefix straight from an S3 bucket (a moto server on a loopback port)
  and fails on the planted findings.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from llmops.guard.readers import known_shapes, records_of
from tests.fixtures_cloud import S3Server
from tests.test_guard_inputs import day_rows, jsonl_bytes

ROOT = Path(__file__).resolve().parent.parent
GUARD_MD = ROOT / "docs" / "guard.md"
NIGHTLY = ROOT / "examples" / "ci" / "nightly-guard.yml"


def shape_sections() -> dict[str, str]:
    """The body of each ``### `name`...`` section under "## Log shapes", by shape name."""
    text = GUARD_MD.read_text()
    part = text.split("\n## Log shapes\n", 1)[1].split("\n## ", 1)[0]
    sections: dict[str, str] = {}
    for chunk in re.split(r"\n(?=### )", part):
        head = chunk.split("\n", 1)[0]
        for name in re.findall(r"`([a-z_]+)`", head.split(":", 1)[0]):
            sections[name] = chunk
    return sections


def examples(section: str) -> list[dict[str, Any]]:
    """The JSON records of a section's ```json blocks (one or several per block)."""
    out: list[dict[str, Any]] = []
    for block in re.findall(r"```json\n(.*?)```", section, re.S):
        decoder, pos, block = json.JSONDecoder(), 0, block.strip()
        while pos < len(block):
            value, pos = decoder.raw_decode(block, pos)
            out.append(value)
            while pos < len(block) and block[pos].isspace():
                pos += 1
    return out


def test_every_shape_has_a_section_with_an_example_record() -> None:
    sections = shape_sections()
    names = [s.name for s in known_shapes()]
    assert sorted(sections) == sorted(names)
    for name in names:
        assert examples(sections[name]), f"no example record for {name}"


@pytest.mark.parametrize("name", [s.name for s in known_shapes()])
def test_each_example_is_read_as_its_shape_with_text(name: str) -> None:
    found = []
    for value in examples(shape_sections()[name]):
        records = records_of(value)
        assert records and all(r.texts for r in records), (name, value)
        found += [r.shape for r in records]
    assert name in found, (name, found)


# A field path of a request/response pair quoted in a section, and the role written
# after it when there is one: "`request.messages[1].content[0].text` (user)".
FIELD = re.compile(r"`((?:request|response)\.[\w.\[\]]+)`(?: \((\w+)\))?")


def test_the_fields_a_section_names_are_those_of_its_example() -> None:
    checked = 0
    for name, section in shape_sections().items():
        texts = {
            field: role for value in examples(section) for r in records_of(value)
            for _, role, field in r.texts
        }  # fmt: skip
        for m in FIELD.finditer(section):
            field, role = m.groups()
            assert field in texts, (name, field, sorted(texts))
            assert role is None or texts[field] == role, (name, field, texts[field], role)
            checked += 1
    assert checked >= 4


# --- the nightly workflow ---------------------------------------------------------------


def scan_step() -> dict[str, Any]:
    workflow = yaml.safe_load(NIGHTLY.read_text())
    steps = workflow["jobs"]["scan"]["steps"]
    return next(s for s in steps if s.get("name") == "Scan")


def test_the_nightly_example_reads_the_bucket_directly() -> None:
    step = scan_step()
    script = step["run"]
    command = script[script.index("llmops guard scan") :].split("\n          code=")[0]
    assert re.search(r'llmops guard scan "s3://[^"]+/\$day/"', command)
    assert "aws s3 cp" not in script and "aws s3 sync" not in script
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(step["env"])


def test_the_nightly_scan_step_runs_against_an_s3_server(
    s3_server: S3Server, tmp_path: Path
) -> None:
    step = scan_step()
    day = (dt.datetime.now(dt.UTC) - dt.timedelta(days=1)).strftime("%Y-%m-%d")
    bucket = re.search(r'"s3://([^/]+)/\$day/"', step["run"])
    assert bucket is not None
    client = s3_server.client()
    client.create_bucket(Bucket=bucket.group(1))
    client.put_object(
        Bucket=bucket.group(1), Key=f"{day}/api.jsonl", Body=jsonl_bytes(day_rows(30))
    )
    client.put_object(  # another day's logs: not read
        Bucket=bucket.group(1), Key="2020-01-01/api.jsonl", Body=jsonl_bytes(day_rows(7))
    )
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    shim = bin_dir / "llmops"
    cli = "from llmops.cli import main; main()"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -c "{cli}" "$@"\n')
    shim.chmod(0o755)
    work = tmp_path / "repo"
    work.mkdir()
    env = {
        **os.environ,
        **s3_server.env(),
        "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}",
        "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]),
        "GITHUB_OUTPUT": str(tmp_path / "output"),
        "GITHUB_STEP_SUMMARY": str(tmp_path / "summary"),
    }
    proc = subprocess.run(
        ["bash", "-e", "-c", step["run"]], cwd=work, env=env, capture_output=True, text=True,
        timeout=300,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr  # new findings at medium or above
    assert (tmp_path / "output").read_text().strip() == "exit_code=1"
    report = json.loads((work / "reports" / "guard.json").read_text())
    assert report["records_scanned"] == 30
    assert [f["path"] for f in report["files"]] == [f"s3://{bucket.group(1)}/{day}/api.jsonl"]
    assert report["counts"]["pii.credit_card"] == 10
    assert "pii.credit_card" in (tmp_path / "summary").read_text()
