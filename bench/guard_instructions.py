"""Instructions the scan of a log file costs, counted with callgrind: a figure that does not
depend on what else runs on the machine.

    python bench/guard_instructions.py [--records 4000] [--dense | --no-dense] [--source DIR]

Writes the first ``--records`` records of the bench's dense file (or of its plain file
with ``--no-dense``), then runs three child processes under ``valgrind --tool=callgrind``:
each (run from the file's directory, so that ``--source`` decides which llmops is imported)
builds the detectors and reads the file; one also parses every line with
``json.loads`` (the floor), one scans the lines with ``scan_block``, one does neither. The
figures printed are each run's instructions minus those of the run that does neither.
``--source`` measures the llmops package of another checkout (an earlier commit, for a
before/after figure). Needs valgrind; takes minutes (callgrind runs code about 50 times slower).
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
sys.path.insert(0, str(ROOT))

from guard_scan import generate  # noqa: E402

CHILD = """
import json, sys
from pathlib import Path
from llmops.guard.batch import scan_block
from llmops.guard.engine import cached_guard
guard = cached_guard(None, None)
lines = Path(sys.argv[1]).read_bytes().splitlines()
if sys.argv[2] == "scan":
    scan_block(lines, guard, frozenset())
elif sys.argv[2] == "json":
    for line in lines:
        json.loads(line)
"""


def instructions(path: Path, mode: str, source: Path) -> int:
    proc = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null",
         sys.executable, "-c", CHILD, str(path), mode],
        capture_output=True, text=True, check=True, cwd=path.parent,
        env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin", "PYTHONHASHSEED": "0"},
    )  # fmt: skip
    found = re.search(r"Collected : (\d+)", proc.stderr)
    if found is None:
        raise SystemExit(f"no instruction count from valgrind:\n{proc.stderr[-2000:]}")
    return int(found.group(1))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--records", type=int, default=4000)
    ap.add_argument("--dense", action=argparse.BooleanOptionalAction, default=True)
    ap.add_argument("--source", type=Path, default=ROOT, help="a checkout whose llmops to run")
    args = ap.parse_args()
    source = args.source.resolve()
    lines = generate(20000, dense=args.dense)[: args.records]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "logs.jsonl"
        path.write_bytes(b"\n".join(lines) + b"\n")
        # once without valgrind, so that every module is compiled to bytecode before
        # the counted runs (the first import of a fresh checkout compiles its sources)
        subprocess.run(
            [sys.executable, "-c", CHILD, str(path), "none"], check=True, cwd=path.parent,
            env={"PYTHONPATH": str(source), "PATH": "/usr/bin:/bin"},
        )  # fmt: skip
        base = instructions(path, "none", source)
        floor = instructions(path, "json", source) - base
        scan = instructions(path, "scan", source) - base
    kind = "dense" if args.dense else "bench"
    print(f"llmops from {source}; file: the first {args.records} records of the {kind} file")
    runs = f"neither {base:,}, json {base + floor:,}, scan {base + scan:,}"
    print(f"instructions of the runs: {runs}")
    print(f"json.loads of every line (the floor): {floor / 1e9:.3f} G instructions")
    print(f"scan_block: {scan / 1e9:.3f} G instructions = {scan / floor:.2f}x the floor")


if __name__ == "__main__":
    main()
