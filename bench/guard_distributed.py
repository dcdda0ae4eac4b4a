"""Benchmark `llmops guard scan --dask` against `--workers 2`, and reading 1 GB from S3.

    nice .venv/bin/python bench/guard_distributed.py [--records 20000] [--repeat 5]
        [--s3-gb 1.0] [--skip-s3] [--no-append]

1. The 20,000-record file of bench/guard_scan.py, scanned with `scan_files(workers=2)` and
   with `scan_on_dask` on a `dask scheduler` plus two `dask worker --nthreads 1` processes
   started here (the client connects on every run, as the command does). Best of
   interleaved runs; the two JSON reports are compared byte for byte. The same through
   the command line (interpreter start and imports included) for reference.
2. About 1 GB of the same records in 8 MB objects on a local moto S3 server, scanned
   from `s3://` by the command line, with `--workers 2` and with `--dask`, sampling the
   resident memory of the scanning process (and of its worker processes) from /proc.

Figures are printed and written to bench/RESULTS.md as its "guard scan on a cluster"
section (replaced on each run).
"""

from __future__ import annotations

import argparse
import os
import resource
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench.guard_scan import _replace_section, _tree_rss_kb, generate  # noqa: E402

HEADING = "## guard scan on a cluster"
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
    "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_CONFIG_FILE": os.devnull,
    "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
}  # fmt: skip


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Processes:
    """Background processes started by the benchmark, stopped at the end."""

    def __init__(self, logs: Path) -> None:
        self.logs = logs
        self.procs: list[subprocess.Popen[bytes]] = []

    def start(self, name: str, args: list[str], env: dict[str, str]) -> None:
        with (self.logs / f"{name}.log").open("wb") as out:
            self.procs.append(subprocess.Popen(args, stdout=out, stderr=out, env=env))

    def stop(self) -> None:
        for proc in reversed(self.procs):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()


def start_cluster(procs: Processes, workers: int, env: dict[str, str]) -> str:
    from distributed import Client

    port = _free_port()
    address = f"tcp://127.0.0.1:{port}"
    py = sys.executable
    procs.start("scheduler", [py, "-m", "distributed.cli.dask_scheduler", "--host",
                "127.0.0.1", "--port", str(port), "--dashboard-address", ":0"], env)  # fmt: skip
    for i in range(workers):
        procs.start(f"worker-{i}", [py, "-m", "distributed.cli.dask_worker", address,
                    "--nthreads", "1", "--host", "127.0.0.1", "--dashboard-address", ":0"],
                    env)  # fmt: skip
    with Client(address, timeout=60) as client:
        client.wait_for_workers(workers, timeout=60)
    return address


def start_moto(procs: Processes) -> str:
    port = _free_port()
    procs.start("moto", [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p",
                str(port)], ENV)  # fmt: skip
    endpoint = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            urllib.request.urlopen(endpoint + "/moto-api/", timeout=2).close()
            return endpoint
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("moto server did not start")


