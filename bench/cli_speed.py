"""How fast the everyday commands start.

Median wall time over 10 runs of ``llmops --help`` and ``llmops prompts list`` on the
example project, with ``python -c pass`` as the floor, and of ``llmops prompts check``
over a generated project of 1,000 prompt versions. Prints the figures and appends them
to bench/RESULTS.md.
"""

from __future__ import annotations

import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BIN = Path(sys.executable).parent
LLMOPS = str(BIN / "llmops")
RUNS = 10


def measure(cmd: list[str], cwd: Path, runs: int = RUNS) -> tuple[float, float]:
    """Median wall time and median CPU time (user + system) of ``runs`` runs.

    CPU time is reported too because the wall time on a shared machine mostly measures
    the other processes; CPU time is what the command itself costs.
    """
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
    return statistics.median(walls), statistics.median(cpus)


VERSION = """\
description: generated version {i}
variables: [question, customer]
params: {{temperature: 0, max_tokens: {tokens}}}
messages:
  - role: system
    content: |
      You are support agent number {i}. Be brief and polite.
      {{% if customer %}}The customer is {{{{ customer }}}}.{{% endif %}}
  - role: user
    content: "{{{{ question }}}}"
"""


def generate(root: Path, n_prompts: int = 100, n_versions: int = 10) -> None:
    """A project of n_prompts × n_versions versions, with labels, all locked."""
    (root / "llmops.yaml").write_text("provider: {kind: local}\n", encoding="utf-8")
    for p in range(n_prompts):
        folder = root / "prompts" / f"prompt_{p:03d}"
        folder.mkdir(parents=True)
        for v in range(1, n_versions + 1):
            text = VERSION.format(i=p * n_versions + v, tokens=32 + v)
            (folder / f"v{v}.yaml").write_text(text, encoding="utf-8")
        (folder / "labels.yaml").write_text(
            f"production: v1\nstaging: v{n_versions}\n", encoding="utf-8"
        )
    subprocess.run([LLMOPS, "prompts", "lock"], cwd=root, check=True, stdout=subprocess.DEVNULL)


def main() -> None:
    figures = {
        "python -c pass": measure([sys.executable, "-c", "pass"], ROOT),
        "llmops --help": measure([LLMOPS, "--help"], ROOT),
        "llmops prompts list (example project)": measure([LLMOPS, "prompts", "list"], ROOT),
    }
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        figures["llmops prompts check (1,000 locked versions)"] = measure(
            [LLMOPS, "prompts", "check"], Path(tmp)
        )
        figures["llmops prompts check --full (1,000 versions, every template parsed)"] = measure(
            [LLMOPS, "prompts", "check", "--full"], Path(tmp)
        )
    lines = [f"| {name} | {wall:.3f} s | {cpu:.3f} s |" for name, (wall, cpu) in figures.items()]
    print("\n".join(lines))
    stamp = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    section = [
        "",
        "## CLI start-up (bench/cli_speed.py)",
        "",
        f"Medians of {RUNS} runs; {stamp}; Python {platform.python_version()}, "
        f"{platform.machine()}, {os.cpu_count()} CPUs, load average {load}. "
        "Goal: `--help` and `prompts list` under 0.25 s, `prompts check` over 1,000 "
        "versions under 1 s. Command: `.venv/bin/python bench/cli_speed.py`.",
        "",
        "| command | median wall | median CPU |",
        "|---|---|---|",
        *lines,
        "",
    ]
    results = ROOT / "bench" / "RESULTS.md"
    if not results.exists():
        results.write_text("# Benchmark results\n", encoding="utf-8")
    with results.open("a", encoding="utf-8") as fh:
        fh.write("\n".join(section))


if __name__ == "__main__":
    main()
