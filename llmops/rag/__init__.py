"""RAG indexes: build, sync and check a Chroma index of a ``kind: rag`` config, and retrieve.

```python
from llmops import load_project
from llmops.prompts import load_registry
from llmops.rag import check_index, retrieve, sync_index

project = load_project()
handbook = load_registry(project).resolve("handbook@production")
report = check_index(project, handbook)          # FreshnessReport; .fresh, .new, ...
if not report.fresh:
    sync_index(project, handbook)                 # embeds only new chunks
chunks = retrieve(project, handbook, "Can I get a refund?")   # [{text, source, score}]
```
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from pathlib import Path

    from llmops.project import Project
    from llmops.prompts import PromptVersion
    from llmops.rag.freshness import FreshnessReport, VerifyReport
    from llmops.rag.sync import SyncResult

__all__ = [
    "FreshnessReport",
    "SyncResult",
    "VerifyReport",
    "build_index",
    "check_freshness",
    "check_index",
    "retrieve",
    "sync_index",
]


def _resolved(
    project: Project | str | Path | None, version: PromptVersion | str
) -> tuple[Project, PromptVersion]:
    """A loaded project and version from either the objects or a path and a reference."""
    from llmops.project import as_project

    proj = as_project(project)
    if isinstance(version, str):
        from llmops.prompts import load_registry

        version = load_registry(proj).resolve(version)
    return proj, version


def check_index(
    project: Project | str | Path | None,
    version: PromptVersion | str,
    *,
    verify: bool = False,
) -> FreshnessReport:
    """Whether the index of a RAG config matches its sources; see :class:`FreshnessReport`.

    ``project`` is a loaded project or its directory; ``version`` a loaded version or a
    reference (``handbook@v1``). The same holds for every function of this module.
    """
    from llmops.rag.freshness import check_freshness as _check

    proj, version = _resolved(project, version)
    return _check(proj, version, verify=verify)


def check_freshness(
    project: Project | str | Path | None, rag_version: PromptVersion | str, *,
    verify: bool = False,
) -> FreshnessReport:
    """Same as :func:`check_index` (the name the evaluation runner uses)."""
    return check_index(project, rag_version, verify=verify)


def sync_index(
    project: Project | str | Path | None, version: PromptVersion | str, **options: Any
) -> SyncResult:
    """Embed new chunks, delete stale ones, switch the active collection when done."""
    from llmops.rag.retrieval import forget_stores
    from llmops.rag.sync import sync_index as _sync

    proj, version = _resolved(project, version)
    try:
        return _sync(proj, version, **options)
    finally:
        forget_stores()


def build_index(
    project: Project | str | Path | None, version: PromptVersion | str, **options: Any
) -> SyncResult:
    """Like :func:`sync_index`, but re-reads every source and sweeps the whole collection."""
    return sync_index(project, version, full=True, **options)


def retrieve(
    project: Project | str | Path | None, rag_version: PromptVersion | str, query: str,
    top_k: int | None = None,
) -> list[dict[str, Any]]:
    """The ``top_k`` chunks nearest to ``query``: ``[{text, source, score, chunk_index}]``."""
    from llmops.rag.retrieval import retrieve as _retrieve

    proj, rag_version = _resolved(project, rag_version)
    return _retrieve(proj, rag_version, query, top_k)


def __getattr__(name: str) -> Any:
    if name in ("FreshnessReport", "VerifyReport"):
        from llmops.rag import freshness

        return getattr(freshness, name)
    if name == "SyncResult":
        from llmops.rag.sync import SyncResult

        return SyncResult
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
