"""Builds llmops. The guard's hot path (``llmops/_compiled.py``) is compiled with mypyc
when mypy is importable and ``LLMOPS_COMPILE`` is not ``0``; the extensions are optional,
so a machine without a C compiler installs the same package in pure Python."""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from setuptools import setup
from setuptools.command.build_ext import build_ext

_ROOT = Path(__file__).parent


def _compiled_modules() -> Any:
    spec = importlib.util.spec_from_file_location(
        "_llmops_compiled", _ROOT / "llmops" / "_compiled.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_COMPILED = _compiled_modules()


def _extensions() -> list[Any]:
    if os.environ.get("LLMOPS_COMPILE", "1") == "0":
        return []
    try:
        from mypyc.build import mypycify
    except ImportError:
        return []
    paths = [str(_COMPILED.source_path(m).relative_to(_ROOT)) for m in _COMPILED.MODULES]
    try:
        extensions = mypycify(
            ["--follow-imports=skip", "--ignore-missing-imports", *paths],
            opt_level="3",
            group_name=_COMPILED.GROUP,
        )
    except (Exception, SystemExit) as exc:  # mypyc could not translate them: the sources run
        print(f"llmops: the guard modules are not compiled ({exc})")
        return []
    for ext in extensions:
        ext.optional = True  # no compiler: the sources are used (llmops/_compiled.py)
    return extensions


class BuildExt(build_ext):  # type: ignore[misc]
    """Builds the extensions, then writes the digest of the sources they were built from
    (``llmops/_compiled.py`` uses them only while the sources are these)."""

    def run(self) -> None:
        super().run()
        if not self.extensions:
            return
        target = (_ROOT if self.inplace else Path(self.build_lib)) / _COMPILED.DIGEST_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(_COMPILED.sources_digest(_ROOT) + "\n")


setup(ext_modules=_extensions(), cmdclass={"build_ext": BuildExt})
