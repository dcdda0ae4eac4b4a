"""The guard's hot path, compiled to C extension modules with mypyc where the build could.

``setup.py`` compiles :data:`MODULES` (the detectors, the prefilter, the batching of
records and the OpenAI shape reader) into extension modules beside their sources, all of
them into one shared library, :data:`GROUP`. The same sources run either way; compiled,
a guard scan does about a third less work.

The compiled modules are used only when every one of them is there and the sources they
were built from (a digest written beside them, :data:`DIGEST_FILE`) are the sources here.
Otherwise (a source edited since the build, a build without a compiler, or
``LLMOPS_PURE_PYTHON=1``) all the sources are imported instead: compiled modules call each
other directly, so a mix of compiled and source modules would run old code. The check
runs when the first of these modules is imported, so ``import llmops`` stays free.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

MODULES = (
    "llmops.guard.findings",
    "llmops.guard.registry",
    "llmops.guard.prefilter",
    "llmops.guard.engine",
    "llmops.guard.batch",
    "llmops.guard.readers",
    "llmops.guard.detectors._numbers",
    "llmops.guard.detectors.pii",
    "llmops.guard.detectors.secrets",
    "llmops.guard.detectors.injection",
    "llmops.guard.shapes._messages",
    "llmops.guard.shapes.openai",
)
_NAMES = frozenset(MODULES)  # looked up at every import of the process
GROUP = "llmops.guard.compiled"  # the shared library the compiled modules live in
DIGEST_FILE = "llmops/guard/compiled.digest"  # the sources' digest, written by the build
PURE_PYTHON_ENV = "LLMOPS_PURE_PYTHON"

_ROOT = Path(__file__).resolve().parent.parent


def source_path(module: str, root: Path = _ROOT) -> Path:
    """The ``.py`` file of ``module``, one of :data:`MODULES`."""
    return root.joinpath(*module.split(".")).with_suffix(".py")


def sources_digest(root: Path = _ROOT) -> str:
    """sha256 of the compiled modules' sources, as the build writes it."""
    h = hashlib.sha256()
    for module in MODULES:
        h.update(module.encode() + b"\x00" + source_path(module, root).read_bytes() + b"\x00")
    return h.hexdigest()


def _extension(stem: Path) -> Path | None:
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = stem.with_name(stem.name + suffix)
        if path.exists():
            return path
    return None


def built(root: Path = _ROOT) -> tuple[bool, bool]:
    """(some compiled module is there, all are, built from the sources in ``root``)."""
    group = _extension(root.joinpath(*(GROUP + "__mypyc").split(".")))
    shims = [_extension(source_path(m, root).with_suffix("")) for m in MODULES]
    if group is None or None in shims:
        return group is not None or any(shims), False
    digest = root / DIGEST_FILE
    try:
        return True, digest.read_text().strip() == sources_digest(root)
    except OSError:
        return True, False


class _Sources:
    """An import finder that decides, at the first import of one of :data:`MODULES`,
    whether they come from their compiled extensions or from their ``.py`` files."""

    def find_spec(
        self, fullname: str, path: Sequence[str] | None = None, target: ModuleType | None = None
    ) -> importlib.machinery.ModuleSpec | None:
        if fullname not in _NAMES or in_use():
            return None  # the normal import, which takes an extension before a source
        return importlib.util.spec_from_file_location(fullname, source_path(fullname))


_STATE: dict[str, bool] = {}
_FINDER = _Sources()


def install() -> None:
    """Put the finder first on ``sys.meta_path`` (no file is looked at yet)."""
    if _FINDER not in sys.meta_path:
        sys.meta_path.insert(0, _FINDER)


def in_use() -> bool:
    """Whether this process runs the compiled modules (decided once)."""
    use = _STATE.get("compiled")
    if use is None:
        use = _STATE["compiled"] = not os.environ.get(PURE_PYTHON_ENV) and built()[1]
    return use
