"""`llmops eval` at an endpoint's rate limit, beside promptfoo on the same server.

Starts ``tests/openai_server.py`` in its own process with a token bucket of 40 requests/s
(at most 40 at once, OpenAI's ``x-ratelimit-*`` headers, 429 with ``retry-after-ms``),
writes a throw-away project of 600 cases with ``max_concurrency: 32`` and runs the real
``llmops eval`` command line on it. The rate allows 600 / 40 = 15 s: the goal is 0
errored cases, a wall time within 1.1 x 15 s, and fewer 429s than promptfoo. When the
``promptfoo`` command is installed (``npm i -g promptfoo@0.121``) it runs the same 600
cases against a fresh server with the same limit, ``--max-concurrency 32``.

Usage: ``python bench/rate_limit.py [--cases 600] [--rps 40] [--burst 40] [--no-write]
[--skip-promptfoo] [--repeat N]``; ``--repeat`` alternates the tools N times and gives
each one's median wall time, as this machine's timings drift from one minute to the next.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.fixtures_eval import build_project  # noqa: E402

KEY = "sk-bench"
LLMOPS = str(Path(sys.executable).parent / "llmops")
PROMPTFOO_ANCHOR = "promptfoo 0.121 (as first reported): 600/600 in 16.8 s, 585 429s"


class LimitedServer:
    """tests/openai_server.py in its own process, behind a token bucket."""

    def __init__(self, rps: float, burst: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "openai_server.py"), "--port", "0",
             "--api-key", KEY, "--rate-limit-rps", str(rps), "--rate-limit-burst", str(burst)],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        self.base_url = self.proc.stdout.readline().strip().rsplit(" ", 1)[-1]

    def stats(self) -> dict[str, Any]:
        with urllib.request.urlopen(self.base_url.rsplit("/v1", 1)[0] + "/_stats") as r:
            data: dict[str, Any] = json.loads(r.read())
        return data

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def run_llmops(tmp: Path, server: LimitedServer, n: int) -> dict[str, Any]:
    provider = {"kind": "openai", "base_url": server.base_url, "api_key_env": "BENCH_KEY",
                "model": "fake-model", "max_concurrency": 32, "max_retries": 4}
    one = {"v1": {"variables": ["question"], "params": {"temperature": 0},
                  "messages": [{"role": "user", "content": "{{ question }}"}]}}
    root = build_project(tmp / "llmops", provider, n_cases=n, versions=one,
                         scorers=[{"exact": {}}])
    out = root / "result.json"
    cmd = [LLMOPS, "--project", str(root), "eval", "qa", "--no-cache", "--json", str(out),
           "--format", "none"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, env={**os.environ, "BENCH_KEY": KEY}, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    _, stderr = proc.communicate()
    wall = time.monotonic() - start
    if proc.returncode not in (0, 1):
        raise SystemExit(f"llmops eval failed ({proc.returncode}):\n{stderr}")
    data = json.loads(out.read_text())
    summary = data["variants"][0]["summary"]
    stats = server.stats()
    return {"tool": "llmops", "cases": summary["n_cases"], "errors": summary["n_errors"],
            "wall_s": wall, "run_s": data.get("timings", {}).get("run_s"),
            "first_s": first_request(stats, start), "last_s": last_request(stats, start),
            "rate_limited": stats["rate_limited"], "requests": stats["total"]}


def last_request(stats: dict[str, Any], start: float) -> float:
    """Seconds from launch to the server's last request (as :func:`first_request`)."""
    last = stats.get("last_at")
    return float("nan") if last is None else float(last) - start


def first_request(stats: dict[str, Any], start: float) -> float:
    """Seconds from launch to the server's first request (start-up and preflight).

    The server notes its first request's ``time.monotonic()``, one clock for every
    process here, so nothing polls the server while the tool starts.
    """
    first = stats.get("first_at")
    return float("nan") if first is None else float(first) - start


