"""Releasing versions: ``check`` the lock, ``lock`` new versions, ``promote`` a label.

A locked version is immutable: its file may change only in ways that do not change its
behaviour (a description, comments, layout). ``check`` compares every locked version
with its snapshot in the lock file and shows a unified diff of what changed.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from llmops._files import write_atomic
from llmops.errors import PromptError
from llmops.prompts.digest import readable
from llmops.prompts.files import line_of
from llmops.prompts.labels import LABEL_FILES, LABELS_FILE, labels_text
from llmops.prompts.lockfile import LockEntry
from llmops.prompts.model import NAME_RE, PromptVersion
from llmops.prompts.registry import Registry

if TYPE_CHECKING:
    from llmops.project import Project


@dataclass
class EditedVersion:
    """A locked version whose file no longer matches its lock entry."""

    ref: str
    path: str
    diff: str


@dataclass
class CheckReport:
    """What ``prompts check`` found; ``ok`` is False when a locked version changed."""

    n_versions: int = 0
    n_locked: int = 0
    unlocked: list[str] = field(default_factory=list)
    edited: list[EditedVersion] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    rag_moved: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.edited and not self.deleted

    def to_json(self) -> dict[str, object]:
        return {
            "ok": self.ok,
            "versions": self.n_versions,
            "locked": self.n_locked,
            "unlocked": self.unlocked,
            "edited": [{"ref": e.ref, "path": e.path, "diff": e.diff} for e in self.edited],
            "deleted": self.deleted,
            "rag_moved": self.rag_moved,
        }


def _diff(registry: Registry, version: PromptVersion) -> str:
    entry = registry.lock.entries[version.ref]
    lines = difflib.unified_diff(
        readable(entry.snapshot),
        readable(registry.content(version)),
        fromfile=f"{version.ref} (locked)",
        tofile=f"{version.ref} ({_rel(registry, version)})",
    )
    return "".join(lines)


def _rel(registry: Registry, version: PromptVersion) -> str:
    try:
        return str(version.path.relative_to(registry.root))
    except ValueError:
        return str(version.path)


def check_suites(registry: Registry, project: Project) -> None:
    """Every suite in llmops.yaml must name a prompt version that exists."""
    for name, suite in project.config.suites.items():
        try:
            version = registry.resolve(suite.prompt)
        except PromptError as exc:
            where = project.config_path
            line = line_of(where, ["suites", name, "prompt"]) if where else None
            raise PromptError(
                f"suites.{name}.prompt: {exc.message}", file=where, line=line, hint=exc.hint
            ) from None
        if version.kind != "prompt":
            raise PromptError(
                f"suites.{name}.prompt: {version.ref} is a RAG config, not a prompt",
                file=project.config_path,
                hint="name a prompt whose `rag:` points at the config",
            )


def check(registry: Registry, *, full: bool = False, project: Project | None = None) -> CheckReport:
    """Check templates and variables, and every locked version against the lock.

    A locked version whose content still matches its snapshot had its templates checked
    when it was locked, so only unlocked and edited versions are parsed again, unless
    ``full`` asks for every version. With ``project``, the suites' prompt references
    are checked too.

    Raises:
        TemplateError: a template does not parse, is unsafe, or its variables do not
            match ``variables:`` (a user error, exit 2, not a lock failure).
        PromptError: a suite names a prompt that does not resolve.
    """
    from llmops.prompts.render import prompt_variables_check

    if project is not None:
        check_suites(registry, project)
    report = CheckReport(deleted=registry.missing_locked())
    for version in registry.all():
        report.n_versions += 1
        if version.kind == "prompt" and (full or not version.locked or version.edited):
            prompt_variables_check(version)
        if not version.locked:
            report.unlocked.append(version.ref)
            continue
        report.n_locked += 1
        entry = registry.lock.entries[version.ref]
        if version.edited:
            report.edited.append(
                EditedVersion(version.ref, _rel(registry, version), _diff(registry, version))
            )
        elif entry.digest != version.digest:
            report.rag_moved.append(version.ref)
    return report


def check_version(registry: Registry, version: PromptVersion) -> None:
    """Refuse a version that fails its checks (template, variables, lock)."""
    if version.kind == "prompt":
        from llmops.prompts.render import prompt_variables_check

        prompt_variables_check(version)
    if version.edited:
        raise PromptError(
            f"{version.ref} is locked but its file was edited since",
            file=version.path,
            hint="restore it and make the change in a new version; "
            "`llmops prompts check` shows the diff",
        )


@dataclass
class LockResult:
    """What ``prompts lock`` changed."""

    added: list[str] = field(default_factory=list)
    refreshed: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)

    @property
    def changed(self) -> bool:
        return bool(self.added or self.refreshed or self.pruned)


def _entry(registry: Registry, version: PromptVersion, now: str) -> LockEntry:
    return LockEntry(version.digest, version.content_digest, now, registry.content(version))


def lock(registry: Registry, refs: list[str] | None = None, *, prune: bool = False) -> LockResult:
    """Lock versions (all when ``refs`` is None) and write the lock file.

    Locked versions whose RAG reference now resolves elsewhere get their digest
    refreshed. Nothing is written if any selected version fails its checks, or if a
    locked version was edited or deleted.

    With ``prune``, the lock only forgets the locked versions whose file was deleted:
    nothing is locked or refreshed (run a plain lock for that), and ``refs`` must be
    None.
    """
    if prune:
        if refs:
            raise PromptError(
                "--prune forgets deleted versions and locks nothing: give no versions",
                hint="run `llmops prompts lock --prune`, then `llmops prompts lock VERSION`",
            )
        return _prune(registry)
    selected = registry.all() if refs is None else [registry.resolve(r) for r in refs]
    for version in selected:
        check_version(registry, version)
    missing = registry.missing_locked() if refs is None else []
    if missing:
        raise PromptError(
            f"locked version(s) deleted: {', '.join(missing)}",
            file=registry.lock.path,
            hint="restore the files, or run `llmops prompts lock --prune` to forget them",
        )
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    result = LockResult()
    entries = dict(registry.lock.entries)
    for version in selected:
        current = entries.get(version.ref)
        if current is None:
            entries[version.ref] = _entry(registry, version, now)
            result.added.append(version.ref)
        elif current.digest != version.digest:
            entries[version.ref] = LockEntry(
                version.digest, current.content_digest, current.locked_at, current.snapshot
            )
            result.refreshed.append(version.ref)
    if result.changed or not registry.lock.exists:
        registry.lock.entries = entries
        write_atomic(registry.lock.path, registry.lock.to_text())
        registry.lock.exists = True
    return result


def _prune(registry: Registry) -> LockResult:
    """Forget the locked versions whose file was deleted; lock nothing."""
    result = LockResult(pruned=registry.missing_locked())
    if result.pruned:
        gone = set(result.pruned)
        entries = registry.lock.entries
        registry.lock.entries = {ref: e for ref, e in entries.items() if ref not in gone}
        write_atomic(registry.lock.path, registry.lock.to_text())
    return result


@dataclass
class Promotion:
    """What ``prompts promote`` did."""

    name: str
    label: str
    version: str
    previous: str | None
    newly_locked: bool


def promote(registry: Registry, ref: str, label: str) -> Promotion:
    """Point ``label`` at the version ``ref`` names, and lock that version.

    A labelled version is a released one, so promotion also locks it. The labels file
    is edited in place: other labels and comments are kept.

    Raises:
        PromptError: the version does not exist, fails its checks, or the label name is
            not allowed.
    """
    version = registry.resolve(ref)
    check_version(registry, version)
    labels = registry.labels(version.name)
    if not NAME_RE.match(label):
        raise PromptError(
            f"{label!r} is not a valid label name", hint="use letters, digits, '.', '_', '-'"
        )
    if label in {v.version for v in registry.versions(version.name)}:
        raise PromptError(
            f"label {label!r} has the same name as a version of {version.name}",
            hint="choose another label",
        )
    previous = labels.get(label)
    newly_locked = not version.locked
    if newly_locked:
        lock(registry, [version.ref])
    if previous != version.version:
        prompt_dir = version.path.parent
        path = next((prompt_dir / n for n in LABEL_FILES if (prompt_dir / n).is_file()), None)
        path = path or prompt_dir / LABELS_FILE
        current = path.read_text(encoding="utf-8") if path.is_file() else ""
        write_atomic(path, labels_text(current, label, version.version))
    return Promotion(version.name, label, version.version, previous, newly_locked)
