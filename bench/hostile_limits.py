"""How fast and how small the answer to each resource bomb is.

Writes a throw-away project and runs the real command line on each attack of
``tests/hostile/test_resource_bombs.py`` in a child process capped at 3 GB of address
space, reporting its exit code, wall time and peak resident memory. The issue that
asked for the limits measured 4 GB for the string bomb, 8.8 GB for ``'a' * 3e9`` and
35 s, 4.4 GB for the YAML alias bomb before them.

Prints the figures and appends them to bench/RESULTS.md. Usage:
``python bench/hostile_limits.py [--no-write]``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LLMOPS = str(Path(sys.executable).parent / "llmops")
CAP = 3 << 30

PROMPT = "variables: {variables}\nmessages:\n  - role: user\n    content: {content}\n"
LAUGHS = "- id: a\n  vars: {question: &a [lol, lol, lol, lol, lol, lol, lol, lol, lol]}\n"
LAUGHS += "".join(
    f"- id: {c}\n  vars: {{question: &{c} [{', '.join(['*' + p] * 9)}]}}\n"
    for p, c in zip("abcdefgh", "bcdefghi", strict=True)
)
ATTACKS = [
    ("template `('a' * 100000) * 20000`, prompts check", "const",
     "\"{{ ('a' * 100000) * 20000 }}\"", "[]", ["prompts", "check"]),
    ("template `question * 100000000`, prompts render", "var",
     "\"{{ question * 100000000 }}\"", "[question]",
     ["prompts", "render", "var@v1", "--var", "question=aaaa"]),
    ("template: three loops over a 2,000-character variable", "loops",
     "\"{% for a in question %}{% for b in question %}{% for c in question %}"
     "{% endfor %}{% endfor %}{% endfor %}\"", "[question]",
     ["prompts", "render", "loops@v1", "--var", "question=" + "q" * 2000]),
]


def measure(cmd: list[str], cwd: Path) -> tuple[int, float, float]:
    """Exit code, wall seconds and peak RSS (MB) of ``cmd`` run alone in a fresh parent."""
    probe = (
        "import resource, subprocess, sys, time, json\n"
        f"def limit():\n    resource.setrlimit(resource.RLIMIT_AS, ({CAP}, {CAP}))\n"
        "t = time.perf_counter()\n"
        "p = subprocess.run(sys.argv[1:], capture_output=True, preexec_fn=limit)\n"
        "print(json.dumps([p.returncode, time.perf_counter() - t,\n"
        "    resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024]))\n"
    )
    out = subprocess.run([sys.executable, "-c", probe, *cmd], cwd=cwd, capture_output=True,
                         text=True, check=True, timeout=600).stdout
    code, seconds, mb = json.loads(out)
    return int(code), float(seconds), float(mb)


def write_project(root: Path) -> None:
    (root / "llmops.yaml").write_text("provider: {kind: local}\n")
    for _, name, content, variables, _ in ATTACKS:
        folder = root / "prompts" / name
        folder.mkdir(parents=True)
        (folder / "v1.yaml").write_text(PROMPT.format(variables=variables, content=content))
    (root / "evalsets").mkdir()
    (root / "evalsets" / "laughs.yaml").write_text(LAUGHS)
    deep = '{"id": "deep", "vars": {"q": ' + "[" * 100_000 + "]" * 100_000 + "}}\n"
    (root / "evalsets" / "deep.jsonl").write_text(deep)


LOAD = (
    "import sys\nfrom llmops.errors import UserError\nfrom llmops.evalsets import load_evalset\n"
    "try:\n    load_evalset(sys.argv[1])\nexcept UserError as exc:\n"
    "    print(exc, file=sys.stderr)\n    sys.exit(exc.exit_code)\n"
)


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--no-write", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        write_project(root)
        for what, name, _, _, argv in ATTACKS:
            # Each version on its own: prompts check loads every version in the project.
            others = [a[1] for a in ATTACKS if a[1] != name]
            for other in others:
                (root / "prompts" / other).rename(root / f".{other}")
            rows.append((what, *measure([LLMOPS, "--project", str(root), *argv], root)))
            for other in others:
                (root / f".{other}").rename(root / "prompts" / other)
        for what, file in (("YAML alias bomb (9 levels of 9), loading the eval set", "laughs.yaml"),
                           ("eval-set line nested 100,000 deep", "deep.jsonl")):
            cmd = [sys.executable, "-c", LOAD, str(root / "evalsets" / file)]
            rows.append((what, *measure(cmd, root)))
    lines = [f"| {what} | {code} | {s:.2f} s | {mb:.0f} MB |" for what, code, s, mb in rows]
    print("\n".join(lines))
    if not args.no_write:
        stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
        section = [
            "", "## Resource bombs (bench/hostile_limits.py)", "",
            f"{stamp}; Python {platform.python_version()}, {platform.machine()}, "
            f"{os.cpu_count()} CPUs, load average {load}. Each attack in a child process "
            "capped at 3 GB of address space. Goal: exit 2 within seconds, well under 1 GB. "
            "Command: `.venv/bin/python bench/hostile_limits.py`.", "",
            "| attack | exit | wall | peak RSS |", "|---|---|---|---|", *lines, "",
        ]
        with (ROOT / "bench" / "RESULTS.md").open("a", encoding="utf-8") as fh:
            fh.write("\n".join(section))
    return 0


if __name__ == "__main__":
    sys.exit(main())
