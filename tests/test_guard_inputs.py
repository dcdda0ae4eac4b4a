"""Where guard scan reads logs from: directories, globs, stdin, zstd, Parquet, S3 and HTTP.

Real components: Parquet files written by pyarrow, zstd files by zstandard, a moto S3
server on a loopback port read through s3fs, a stdlib HTTP server.
"""

from __future__ import annotations

import functools
import gzip
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.guard import scan_files
from tests.fixtures_cloud import S3Server
from tests.test_guard_cli import invoke
from tests.test_guard_scan import ATTACK, CARD, TOKEN, openai_record, write_jsonl


def day_rows(n: int, start: int = 0) -> list[dict[str, Any]]:
    """Records with a card, a token or an injection planted every few rows."""
    rows = []
    for i in range(start, start + n):
        answer = f"card {CARD}" if i % 3 == 0 else (f"token {TOKEN}" if i % 5 == 0 else "fine")
        rows.append(openai_record(i, answer=answer, user=ATTACK if i % 7 == 0 else "hi"))
    return rows


def jsonl_bytes(rows: list[dict[str, Any]]) -> bytes:
    return b"".join(json.dumps(r).encode() + b"\n" for r in rows)


def where(f: Any) -> tuple[Any, ...]:
    """A finding without its file: the same record read from two places compares equal."""
    return (f.line, f.record, f.field, f.detector, f.start, f.end, f.fingerprint)


def zstd_frames(data: bytes, frames: int = 3) -> bytes:
    import zstandard

    step = len(data) // frames + 1
    c = zstandard.ZstdCompressor(level=3)
    return b"".join(c.compress(data[i : i + step]) for i in range(0, len(data), step))