def run_promptfoo(tmp: Path, server: LimitedServer, n: int) -> dict[str, Any] | None:
    exe = shutil.which("promptfoo")
    if exe is None:
        return None
    work = tmp / "promptfoo"
    work.mkdir(parents=True)
    (work / "cases.csv").write_text(
        "question\n" + "".join(f"question number {i}\n" for i in range(n)))
    (work / "promptfooconfig.yaml").write_text(
        "prompts:\n  - '{{question}}'\nproviders:\n  - id: openai:chat:fake-model\n"
        f"    config:\n      apiBaseUrl: {server.base_url}\n      apiKey: {KEY}\n"
        "tests: file://cases.csv\n")
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(work / "config")}
    version = subprocess.run([exe, "--version"], capture_output=True, text=True, env=env,
                             cwd=work).stdout.strip().splitlines()[-1]
    cmd = [exe, "eval", "-c", "promptfooconfig.yaml", "--max-concurrency", "32", "--no-cache",
           "-o", "out.json", "--no-progress-bar", "--no-table"]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    stdout, _ = proc.communicate()
    wall = time.monotonic() - start
    stats_out = json.loads((work / "out.json").read_text())["results"]["stats"]
    duration = re.search(r"Duration: ([\dms .]+)", stdout)
    stats = server.stats()
    return {"tool": f"promptfoo {version}", "cases": n, "errors": stats_out.get("errors"),
            "wall_s": wall, "run_s": None, "first_s": first_request(stats, start),
            "last_s": last_request(stats, start), "reported": duration.group(1).strip()
            if duration else None, "rate_limited": stats["rate_limited"],
            "requests": stats["total"]}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=600)
    ap.add_argument("--rps", type=float, default=40)
    ap.add_argument("--burst", type=float, default=40)
    ap.add_argument("--no-write", action="store_true", help="do not append to RESULTS.md")
    ap.add_argument("--skip-promptfoo", action="store_true", help="run llmops only")
    ap.add_argument("--repeat", type=int, default=1,
                    help="run each tool this many times, alternating, and give the medians")
    args = ap.parse_args()
    ideal = args.cases / args.rps
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        runners = (run_llmops,) if args.skip_promptfoo else (run_llmops, run_promptfoo)
        for i in range(args.repeat):
            for runner in runners:
                server = LimitedServer(args.rps, args.burst)
                try:
                    row = runner(Path(tmp) / str(i), server, args.cases)
                finally:
                    server.stop()
                if row is not None:
                    rows.append(row)
    lines = [f"rate limit: {args.cases} cases, {args.rps:g} requests/s (bucket of "
             f"{args.burst:g}), concurrency 32; rate-bound ideal {ideal:.1f} s "
             f"({platform.python_version()}, {os.cpu_count()} CPUs, "
             f"{datetime.now(UTC):%Y-%m-%d})"]
    for r in rows:
        calls = r["wall_s"] - r["first_s"]
        told = f"; it reports {r['reported']}" if r.get("reported") else ""
        lines.append(
            f"  {r['tool']:18} {r['cases'] - (r['errors'] or 0)}/{r['cases']} ok, "
            f"{r['errors']} errors, {r['rate_limited']} 429s in {r['requests']} requests; "
            f"wall {r['wall_s']:.1f} s = {r['wall_s'] / ideal:.2f}x ideal (first request at "
            f"{r['first_s']:.1f} s, from there {calls:.1f} s = {calls / ideal:.2f}x, of which "
            f"{r['wall_s'] - r['last_s']:.2f} s after the last request{told})")
    if args.repeat > 1:
        for tool in dict.fromkeys(r["tool"] for r in rows):
            walls = sorted(r["wall_s"] for r in rows if r["tool"] == tool)
            median = statistics.median(walls)
            lines.append(f"  {tool}: median wall of {len(walls)} runs {median:.1f} s = "
                         f"{median / ideal:.2f}x ideal (range {walls[0] / ideal:.2f}x to "
                         f"{walls[-1] / ideal:.2f}x)")
    if not any(r["tool"].startswith("promptfoo") for r in rows):
        lines.append(f"  promptfoo not installed; anchor: {PROMPTFOO_ANCHOR}")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write(f"\n## Rate limit beside promptfoo (bench/rate_limit.py)\n\n"
                    f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, load average {load}. Command: "
                    f"`python bench/rate_limit.py {' '.join(sys.argv[1:])}`\n\n"
                    f"```\n{text}\n```\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