def best_of(repeat: int, runs: dict[str, Callable[[], Any]]) -> dict[str, float]:
    """Interleaved runs (a, b, a, b, ...); the best wall time of each."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            t0 = time.perf_counter()
            run()
            dt = time.perf_counter() - t0
            best[name] = min(dt, best.get(name, dt))
    return best


def compare_engines(say: Any, path: Path, address: str, repeat: int, n: int) -> None:
    from llmops.guard import scan_files
    from llmops.guard.dask_scan import scan_on_dask
    from llmops.guard.engine import cached_guard

    cached_guard(None, None)  # built once per process, as in bench/guard_scan.py
    reports = {}
    for name, result in (("local", scan_files([path], workers=2, spool=True)),
                         ("dask", scan_on_dask([path], address))):  # fmt: skip
        out = path.with_suffix(f".{name}.json")
        result.write_json(out)
        reports[name] = out.read_bytes()
        findings = result.n_findings
        result.close()
    same = reports["local"] == reports["dask"]

    def local() -> None:
        scan_files([path], workers=2, spool=True).close()

    def dask() -> None:
        scan_on_dask([path], address).close()

    t = best_of(repeat, {"local": local, "dask": dask})
    say("| what | seconds | records/s |")
    say("|---|---|---|")
    say(f"| scan_files(workers=2) | {t['local']:.3f} | {n / t['local']:,.0f} |")
    say(f"| scan_on_dask, 2 worker processes (connect included) | {t['dask']:.3f} | "
        f"{n / t['dask']:,.0f} |")  # fmt: skip
    say("")
    say(f"--dask / --workers 2: {t['dask'] / t['local']:.2f}x (goal <= 1.3x); {findings} "
        f"findings; JSON reports identical byte for byte: {same}")  # fmt: skip
    cli = [sys.executable, "-c", "from llmops.cli import main; main()", "guard", "scan",
           str(path), "--no-history", "--json", os.devnull]  # fmt: skip
    c = best_of(max(1, repeat // 2), {
        "local": lambda: subprocess.run([*cli, "--workers", "2"], env=ENV, capture_output=True),
        "dask": lambda: subprocess.run([*cli, "--dask", address], env=ENV, capture_output=True),
    })  # fmt: skip
    say(f"command line, interpreter start and imports included: --workers 2 {c['local']:.2f} s,"
        f" --dask {c['dask']:.2f} s")  # fmt: skip


def upload(endpoint: str, lines: list[bytes], gigabytes: float) -> tuple[int, int]:
    """Objects of about 8 MB adding up to ``gigabytes``; returns (objects, bytes)."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1",
                      aws_access_key_id="bench", aws_secret_access_key="bench")  # fmt: skip
    s3.create_bucket(Bucket="bench-logs")
    picked, size = [], 0
    for line in lines:  # whole lines, about 8 MB
        picked.append(line)
        size += len(line) + 1
        if size >= 8 << 20:
            break
    body = b"\n".join(picked) + b"\n"
    count = max(1, round(gigabytes * (1 << 30) / len(body)))
    for i in range(count):  # the first tenth under day/a/, to scan a tenth alone
        folder = "a" if i < max(1, count // 10) else "b"
        s3.put_object(Bucket="bench-logs", Key=f"day/{folder}/part-{i:04d}.jsonl", Body=body)
    return count, count * len(body)


def scan_s3(url: str, extra: list[str], endpoint: str) -> dict[str, Any]:
    """`llmops guard scan URL` in a fresh process, sampling its RSS (and its children's)."""
    env = {**ENV, "AWS_ENDPOINT_URL": endpoint}
    proc = subprocess.Popen(
        [sys.executable, "-c", "from llmops.cli import main; main()", "guard", "scan",
         url, "--no-history", "--json", os.devnull, *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, text=True,
    )  # fmt: skip
    t0 = time.perf_counter()
    own = kid = 0
    while proc.poll() is None:
        a, b = _tree_rss_kb(proc.pid)
        own, kid = max(own, a), max(kid, b)
        time.sleep(0.05)
    seconds = time.perf_counter() - t0
    out, err = proc.communicate()
    summary = next((line for line in (out + err).splitlines() if "guard scan:" in line), err)
    return {"seconds": seconds, "client_mb": own / 1024, "worker_mb": kid / 1024,
            "summary": summary.strip(), "code": proc.returncode}  # fmt: skip


def s3_memory(say: Any, endpoint: str, lines: list[bytes], gb: float, address: str) -> None:
    t0 = time.perf_counter()
    count, size = upload(endpoint, lines, gb)
    tenth = max(1, count // 10)
    say(f"{count} objects of {size / count / 1e6:.1f} MB ({size / 1e9:.2f} GB) on a local moto "
        f"S3 server on the same 2 cores (uploaded in {time.perf_counter() - t0:.0f} s); "
        f"`llmops guard scan s3://bench-logs/day/a/` ({tenth} objects) and "
        "`s3://bench-logs/day/` (all of them), RSS sampled every 50 ms:")  # fmt: skip
    say("")
    say("| run | read | seconds | MB/s | peak RSS, scanning process | peak RSS, largest child |")
    say("|---|---|---|---|---|---|")
    urls = [("s3://bench-logs/day/a/", tenth * size / count), ("s3://bench-logs/day/", size)]
    summaries = []
    for label, extra in (("--workers 2", ["--workers", "2"]), ("--dask (2 workers)",
                                                                ["--dask", address])):  # fmt: skip
        for url, read in urls:
            r = scan_s3(url, extra, endpoint)
            kid = f"{r['worker_mb']:.0f} MB" if r["worker_mb"] else "- (workers are elsewhere)"
            say(f"| {label} | {read / 1e9:.2f} GB | {r['seconds']:.1f} | "
                f"{read / 1e6 / r['seconds']:.0f} | {r['client_mb']:.0f} MB | {kid} |")  # fmt: skip
            summaries.append(f"{label}, {url}: exit {r['code']}; {r['summary']}")
    say("")
    say("\n".join(summaries))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=20000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--s3-gb", type=float, default=1.0)
    ap.add_argument("--skip-s3", action="store_true")
    ap.add_argument("--no-append", action="store_true")
    args = ap.parse_args()
    report: list[str] = []

    def say(text: str = "") -> None:
        print(text, flush=True)
        report.append(text)

    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    say(f"CPU: {os.cpu_count()} cores, shared with other jobs; load average at the start: {load}")
    lines = generate(args.records)
    with tempfile.TemporaryDirectory(dir="/tmp") as tmp:
        procs = Processes(Path(tmp))
        try:
            endpoint = "" if args.skip_s3 else start_moto(procs)
            address = start_cluster(procs, 2, {**ENV, "AWS_ENDPOINT_URL": endpoint})
            path = Path(tmp) / "logs.jsonl"
            path.write_bytes(b"\n".join(lines) + b"\n")
            say("")
            say(f"file: {args.records} OpenAI-style records, {path.stat().st_size / 1e6:.1f} MB;"
                f" best of {args.repeat} interleaved runs")  # fmt: skip
            say("")
            compare_engines(say, path, address, args.repeat, args.records)
            if not args.skip_s3:
                say("")
                s3_memory(say, endpoint, lines, args.s3_gb, address)
        finally:
            procs.stop()
    say("")
    say(f"peak RSS of this benchmark process: "
        f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB; load average at "
        f"the end: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")  # fmt: skip
    if not args.no_append:
        command = " ".join(["python", "bench/guard_distributed.py", *sys.argv[1:]])
        body = (
            f"{HEADING}\n\n`{command}` ({time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}"
            "; 2 shared cores, figures vary with contention)\n\n" + "\n".join(report) + "\n"
        )
        _replace_section(ROOT / "bench" / "RESULTS.md", HEADING, body)  # fmt: skip


if __name__ == "__main__":
    main()
