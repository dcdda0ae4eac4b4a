"""The registry: every version under ``prompts/``, its labels, and its lock status."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import PromptError
from llmops.prompts.digest import content_payload, sha256, version_digest
from llmops.prompts.files import line_of, load_version_file
from llmops.prompts.labels import LABEL_FILES, load_labels
from llmops.prompts.lockfile import LOCK_NAME, LockFile, read_lock
from llmops.prompts.model import NAME_RE, PromptFile, PromptVersion, RagFile, split_ref

if TYPE_CHECKING:
    from llmops.project import Project

DEFAULT_LABEL = "production"
_SUFFIXES = (".yaml", ".yml")


def natural_key(text: str) -> list[Any]:
    """Sort v2 before v10."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", text)]


def parse_ref(ref: str) -> tuple[str, str | None]:
    """``NAME`` / ``NAME@VERSION`` / ``NAME@LABEL`` → (name, version-or-label or None)."""
    parts = split_ref(ref)
    if parts is None:
        raise PromptError(
            f"{ref!r} is not a prompt reference", hint="use NAME, NAME@VERSION or NAME@LABEL"
        )
    return parts


class Registry:
    """All prompt versions of a project, with their labels and lock status."""

    def __init__(
        self,
        root: Path,
        prompts_dir: Path,
        versions: dict[str, dict[str, PromptVersion]],
        labels: dict[str, dict[str, str]],
        lock: LockFile,
        contents: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        self.root = root
        self.prompts_dir = prompts_dir
        self._versions = versions
        self._labels = labels
        self._contents = contents or {}
        self.lock = lock

    def names(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, name: str) -> list[PromptVersion]:
        """Versions of a prompt, oldest first (natural order of version ids)."""
        self._require(name)
        return [self._versions[name][v] for v in sorted(self._versions[name], key=natural_key)]

    def labels(self, name: str) -> dict[str, str]:
        self._require(name)
        return dict(self._labels.get(name, {}))

    def labels_of(self, version: PromptVersion) -> list[str]:
        """The labels that point at this version."""
        return sorted(
            k for k, v in self._labels.get(version.name, {}).items() if v == version.version
        )

    def all(self) -> list[PromptVersion]:
        return [v for name in self.names() for v in self.versions(name)]

    def get(self, name: str, version: str) -> PromptVersion:
        self._require(name)
        try:
            return self._versions[name][version]
        except KeyError:
            raise PromptError(
                f"{name} has no version {version!r}", hint=self._known(name)
            ) from None

    def resolve(self, ref: str) -> PromptVersion:
        """The version a reference names; ``NAME`` alone means ``NAME@production``."""
        name, tail = parse_ref(ref)
        self._require(name)
        if tail is None:
            tail = DEFAULT_LABEL
            if tail not in self._labels.get(name, {}):
                raise PromptError(
                    f"{name} has no {DEFAULT_LABEL!r} label, so {ref!r} names no version",
                    hint=f"use {name}@VERSION or promote one; {self._known(name)}",
                )
        if tail in self._versions[name]:
            return self._versions[name][tail]
        version = self._labels.get(name, {}).get(tail)
        if version is None:
            raise PromptError(f"{name} has no version or label {tail!r}", hint=self._known(name))
        return self._versions[name][version]

    def content(self, version: PromptVersion) -> dict[str, Any]:
        """The behaviour-defining fields of the version's file (what the lock snapshots)."""
        return self._contents[version.ref]

    def changed_or_unlocked(self) -> list[PromptVersion]:
        """Versions that are not locked, or whose file changed since it was locked."""
        return [v for v in self.all() if not v.locked or v.edited]

    def missing_locked(self) -> list[str]:
        """Locked ``name@version`` refs whose file no longer exists."""
        return sorted(
            ref
            for ref in self.lock.entries
            if ref.partition("@")[2] not in self._versions.get(ref.partition("@")[0], {})
        )

    def _require(self, name: str) -> None:
        if name not in self._versions:
            known = ", ".join(self.names()) or "none"
            raise PromptError(
                f"unknown prompt {name!r}",
                hint=f"known prompts: {known}; "
                f"versions live in {self._rel(self.prompts_dir)}/<name>/",
            )

    def _known(self, name: str) -> str:
        versions = ", ".join(v.version for v in self.versions(name))
        labels = ", ".join(f"{k}={v}" for k, v in sorted(self._labels.get(name, {}).items()))
        return f"versions: {versions}; labels: {labels or 'none'}"

    def _rel(self, path: Path) -> str:
        try:
            return str(path.relative_to(self.root))
        except ValueError:
            return str(path)


def load_registry(project: Project | str | Path | None = None) -> Registry:
    """Load every version under the project's prompts directory.

    Args:
        project: a loaded :class:`~llmops.project.Project`, or a path given to
            :func:`~llmops.project.load_project` (None: the cwd or a parent).

    Raises:
        PromptError: a file, label, reference or the lock file is wrong.
    """
    from llmops.project import Project, load_project

    if not isinstance(project, Project):
        project = load_project(project)
    prompts_dir = project.prompts_dir
    lock = read_lock(prompts_dir / LOCK_NAME)
    specs: dict[str, dict[str, tuple[Path, PromptFile | RagFile]]] = {}
    labels: dict[str, dict[str, str]] = {}
    for prompt_dir in _prompt_dirs(prompts_dir):
        name = prompt_dir.name
        files = _version_files(prompt_dir)
        if not files:
            continue
        specs[name] = {version: (path, load_version_file(path)) for version, path in files.items()}
        for label_name in LABEL_FILES:
            if (prompt_dir / label_name).is_file():
                labels[name] = load_labels(prompt_dir / label_name, name, set(files))
                break
    return _build(project.root, prompts_dir, specs, labels, lock)


def _prompt_dirs(prompts_dir: Path) -> list[Path]:
    if not prompts_dir.is_dir():
        return []
    dirs = []
    for entry in sorted(prompts_dir.iterdir()):
        if entry.name.startswith((".", "_")):
            continue
        if entry.is_dir():
            if not NAME_RE.match(entry.name):
                raise PromptError(
                    f"{entry.name!r} is not a valid prompt name",
                    file=entry,
                    hint="use letters, digits, '.', '_', '-'",
                )
            dirs.append(entry)
        elif entry.suffix in _SUFFIXES:
            raise PromptError(
                "version files belong in prompts/<name>/<version>.yaml",
                file=entry,
                hint=f"move it to {prompts_dir.name}/{entry.stem}/v1.yaml",
            )
    return dirs


def _version_files(prompt_dir: Path) -> dict[str, Path]:
    files: dict[str, Path] = {}
    folded: dict[str, Path] = {}
    for path in sorted(prompt_dir.iterdir()):
        if path.suffix not in _SUFFIXES or path.name in LABEL_FILES or path.name.startswith("."):
            continue
        version = path.stem
        if not NAME_RE.match(version):
            raise PromptError(
                f"{version!r} is not a valid version id",
                file=path,
                hint="name version files like v1.yaml",
            )
        other = folded.get(version.lower())
        if other is not None:
            raise PromptError(
                f"duplicate version {version!r}: {other.name} and {path.name} in {prompt_dir}",
                file=path,
                hint="keep one file per version",
            )
        folded[version.lower()] = path
        files[version] = path
    return files


def _build(
    root: Path,
    prompts_dir: Path,
    specs: dict[str, dict[str, tuple[Path, PromptFile | RagFile]]],
    labels: dict[str, dict[str, str]],
    lock: LockFile,
) -> Registry:
    versions: dict[str, dict[str, PromptVersion]] = {}
    contents: dict[str, dict[str, Any]] = {}
    for name, by_version in specs.items():
        versions[name] = {}
        for version, (path, spec) in by_version.items():
            content = content_payload(name, spec)
            contents[f"{name}@{version}"] = content
            versions[name][version] = _record(name, version, path, spec, content, lock)
    registry = Registry(root, prompts_dir, versions, labels, lock, contents)
    # RAG configs have no references, so prompts can be resolved against them in one pass.
    for records in versions.values():
        for version, record in records.items():
            if record.rag is not None:
                records[version] = _with_rag(registry, record, contents[record.ref])
    return registry


def _record(
    name: str,
    version: str,
    path: Path,
    spec: PromptFile | RagFile,
    content: dict[str, Any],
    lock: LockFile,
) -> PromptVersion:
    content_digest = sha256(content)
    entry = lock.entries.get(f"{name}@{version}")
    common: dict[str, Any] = {
        "name": name,
        "version": version,
        "path": path,
        "description": spec.description,
        "content_digest": content_digest,
        "locked": entry is not None,
        "edited": entry is not None and entry.content_digest != content_digest,
    }
    if isinstance(spec, RagFile):
        return PromptVersion(
            digest=content_digest, kind="rag", rag_config=spec.config(name), **common
        )
    return PromptVersion(
        digest=content_digest,
        kind="prompt",
        variables=list(spec.variables),
        params=dict(spec.params),
        messages=[{"role": m.role, "content": m.content} for m in spec.messages],
        rag=spec.rag,
        **common,
    )


def _with_rag(registry: Registry, record: PromptVersion, content: dict[str, Any]) -> PromptVersion:
    assert record.rag is not None
    try:
        target = registry.resolve(record.rag)
    except PromptError as exc:
        raise PromptError(
            f"rag: {exc.message}",
            file=record.path,
            line=line_of(record.path, ["rag"]),
            hint=exc.hint,
        ) from None
    if target.kind != "rag":
        raise PromptError(
            f"rag: {record.rag!r} resolves to {target.ref}, which is a prompt, not a RAG config",
            file=record.path,
            line=line_of(record.path, ["rag"]),
            hint="point `rag:` at a version with `kind: rag`",
        )
    return replace(record, rag_digest=target.digest, digest=version_digest(content, target.digest))
