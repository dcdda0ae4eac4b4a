"""How fast `llmops eval` runs against an OpenAI-compatible endpoint, and how much memory it takes.

Starts ``tests/openai_server.py`` as a separate process, writes a throw-away project and
runs the real ``llmops eval`` command line on it:

1. 1,000 cases, one variant, the ``exact`` scorer, 50 ms server latency, concurrency 32:
   wall time against the ideal 1,000 × 0.05 / 32 = 1.56 s;
2. the same at 0 ms latency: overhead per case;
3. 20,000 cases at 0 ms: peak RSS of the eval process;
4. the 1,000-case run again with the cache: model calls made and time.

Prints the figures and appends them to bench/RESULTS.md. Usage:
``python bench/eval_speed.py [--large 20000] [--no-write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import threading
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


class Server:
    """tests/openai_server.py in its own process."""

    def __init__(self, latency_ms: float) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, str(ROOT / "tests" / "openai_server.py"), "--port", "0",
             "--latency-ms", str(latency_ms), "--api-key", KEY],
            stdout=subprocess.PIPE, text=True,
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline().strip()
        self.base_url = line.rsplit(" ", 1)[-1]

    def _post(self, path: str, body: dict[str, Any] | None = None) -> Any:
        req = urllib.request.Request(self.base_url.rsplit("/v1", 1)[0] + path,
                                     data=json.dumps(body or {}).encode(), method="POST")
        with urllib.request.urlopen(req) as r:
            return json.loads(r.read())

    def stats(self) -> dict[str, Any]:
        url = self.base_url.rsplit("/v1", 1)[0] + "/_stats"
        with urllib.request.urlopen(url) as r:
            data: dict[str, Any] = json.loads(r.read())
        return data

    def configure(self, latency_ms: float) -> None:
        self._post("/_config", {"latency_ms": latency_ms})

    def reset(self, latency_ms: float) -> None:
        self._post("/_reset")
        self.configure(latency_ms)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def project(tmp: Path, name: str, base_url: str, n: int) -> Path:
    provider = {"kind": "openai", "base_url": base_url, "api_key_env": "BENCH_KEY",
                "model": "fake-model", "max_concurrency": 32, "max_retries": 2}
    one = {"v1": {"variables": ["question"], "params": {"temperature": 0},
                  "messages": [{"role": "user", "content": "{{ question }}"}]}}
    return build_project(tmp / name, provider, n_cases=n, versions=one,
                         scorers=[{"exact": {}}])


def run_eval(root: Path, *extra: str, server: Server | None = None) -> dict[str, Any]:
    """Run `llmops eval` as a child process; wall time, peak RSS, its JSON and, with
    ``server``, the time from launch to the first model request."""
    out = root / "result.json"
    cmd = [LLMOPS, "--project", str(root), "eval", "qa", "--concurrency", "32",
           "--json", str(out), "--format", "none", *extra]
    env = {**os.environ, "BENCH_KEY": KEY}
    first: list[float] = []
    stop = threading.Event()
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)

    def watch() -> None:
        while server is not None and not stop.is_set():
            if server.stats()["total"] > 0:
                first.append(time.perf_counter() - start)
                return
            time.sleep(0.005)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    stop.set()
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode not in (0, 1):
        raise SystemExit(f"llmops eval failed ({proc.returncode}):\n{err}")
    data = json.loads(out.read_text())
    return {"wall_s": wall, "rss_mb": usage.ru_maxrss / 1024, "result": data,
            "run_s": data.get("timings", {}).get("run_s"),
            "first_call_s": first[0] if first else None}


SDK_PROBE = """
import asyncio, resource, sys, time
import openai

def cpu():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime

async def main(url, key, n):
    client = openai.AsyncOpenAI(base_url=url, api_key=key, max_retries=0)
    sem = asyncio.Semaphore(32)
    async def one(i):
        async with sem:
            await client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": f"q {i}"}])
    await asyncio.gather(*(one(i) for i in range(50)))
    c0, t0 = cpu(), time.perf_counter()
    await asyncio.gather(*(one(i) for i in range(n)))
    print(time.perf_counter() - t0, cpu() - c0)

asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
"""


def sdk_reference(base_url: str, n: int = 1000) -> tuple[float, float]:
    """The bare openai SDK, 32 concurrent calls: (wall ms per call, CPU ms per call)."""
    out = subprocess.run([sys.executable, "-c", SDK_PROBE, base_url, KEY, str(n)],
                         capture_output=True, text=True, check=True).stdout.split()
    return 1000 * float(out[0]) / n, 1000 * float(out[1]) / n


def runner_overhead(tmp: Path, n: int = 20_000, run_id: str = "r") -> float:
    """ms per case spent by llmops itself (render, store, scoring) with an instant model."""
    import asyncio

    from llmops.eval.runner import Runner, Variant, scorer_slots
    from llmops.evalsets import load_evalset
    from llmops.project import load_project
    from llmops.prompts import load_registry
    from llmops.providers.base import Completion
    from llmops.scorers import build_scorers
    from llmops.store import open_store

    class Instant:
        identity = "instant"

        async def complete(self, messages: list[dict[str, Any]], params: dict[str, Any], *,
                           case: Any = None) -> Any:
            await asyncio.sleep(0)
            return Completion(text=messages[-1]["content"], model="m", latency_ms=0.0)

        async def aclose(self) -> None:
            pass

    root = project(tmp, "overhead", "http://127.0.0.1:1/v1", n)
    proj = load_project(root)
    version = load_registry(proj).resolve("qa@v1")
    store = open_store(proj.store)  # LLMOPS_STORE may point it at PostgreSQL
    store.create_run(run_id, "qa")
    vid = store.add_variant(run_id, prompt="qa", version="v1", digest=version.digest, model="m",
                            params={}, provider="instant")
    runner = Runner(proj, store, run_id, Instant(), load_evalset(root / "evalsets" / "qa.jsonl"),
                    [Variant(vid, version, {})], scorer_slots(build_scorers([{"exact": {}}])),
                    concurrency=32)
    start = time.perf_counter()
    asyncio.run(runner.run())
    return 1000 * (time.perf_counter() - start) / n


def startup_s() -> float:
    """Process start-up: `llmops --version` wall time (best of 3)."""
    best = 1e9
    for _ in range(3):
        t = time.perf_counter()
        subprocess.run([LLMOPS, "--version"], capture_output=True, check=True)
        best = min(best, time.perf_counter() - t)
    return best


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--large", type=int, default=20_000)
    ap.add_argument("--no-write", action="store_true")
    ap.add_argument("--only-overhead", action="store_true",
                    help="only measure llmops' own per-case cost, in-process")
    args = ap.parse_args()
    lines: list[str] = []

    def say(text: str) -> None:
        print(text, flush=True)
        lines.append(text)

    if args.only_overhead:
        with tempfile.TemporaryDirectory() as d:
            ms = runner_overhead(Path(d), args.large)
        say(f"llmops' own cost per case (render, store, score; an instant in-process model, "
            f"{args.large:,} cases, concurrency 32): {ms:.3f} ms")
        return _write(lines, args.no_write)
    server = Server(latency_ms=50)
    try:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            boot = startup_s()
            say(f"process start-up (llmops --version): {boot:.2f} s")

            p1 = project(tmp, "p1000", server.base_url, 1000)
            r = run_eval(p1, "--no-cache", server=server)
            calls = server.stats()["by_path"].get("/v1/chat/completions", 0)
            ideal = 1000 * 0.05 / 32
            boot1 = r["first_call_s"] or 0.0
            say(f"1,000 cases, 50 ms latency, concurrency 32: wall {r['wall_s']:.2f} s, of "
                f"which start-up (launch to first request) {boot1:.2f} s; run phase "
                f"{r['run_s']:.2f} s vs ideal {ideal:.2f} s = {r['run_s'] / ideal:.2f}x; "
                f"(wall - start-up) / ideal = {(r['wall_s'] - boot1) / ideal:.2f}x; "
                f"{calls} calls; peak RSS {r['rss_mb']:.0f} MB")

            server.reset(0)
            r0 = run_eval(p1, "--no-cache")
            say(f"1,000 cases, 0 ms latency: wall {r0['wall_s']:.2f} s, run phase "
                f"{r0['run_s']:.2f} s = {1000 * r0['run_s'] / 1000:.2f} ms per case "
                f"(server in another process on the same cores)")
            sdk_wall, sdk_cpu = sdk_reference(server.base_url)
            say(f"reference, the bare openai SDK at the same moment (32 concurrent calls, no "
                f"llmops): {sdk_wall:.2f} ms per call wall, {sdk_cpu:.2f} ms CPU per call")

            server.reset(0)
            rc = run_eval(p1)
            calls = server.stats()["by_path"].get("/v1/chat/completions", 0)
            hits = rc["result"]["variants"][0]["summary"]["cache_hits"]
            say(f"1,000 cases again with the cache: {calls} model calls, {hits} cache hits, "
                f"wall {rc['wall_s']:.2f} s (run phase {rc['run_s']:.2f} s)")

            server.reset(0)
            big = project(tmp, "pbig", server.base_url, args.large)
            rb = run_eval(big, "--no-cache")
            n_done = rb["result"]["variants"][0]["summary"]["n_cases"]
            say(f"{args.large:,} cases, 0 ms latency: peak RSS {rb['rss_mb']:.0f} MB, wall "
                f"{rb['wall_s']:.1f} s (run phase {rb['run_s']:.1f} s), {n_done:,} results")
    finally:
        server.stop()
    return _write(lines, args.no_write)


def _write(lines: list[str], no_write: bool) -> int:
    if not no_write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        with (ROOT / "bench" / "RESULTS.md").open("a") as f:
            f.write(f"\n## eval_speed ({stamp}, {platform.machine()}, {os.cpu_count()} cores)\n\n")
            f.write(f"`python bench/eval_speed.py {' '.join(sys.argv[1:])}`\n\n")
            f.writelines(f"- {line}\n" for line in lines)
    return 0


if __name__ == "__main__":
    sys.exit(main())
