"""The guard's compiled modules: used when built from these sources, the same findings as
the sources, and never mixed with them."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from llmops import _compiled

ROOT = Path(__file__).resolve().parent.parent

_PROBE = """
import json, sys
from llmops import _compiled
from llmops.guard import scan_files
import llmops.guard.engine as engine, llmops.guard.detectors._numbers as numbers
result = scan_files(sys.argv[1:], workers=2)
print(json.dumps({
    "compiled": _compiled.in_use(),
    "files": [engine.__file__, numbers.__file__],
    "findings": [f.to_dict() for f in result.findings],
    "counts": result.counts,
}))
"""


def _probe(paths: list[Path], pure: bool) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != _compiled.PURE_PYTHON_ENV}
    if pure:
        env[_compiled.PURE_PYTHON_ENV] = "1"
    out = subprocess.run(
        [sys.executable, "-c", _PROBE, *map(str, paths)],
        env=env, cwd=ROOT, capture_output=True, text=True, check=True,
    )  # fmt: skip
    value: dict[str, object] = json.loads(out.stdout)
    return value


def _can_compile() -> bool:
    import sysconfig

    headers = Path(sysconfig.get_paths()["include"]) / "Python.h"
    return headers.exists() and shutil.which(sysconfig.get_config_var("CC").split()[0]) is not None


def test_the_checkout_runs_its_compiled_modules() -> None:
    # `make setup` builds them wherever there is a C compiler and Python's headers; a
    # source edited since then must be rebuilt (`make setup`), or every test of the guard
    # would run the sources instead.
    if not _can_compile():
        assert _compiled.built()[1] is False or _compiled.in_use()
        return
    assert _compiled.built() == (True, True), "run `make setup`: the guard is not compiled"
    assert _probe([ROOT / "tests/guard_data/exports"], pure=False)["compiled"] is True


def test_compiled_and_source_modules_find_the_same(tmp_path: Path) -> None:
    sys.path.insert(0, str(ROOT))
    try:
        from bench.guard_scan import generate
    finally:
        sys.path.remove(str(ROOT))
    dense = tmp_path / "dense.jsonl"
    lines = generate(1500, seed=5, dense=True) + generate(1500, seed=6)
    random.Random(1).shuffle(lines)
    dense.write_bytes(b"\n".join(lines) + b"\n")
    paths = [dense, ROOT / "tests/guard_data/exports"]
    compiled, source = _probe(paths, pure=False), _probe(paths, pure=True)
    assert source["compiled"] is False
    assert all(str(f).endswith(".py") for f in source["files"])  # type: ignore[attr-defined]
    if _can_compile():  # else there is nothing compiled to compare (see the test above)
        assert compiled["compiled"] is True
        assert not any(str(f).endswith(".py") for f in compiled["files"])  # type: ignore[attr-defined]
    assert compiled["counts"] == source["counts"]
    assert len(compiled["findings"]) > 2000  # type: ignore[arg-type]
    assert compiled["findings"] == source["findings"]


def _tree(tmp_path: Path, built: bool = True) -> Path:
    """A copy of the compiled modules' sources; ``built``: with empty files for their
    extensions and the digest a build writes."""
    root = tmp_path / "tree"
    for module in _compiled.MODULES:
        source = _compiled.source_path(module, root)
        source.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(_compiled.source_path(module), source)
        if built:
            (source.parent / (source.stem + ".abi3.so")).write_bytes(b"")
    if built:
        group = root.joinpath(*(_compiled.GROUP + "__mypyc").split("."))
        (group.parent / (group.name + ".abi3.so")).write_bytes(b"")
        (root / _compiled.DIGEST_FILE).write_text(_compiled.sources_digest(root) + "\n")
    return root


def test_a_build_counts_only_for_the_sources_it_was_built_from(tmp_path: Path) -> None:
    root = _tree(tmp_path)
    assert _compiled.built(root) == (True, True)
    source = _compiled.source_path("llmops.guard.detectors._numbers", root)
    source.write_text(source.read_text() + "\n# edited\n")
    assert _compiled.built(root) == (True, False)  # an edit since the build
    (root / _compiled.DIGEST_FILE).write_text(_compiled.sources_digest(root))
    assert _compiled.built(root) == (True, True)  # rebuilt
    next(source.parent.glob("_numbers.*.so")).unlink()
    assert _compiled.built(root) == (True, False)  # one module missing
    (root / _compiled.DIGEST_FILE).unlink()
    assert _compiled.built(root) == (True, False)


def test_no_build_at_all(tmp_path: Path) -> None:
    assert _compiled.built(_tree(tmp_path, built=False)) == (False, False)


@pytest.mark.parametrize("module", ["llmops.guard.engine", "llmops.guard.readers"])
def test_the_sources_are_taken_when_not_compiled(module: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", f"import {module} as m; print(m.__file__)"],
        env={**os.environ, _compiled.PURE_PYTHON_ENV: "1"},
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert out.stdout.strip() == str(_compiled.source_path(module))
