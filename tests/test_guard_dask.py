"""guard scan on a Dask cluster: the same report as a local scan, from real worker processes.

Real components: a ``LocalCluster`` with two worker processes, and a ``dask scheduler``
with two ``dask worker`` processes started on free ports; a moto S3 server for the URL
inputs; Parquet by pyarrow, zstd by zstandard.
"""

from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.guard import scan_files
from tests.fixtures_cloud import S3Server, start_dask_processes, stop_dask_processes
from tests.fixtures_servers import free_port
from tests.test_guard_cli import invoke
from tests.test_guard_inputs import day_rows, jsonl_bytes, put_day, write_parquet, zstd_frames
from tests.test_guard_scan import CARD, write_jsonl

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def cluster() -> Iterator[str]:
    """A LocalCluster: two worker processes of one thread each."""
    pytest.importorskip("distributed")
    from distributed import LocalCluster

    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, host="127.0.0.1",
        dashboard_address=None,
    ) as local:  # fmt: skip
        yield local.scheduler_address


@pytest.fixture(scope="module")
def dask_cli_cluster(
    s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """``dask scheduler`` and two ``dask worker`` processes that can reach the S3 server."""
    procs = start_dask_processes(tmp_path_factory.mktemp("dask"), 2, s3_server.env())
    try:
        yield procs.address
    finally:
        stop_dask_processes(procs)


def inputs(tmp_path: Path) -> list[str]:
    """Every kind of local input, with bad lines, in several blocks or row groups."""
    rows = day_rows(2500)
    lines = [json.dumps(r) for r in rows]
    lines[17], lines[1800] = "not json", '{"foo": 1}'
    data = ("\n".join(lines) + "\n").encode()
    folder = tmp_path / "more"
    folder.mkdir()
    (folder / "b.jsonl.gz").write_bytes(gzip.compress(data))
    (folder / "c.jsonl.zst").write_bytes(zstd_frames(data))
    write_parquet(folder / "d.parquet", day_rows(700), group=128)
    plain = tmp_path / "a.jsonl"
    plain.write_bytes(data)
    return [str(plain), str(folder)]


def report(result: Any, path: Path) -> bytes:
    result.write_json(path)
    result.close()
    return path.read_bytes()


def test_same_report_as_a_local_scan(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from llmops.guard import sources
    from llmops.guard.dask_scan import scan_on_dask

    monkeypatch.setattr(sources, "MIN_RANGE", 64 << 10)  # the plain file in many ranges
    monkeypatch.setattr(sources, "WIDE_MIN_RANGE", 64 << 10)
    paths = inputs(tmp_path)
    first = scan_files(paths, workers=1)
    # a baseline travels to the workers: the card (the same one everywhere) is known
    known = {f.fingerprint for f in first.findings if f.detector == "pii.credit_card"}
    local = report(scan_files(paths, workers=2, baseline=known, spool=True), tmp_path / "l.json")
    seen: list[int] = []
    dist = scan_on_dask(paths, cluster, baseline=known, progress=seen.append)
    assert report(dist, tmp_path / "d.json") == local
    data = json.loads(local)
    assert data["records_scanned"] == 3 * 2498 + 700 and data["bad_records"] == 6
    assert data["suppressed_counts"]["pii.credit_card"] > 1000
    assert data["counts"]["secret.github_token"] > 300
    total = sum(os.path.getsize(p) for p in Path(tmp_path).rglob("*.*") if p.suffix != ".json")
    assert sum(seen) == total  # progress covers every input byte once


def test_file_errors_are_the_same_as_a_local_scan(cluster: str, tmp_path: Path) -> None:
    import zstandard

    from llmops.guard.dask_scan import scan_on_dask

    data = zstandard.ZstdCompressor().compress(jsonl_bytes(day_rows(3000)))
    cut = tmp_path / "cut.jsonl.zst"
    cut.write_bytes(data[: len(data) // 2])
    gz = gzip.compress(jsonl_bytes(day_rows(2000)))
    (tmp_path / "cut.jsonl.gz").write_bytes(gz[: len(gz) // 2])
    metrics = write_parquet(tmp_path / "m.parquet", [{"ts": 1, "v": 2.0}] * 10)
    paths = [str(cut), str(tmp_path / "cut.jsonl.gz"), str(tmp_path / "nope.jsonl"), str(metrics)]
    local = report(scan_files(paths, spool=True), tmp_path / "l.json")
    assert report(scan_on_dask(paths, cluster), tmp_path / "d.json") == local
    errors = [f["error"] for f in json.loads(local)["files"]]
    assert "truncated zstd" in errors[0] and "truncated gzip" in errors[1]
    assert "not found" in errors[2] and "no usable column" in errors[3]
    assert json.loads(local)["records_scanned"] > 1000  # the readable parts


def test_a_worker_that_dies_mid_scan_loses_no_results(
    cluster: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from distributed import Client

    from llmops.guard import sources
    from llmops.guard.dask_scan import scan_on_dask

    monkeypatch.setattr(sources, "MIN_RANGE", 32 << 10)  # many tasks: some run after the kill
    monkeypatch.setattr(sources, "WIDE_MIN_RANGE", 32 << 10)
    path = write_jsonl(tmp_path / "a.jsonl", day_rows(4000))
    local = report(scan_files([path], spool=True), tmp_path / "l.json")
    killed: list[str] = []
    with Client(cluster, set_as_default=False) as admin:
        victim = sorted(admin.scheduler_info()["workers"])[0]
        pid = admin.run(os.getpid, workers=[victim])[victim]

        def kill_once(_: int) -> None:
            if not killed:  # after the first block is merged, one worker process dies
                os.kill(pid, signal.SIGKILL)
                killed.append(victim)

        dist = scan_on_dask([path], cluster, progress=kill_once)
        assert report(dist, tmp_path / "d.json") == local
        admin.wait_for_workers(2, timeout=60)  # the nanny starts a new one
    assert killed


def test_stdin_blocks_are_sent_to_the_cluster(cluster: str, tmp_path: Path) -> None:
    from tests.test_guard_inputs import invoke_with_input

    data = gzip.compress(jsonl_bytes(day_rows(500)))
    here = invoke_with_input(data, "guard", "scan", "-", "--json", str(tmp_path / "l.json"))
    there = invoke_with_input(
        data, "guard", "scan", "-", "--dask", cluster, "--json", str(tmp_path / "d.json")
    )
    assert here.exit_code == there.exit_code == 1
    assert (tmp_path / "d.json").read_bytes() == (tmp_path / "l.json").read_bytes()


def test_cli_on_dask_processes_reads_s3(
    dask_cli_cluster: str, s3_env: S3Server, tmp_path: Path
) -> None:
    put_day(s3_env, "logs-dask", tmp_path)
    local_file = write_jsonl(tmp_path / "x.jsonl", day_rows(50))
    args = ["guard", "scan", "s3://logs-dask/day/", str(local_file), "--fail-on", "medium"]
    here = invoke(*args, "--json", str(tmp_path / "local.json"))
    there = invoke(*args, "--dask", dask_cli_cluster, "--json", str(tmp_path / "dask.json"))
    assert here.exit_code == there.exit_code == 1, there.output
    assert (tmp_path / "dask.json").read_bytes() == (tmp_path / "local.json").read_bytes()
    report_data = json.loads((tmp_path / "dask.json").read_text())
    assert report_data["records_scanned"] == 4 * 900 + 50
    assert invoke(*args, "--dask", dask_cli_cluster, "--workers", "2").exit_code == 2


def test_no_scheduler_is_exit_3_in_one_line_within_the_timeout(tmp_path: Path) -> None:
    pytest.importorskip("distributed")
    from llmops.errors import RuntimeFailure
    from llmops.guard.dask_scan import connect

    path = write_jsonl(tmp_path / "a.jsonl", day_rows(3))
    address = f"tcp://127.0.0.1:{free_port()}"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    proc = subprocess.run(
        [sys.executable, "-c", "from llmops.cli import main; main()", "guard", "scan",
         str(path), "--dask", address, "--dask-timeout", "2"],
        capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path,
    )  # fmt: skip
    assert proc.returncode == 3, proc.stderr
    assert proc.stderr.strip().splitlines() == [
        f"error: no Dask scheduler answered at {address} within 2 s"
    ]
    assert proc.stdout == ""
    # The time bound, measured in this process: an interpreter's start on a busy machine
    # would take more than the timeout itself.
    t0 = time.monotonic()
    with pytest.raises(RuntimeFailure, match="within 2 s"):
        connect(address, timeout=2)
    assert time.monotonic() - t0 < 2 + 5


def test_scan_dataframe_over_dask_partitions(cluster: str) -> None:
    pd = pytest.importorskip("pandas")
    dd = pytest.importorskip("dask.dataframe")
    from distributed import Client

    from llmops.guard import FINDING_COLUMNS, scan_dataframe

    df = pd.DataFrame({
        "prompt": [f"my card is {CARD}" if i % 3 == 0 else "hello" for i in range(300)],
        "answer": [f"card {CARD}" if i % 4 == 0 else "fine" for i in range(300)],
    })  # fmt: skip
    roles = {"prompt": "user", "answer": "assistant"}
    meta = scan_dataframe(df.iloc[:0], roles)
    with Client(cluster, set_as_default=False) as client:
        ddf = dd.from_pandas(df, npartitions=4)
        found = client.compute(ddf.map_partitions(scan_dataframe, roles, meta=meta)).result()
    assert list(found.columns) == list(FINDING_COLUMNS)
    expected = scan_dataframe(df, roles)
    key = ["column", "row", "start"]
    pd.testing.assert_frame_equal(
        found.sort_values(key).reset_index(drop=True),
        expected.sort_values(key).reset_index(drop=True),
    )
    assert set(expected[expected.detector == "pii.credit_card"].column) >= {"answer"}


def test_export_shapes_roles_and_records_without_text_same_as_local(
    cluster: str, tmp_path: Path
) -> None:
    from llmops.guard.dask_scan import scan_on_dask
    from llmops.project import GuardConfig
    from tests.test_guard_exports import FILES, every_export_jsonl, write_export_parquet

    data = every_export_jsonl()
    (tmp_path / "exports.jsonl").write_bytes(data)
    (tmp_path / "exports.jsonl.zst").write_bytes(zstd_frames(data))
    tables = [str(write_export_parquet(tmp_path / f"{s}.parquet", s)) for s in FILES]
    paths = [str(tmp_path / "exports.jsonl"), str(tmp_path / "exports.jsonl.zst"), *tables]
    local = report(scan_files(paths, workers=2, spool=True), tmp_path / "l.json")
    assert report(scan_on_dask(paths, cluster), tmp_path / "d.json") == local
    data_json = json.loads(local)
    assert set(data_json["by_shape"]) == set(FILES) and data_json["records_without_text"] == 2
    assert {f["role"] for f in data_json["findings"]} == {"user", "assistant", "tool", "tool_call"}
    # guard.roles and --format travel to the workers with the rest of the configuration
    leaks = GuardConfig(roles={"pii": ["assistant", "tool_call"], "secrets": ["assistant"]})
    for options in ({"config": leaks}, {"shape": "langsmith"}):
        here = report(scan_files(tables, spool=True, **options), tmp_path / "l2.json")
        there = report(scan_on_dask(tables, cluster, **options), tmp_path / "d2.json")
        assert there == here, options
    forced = json.loads(here)  # the last one: every record read as a LangSmith run
    assert list(forced["by_shape"]) == ["langsmith"] and forced["records_without_text"] > 20
    narrowed = json.loads(report(scan_files(tables, config=leaks), tmp_path / "n.json"))
    assert narrowed["findings"] and not [
        f for f in narrowed["findings"] if f["category"] == "pii" and f["role"] == "user"
    ]