@pytest.fixture
def small_blocks(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmops.guard import sources

    monkeypatch.setattr(sources, "MIN_RANGE", 16 << 10)
    monkeypatch.setattr(sources, "WIDE_MIN_RANGE", 16 << 10)
    monkeypatch.setattr(sources, "GZ_BLOCK", 16 << 10)


# --- directories, globs, stdin ---------------------------------------------------------


def test_a_directory_is_every_file_under_it_in_name_order(tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    (logs / "b").mkdir(parents=True)
    (logs / ".cache").mkdir()
    write_jsonl(logs / "b" / "2.jsonl", day_rows(3, start=3))
    (logs / "1.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(day_rows(3))))
    (logs / "_SUCCESS").write_text("")
    (logs / ".part.jsonl").write_text("not json\n")
    (logs / ".cache" / "x.jsonl").write_text("not json\n")
    result = scan_files([logs])
    assert [f.path for f in result.files] == [str(logs / "1.jsonl.gz"), str(logs / "b" / "2.jsonl")]
    assert result.records_scanned == 6 and result.bad_records == 0
    assert {f.record for f in result.findings if f.detector == "pii.credit_card"} == {
        "rec-0", "rec-3",
    }  # fmt: skip
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "_SUCCESS").write_text("")
    assert "is a directory with no log files" in (scan_files([empty]).files[0].error or "")


def test_globs_recursive_and_unmatched(tmp_path: Path) -> None:
    (tmp_path / "2026" / "11").mkdir(parents=True)
    write_jsonl(tmp_path / "2026" / "11" / "25.jsonl", day_rows(4))
    write_jsonl(tmp_path / "2026" / "26.jsonl", day_rows(4, start=4))
    write_jsonl(tmp_path / "2026" / "notes.txt", ["not json"])
    result = scan_files([str(tmp_path / "2026" / "**" / "*.jsonl")])
    assert [Path(f.path).name for f in result.files] == ["25.jsonl", "26.jsonl"]
    assert result.records_scanned == 8 and result.bad_records == 0
    pattern = str(tmp_path / "2025" / "*.jsonl")
    res = invoke("guard", "scan", str(tmp_path / "2026" / "26.jsonl"), pattern)
    assert res.exit_code == 2
    assert f"error: {pattern}: no file matches this pattern" in res.output
    assert "guard scan: 4 records" in res.output  # the other input was scanned


@pytest.mark.parametrize("packing", ["plain", "gzip", "zstd"])
def test_stdin(tmp_path: Path, packing: str) -> None:
    data = jsonl_bytes(day_rows(30))
    packed = {"plain": bytes, "gzip": gzip.compress, "zstd": zstd_frames}[packing](data)
    out = tmp_path / "out.json"
    res = invoke_with_input(packed, "guard", "scan", "-", "--json", str(out))
    assert res.exit_code == 1, res.output
    report = json.loads(out.read_text())
    assert report["records_scanned"] == 30 and report["bad_records"] == 0
    cards = [f for f in report["findings"] if f["detector"] == "pii.credit_card"]
    assert [(f["file"], f["line"]) for f in cards] == [("-", i + 1) for i in range(0, 30, 3)]


def test_parquet_on_stdin_is_an_input_error(tmp_path: Path) -> None:
    data = write_parquet(tmp_path / "day.parquet", day_rows(5)).read_bytes()
    res = invoke_with_input(data, "guard", "scan", "-")
    assert res.exit_code == 2
    assert "error: -: Parquet cannot be read from stdin: give the file's path" in res.output


def test_a_store_whose_package_is_missing_names_what_to_install(tmp_path: Path) -> None:
    import importlib.util

    good = write_jsonl(tmp_path / "day.jsonl", day_rows(3))
    urls = {
        "gs://logs/day.jsonl": ("gcsfs", "llmops-prompts[gcs]"),
        "az://logs/day.jsonl": ("adlfs", "adlfs"),
    }
    missing = {u: hint for u, (pkg, hint) in urls.items() if importlib.util.find_spec(pkg) is None}
    missing["nosuchstore://logs/day.jsonl"] = "unsupported URL"
    result = scan_files([good, *missing])
    assert result.records_scanned == 3
    for summary, hint in zip(result.files[1:], missing.values(), strict=True):
        assert summary.error is not None and hint in summary.error, summary


def invoke_with_input(data: bytes, *args: str) -> Any:
    from typer.testing import CliRunner

    from llmops.cli import app

    return CliRunner().invoke(app, list(args), input=data)


# --- zstd ----------------------------------------------------------------------------


def test_zstd_many_frames_same_as_plain(tmp_path: Path, small_blocks: None) -> None:
    rows = day_rows(600)
    plain = write_jsonl(tmp_path / "day.jsonl", rows)
    packed = tmp_path / "day.jsonl.zst"
    packed.write_bytes(zstd_frames(plain.read_bytes(), frames=4))
    for workers in (1, 2):
        a, b = scan_files([plain], workers=workers), scan_files([packed], workers=workers)
        assert b.records_scanned == 600 and not b.file_errors
        assert [where(f) for f in a.findings] == [where(f) for f in b.findings]


def test_truncated_zstd_scans_the_readable_part(tmp_path: Path) -> None:
    import zstandard

    data = zstandard.ZstdCompressor().compress(jsonl_bytes(day_rows(3000)))
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(data[: len(data) * 2 // 3])
    result = scan_files([cut])
    assert "truncated zstd" in (result.files[0].error or "")
    assert 0 < result.records_scanned < 3000
    res = invoke("guard", "scan", str(cut), "--json", str(tmp_path / "o.json"))
    assert res.exit_code == 2
    assert f"error: {cut}: truncated zstd file" in res.output
    report = json.loads((tmp_path / "o.json").read_text())
    assert report["counts"]["pii.credit_card"] > 100  # found in what could be read
    garbled = bytearray(data)
    garbled[len(data) // 2 : len(data) // 2 + 64] = b"\xff" * 64
    (tmp_path / "bad.zst").write_bytes(bytes(garbled))
    assert "zstd" in (scan_files([tmp_path / "bad.zst"]).files[0].error or "")


# --- Parquet -------------------------------------------------------------------------


def write_parquet(path: Path, rows: list[dict[str, Any]], group: int = 100) -> Path:
    import pyarrow as pa
    import pyarrow.parquet as pq

    pq.write_table(pa.Table.from_pylist(rows), path, row_group_size=group)
    return path


def test_parquet_nested_columns_row_groups_and_line_numbers(
    tmp_path: Path,
) -> None:
    rows = day_rows(350)
    jsonl = scan_files([write_jsonl(tmp_path / "day.jsonl", rows)])
    path = write_parquet(tmp_path / "day.parquet", rows, group=100)
    for workers in (1, 2):
        result = scan_files([path], workers=workers)
        assert result.records_scanned == 350 and result.bad_records == 0
        assert result.files[0].lines == 350
        assert [where(f) for f in result.findings] == [where(f) for f in jsonl.findings]
    for f in result.findings:
        assert f.record == f"rec-{f.line - 1}"  # the row number, across row groups


def test_parquet_json_string_columns(tmp_path: Path) -> None:
    rows = day_rows(40)
    flat = [
        {"id": r["id"], "prompt_version": r["prompt_version"], "latency_ms": 120 + i,
         "request": json.dumps(r["request"]), "response": json.dumps(r["response"])}
        for i, r in enumerate(rows)
    ]  # fmt: skip
    result = scan_files([write_parquet(tmp_path / "flat.parquet", flat, group=16)])
    expected = scan_files([write_jsonl(tmp_path / "day.jsonl", rows)])
    assert result.records_scanned == 40 and result.bad_records == 0
    assert [where(f) for f in result.findings] == [where(f) for f in expected.findings]


def test_parquet_span_table_with_dotted_attribute_columns(tmp_path: Path) -> None:
    spans = [
        {
            "context.span_id": f"span-{i}",
            "name": "ChatCompletion",
            "attributes.gen_ai.input.messages": json.dumps([{"role": "user", "content": ATTACK}]),
            "attributes.gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "content": f"card {CARD}"}]
            ),
        }
        for i in range(5)
    ]
    result = scan_files([write_parquet(tmp_path / "spans.parquet", spans)])
    assert result.records_scanned == 5 and result.bad_records == 0
    cards = [f for f in result.findings if f.detector == "pii.credit_card"]
    assert [f.record for f in cards] == [f"span-{i}" for i in range(5)]
    assert cards[0].field.startswith("attributes.gen_ai.output.messages")


def test_parquet_without_a_usable_column(tmp_path: Path) -> None:
    metrics = write_parquet(
        tmp_path / "metrics.parquet",
        [{"ts": "2026-11-25T10:00:00Z", "user_id": i, "score": 0.5} for i in range(50)],
    )
    good = write_jsonl(tmp_path / "day.jsonl", day_rows(6))
    out = tmp_path / "o.json"
    res = invoke("guard", "scan", str(metrics), str(good), "--json", str(out))
    assert res.exit_code == 2
    assert (
        f"error: {metrics}: no usable column: no row is a log record of a known shape "
        "(columns: ts, user_id, score;"
    ) in res.output
    report = json.loads(out.read_text())
    assert report["records_scanned"] == 6 and report["counts"]["pii.credit_card"] == 2
    assert all(b["file"] != str(metrics) for b in report["bad_lines"])
    broken = tmp_path / "broken.parquet"
    broken.write_bytes(b"PAR1" + b"\x00" * 100)
    assert "not a readable Parquet file" in (scan_files([broken]).files[0].error or "")


# --- S3 (moto) and HTTP --------------------------------------------------------------


def put_day(server: S3Server, bucket: str, tmp_path: Path) -> dict[str, bytes]:
    """Upload the same records as plain, gzip, zstd and Parquet; returns key -> bytes."""
    rows = day_rows(900)
    data = jsonl_bytes(rows)
    parquet = write_parquet(tmp_path / "up.parquet", rows, group=256).read_bytes()
    objects = {
        "day/a.jsonl": data, "day/b.jsonl.gz": gzip.compress(data),
        "day/c.jsonl.zst": zstd_frames(data), "day/d.parquet": parquet,
        "day/_SUCCESS": b"",
    }  # fmt: skip
    client = server.client()
    client.create_bucket(Bucket=bucket)
    for key, body in objects.items():
        client.put_object(Bucket=bucket, Key=key, Body=body)
    return objects


def test_s3_prefix_glob_and_byte_ranges(
    s3_env: S3Server, tmp_path: Path, small_blocks: None
) -> None:
    put_day(s3_env, "logs-ranges", tmp_path)
    local = scan_files([write_jsonl(tmp_path / "day.jsonl", day_rows(900))])
    result = scan_files(["s3://logs-ranges/day/"], workers=2)
    assert [f.path for f in result.files] == [
        "s3://logs-ranges/day/a.jsonl", "s3://logs-ranges/day/b.jsonl.gz",
        "s3://logs-ranges/day/c.jsonl.zst", "s3://logs-ranges/day/d.parquet",
    ]  # fmt: skip
    assert not result.file_errors and result.records_scanned == 4 * 900
    for path in (f.path for f in result.files):
        mine = [where(f) for f in result.findings if f.file == path]
        assert mine == [where(f) for f in local.findings], path
    one = scan_files(["s3://logs-ranges/day/*.jsonl"])  # a glob; in-process byte ranges
    assert [where(f) for f in one.findings] == [where(f) for f in local.findings]


def test_s3_missing_bucket_is_exit_2_after_the_rest(s3_env: S3Server, tmp_path: Path) -> None:
    good = write_jsonl(tmp_path / "day.jsonl", day_rows(9))
    url = "s3://no-such-bucket-here/day/a.jsonl"
    out = tmp_path / "o.json"
    res = invoke("guard", "scan", url, str(good), "--json", str(out))
    assert res.exit_code == 2
    assert f"error: {url}: not found (no such bucket, container or object)" in res.output
    report = json.loads(out.read_text())
    assert report["records_scanned"] == 9 and report["counts"]["pii.credit_card"] == 3
    assert [f["error"] is None for f in report["files"]] == [False, True]


def test_s3_refused_credentials_are_exit_2_naming_the_url(
    s3_refusing_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    for name, value in s3_refusing_server.env().items():
        monkeypatch.setenv(name, value)
    good = write_jsonl(tmp_path / "day.jsonl", day_rows(9))
    url = "s3://private-logs/day/a.jsonl"
    res = invoke("guard", "scan", str(good), url)
    assert res.exit_code == 2
    lines = [line for line in res.output.splitlines() if line.startswith(f"error: {url}: ")]
    assert len(lines) == 1 and "access denied" in lines[0], res.output
    assert "guard scan: 9 records" in res.output


def test_s3_connection_cut_part_way_is_that_files_error(
    s3_faulty: Any, s3_server: S3Server, tmp_path: Path, small_blocks: None
) -> None:
    rows = day_rows(1500)
    data = jsonl_bytes(rows)
    client = s3_server.client()
    client.create_bucket(Bucket="cut-logs")
    client.put_object(Bucket="cut-logs", Key="day/a.jsonl", Body=data)
    client.put_object(Bucket="cut-logs", Key="day/b.jsonl", Body=data)
    s3_faulty.key, s3_faulty.cut_from = "day/a.jsonl", len(data) // 2
    cut, whole = "s3://cut-logs/day/a.jsonl", "s3://cut-logs/day/b.jsonl"
    local = write_jsonl(tmp_path / "day.jsonl", rows[:30])
    reports = []
    for workers in ("1", "2"):
        out = tmp_path / f"o{workers}.json"
        res = invoke("guard", "scan", cut, str(local), whole, "--workers", workers,
                     "--json", str(out))  # fmt: skip
        assert res.exit_code == 2, res.output
        errors = [line for line in res.output.splitlines() if line.startswith("error: ")]
        assert len(errors) == 1 and errors[0].startswith(f"error: {cut}: read failed part-way")
        reports.append(out.read_bytes())
    one, two = (json.loads(r) for r in reports)
    for report in (one, two):  # the byte counts in the store's message depend on the ranges
        report["files"][0]["error"] = report["files"][0]["error"][:20]
    assert s3_faulty.cuts > 0 and one == two  # the same part read, with 1 or 2 workers
    report = one
    files = {f["path"]: f for f in report["files"]}
    read = files[cut]["lines"]
    assert 0 < read < 1500 and files[cut]["records"] == read  # the part before the cut
    assert files[whole]["lines"] == 1500 and files[whole]["error"] is None
    assert report["records_scanned"] == read + 30 + 1500
    expected = scan_files([write_jsonl(tmp_path / "all.jsonl", rows)])
    kept = [f for f in report["findings"] if f["file"] == cut]
    assert [(f["line"], f["detector"], f["start"]) for f in kept] == [
        (f.line, f.detector, f.start) for f in expected.findings if (f.line or 0) <= read
    ]


class _WebFiles(http.server.SimpleHTTPRequestHandler):
    """Files from a directory, without range requests; a file whose name starts with
    ``cut`` is announced whole, half of it sent, then the connection closed."""

    def log_message(self, *args: Any) -> None:
        pass

    def copyfile(self, source: Any, outputfile: Any) -> None:
        if not self.path.rsplit("/", 1)[-1].startswith("cut"):
            super().copyfile(source, outputfile)
            return
        data = source.read()
        outputfile.write(data[: len(data) // 2])
        outputfile.flush()
        self.close_connection = True


@pytest.fixture
def http_root(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(_WebFiles, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", root
    finally:
        server.shutdown()
        server.server_close()


def test_http_urls_are_read_in_order(http_root: tuple[str, Path], tmp_path: Path) -> None:
    pytest.importorskip("aiohttp")
    base, root = http_root
    rows = day_rows(200)
    write_jsonl(root / "day.jsonl", rows)
    (root / "day.jsonl.gz").write_bytes(gzip.compress(jsonl_bytes(rows)))
    local = scan_files([write_jsonl(tmp_path / "day.jsonl", rows)])
    result = scan_files([f"{base}/day.jsonl", f"{base}/day.jsonl.gz", f"{base}/missing.jsonl"])
    assert [f.error is None for f in result.files] == [True, True, False]
    assert "not found" in (result.files[2].error or "")
    for path in (f"{base}/day.jsonl", f"{base}/day.jsonl.gz"):
        mine = [where(f) for f in result.findings if f.file == path]
        assert mine == [where(f) for f in local.findings], path


def test_http_file_larger_than_a_block_and_a_connection_cut_part_way(
    http_root: tuple[str, Path], tmp_path: Path
) -> None:
    pytest.importorskip("aiohttp")
    base, root = http_root
    rows = day_rows(14000)
    data = jsonl_bytes(rows)
    assert len(data) > 4 << 20  # more than one request's worth if it were read in ranges
    (root / "day.jsonl").write_bytes(data)
    (root / "cut.jsonl").write_bytes(data)
    out = tmp_path / "o.json"
    res = invoke("guard", "scan", f"{base}/cut.jsonl", f"{base}/day.jsonl", "--json", str(out))
    assert res.exit_code == 2
    assert f"error: {base}/cut.jsonl: read failed part-way: " in res.output
    report = json.loads(out.read_text())
    cut, whole = report["files"]
    assert whole["records"] == 14000 and whole["error"] is None
    assert 1000 < cut["records"] < 14000  # what was read before the cut was scanned
    local = scan_files([write_jsonl(tmp_path / "day.jsonl", rows)])
    kept = [(f["line"], f["detector"]) for f in report["findings"] if f["file"] == cut["path"]]
    assert kept == [(f.line, f.detector) for f in local.findings if f.line <= cut["records"]]


# --- scan_dataframe ------------------------------------------------------------------


def test_scan_dataframe_roles_per_column_and_batches() -> None:
    pd = pytest.importorskip("pandas")
    from llmops.guard import FINDING_COLUMNS, scan_dataframe

    df = pd.DataFrame(
        {
            "prompt": [ATTACK if i % 4 == 0 else f"my card is {CARD}" for i in range(200)],
            "answer": [f"token {TOKEN}" if i % 5 == 0 else ATTACK for i in range(200)],
        },
        index=range(1000, 1200),
    )
    roles = {"prompt": "user", "answer": "assistant"}
    out = scan_dataframe(df, roles)
    assert list(out.columns) == list(FINDING_COLUMNS)
    by_column = {c: set(out[out.column == c].category) for c in roles}
    assert by_column["answer"] == {"secret"}  # injection is looked for in user text only
    assert "injection" in by_column["prompt"] and "secret" not in by_column["prompt"]
    assert set(out.role) == {"user", "assistant"}
    tokens = out[out.detector == "secret.github_token"]
    assert list(tokens.row) == [1000 + i for i in range(0, 200, 5)]
    tiny = scan_dataframe(df, roles, batch_chars=100)  # many small batches, same findings
    pd.testing.assert_frame_equal(out, tiny)
    one_by_one = [
        (at, column, f.detector, f.start, f.end)
        for column, role in roles.items()
        for at, text in df[column].items()
        for f in __import__("llmops.guard", fromlist=["detect"]).detect(text, role=role)
    ]
    assert [tuple(r) for r in out[["row", "column", "detector", "start", "end"]].values] == (
        one_by_one
    )
