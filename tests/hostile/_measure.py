"""Running the command line as a child process, timed, with its peak memory."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

LLMOPS = str(Path(sys.executable).parent / "llmops")
ADDRESS_SPACE = 3 << 30  # a child that tries to take more fails instead of swapping the host

# A fresh parent per command: RUSAGE_CHILDREN then reports this command's peak alone.
_WRAPPER = """
import json, resource, subprocess, sys, time
def limit():
    resource.setrlimit(resource.RLIMIT_AS, (int(sys.argv[1]), int(sys.argv[1])))
start = time.perf_counter()
p = subprocess.run(sys.argv[3:], capture_output=True, text=True, preexec_fn=limit,
                   timeout=float(sys.argv[2]))
print(json.dumps({"code": p.returncode, "out": p.stdout, "err": p.stderr,
                  "seconds": time.perf_counter() - start,
                  "peak_mb": resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024}))
"""


@dataclass
class Measured:
    code: int
    out: str
    err: str
    seconds: float
    peak_mb: float


def run_llmops(project: Path, *args: str, timeout: float = 60) -> Measured:
    """``llmops --project PROJECT ARGS...`` in a child process; its exit code, output, time
    and peak resident memory. A child still running after ``timeout`` seconds fails the test."""
    cmd = [sys.executable, "-c", _WRAPPER, str(ADDRESS_SPACE), str(timeout),
           LLMOPS, "--project", str(project), *args]
    try:
        done = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout + 30)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"llmops {' '.join(args)} did not finish in {timeout} s") from None
    if done.returncode != 0:
        raise AssertionError(f"llmops {' '.join(args)}: {done.stderr[-2000:]}")
    return Measured(**json.loads(done.stdout))
