"""What a candidate is compared with: resolving ``--baseline`` and reusing stored results.

``--baseline`` accepts:

- a label or version of the suite's prompt (``production``, ``v2``), or ``NAME@REF``;
- ``git:REF`` — the prompt as it was at a git ref (its ``production`` label then), or
  ``git:REF:LABEL_OR_VERSION``; files are read with ``git cat-file``, nothing is checked out;
- ``run:RUN_ID`` — the results of an earlier run (``run:RUN_ID:VERSION`` when that run
  evaluated several versions of the prompt).

A baseline version that was already evaluated on the same eval set with the same model
and parameters costs no model calls: the store finds the stored variant
(:meth:`llmops.store.ResultsStore.find_reusable`) and copies its results.
"""

from __future__ import annotations

import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from llmops.errors import PromptError, UserError

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.prompts import PromptVersion
    from llmops.prompts.registry import Registry
    from llmops.store import ResultsStore

DEFAULT_LABEL = "production"


@dataclass(frozen=True)
class Baseline:
    """A resolved baseline: a prompt version to evaluate, or a stored run's variant."""

    spec: str
    kind: Literal["version", "git", "run"]
    name: str
    version: str
    digest: str
    prompt_version: PromptVersion | None = None  # None for a run whose version file is gone
    git_ref: str | None = None
    run_id: str | None = None
    variant_id: int | None = None

    @property
    def ref(self) -> str:
        """``name@version``, as results and reports name it."""
        return f"{self.name}@{self.version}"

    @property
    def label(self) -> str:
        """How reports name it, saying where it came from when not the working tree."""
        if self.kind == "git":
            return f"{self.ref} (git:{self.git_ref})"
        if self.kind == "run":
            return f"{self.ref} (run:{self.run_id})"
        return self.ref


def resolve_baseline(
    project: Project,
    spec: str | None,
    prompt: str,
    *,
    store: ResultsStore | None = None,
    registry: Registry | None = None,
) -> Baseline:
    """Resolve a ``--baseline`` value for the suite whose prompt is ``prompt``.

    Args:
        project: the loaded project.
        spec: as given on the command line; None means the ``production`` label.
        prompt: the name of the prompt being compared.
        store: the results store, needed for ``run:`` baselines.
        registry: the working tree's registry, when already loaded.

    Raises:
        UserError: an unknown label, version, git ref or run (exit 2).
    """
    text = (spec or DEFAULT_LABEL).strip()
    if text.startswith("git:"):
        ref, _, which = text[4:].partition(":")
        if not ref:
            raise UserError("--baseline git: needs a ref, e.g. git:origin/main")
        version = version_at_git_ref(project, ref, f"{prompt}@{which or DEFAULT_LABEL}")
        return _from_version(text, "git", version, git_ref=ref)
    if text.startswith("run:"):
        if store is None:
            raise UserError(f"--baseline {text}: no results store to read the run from")
        run_id, _, which = text[4:].partition(":")
        return _from_run(project, text, store, run_id, prompt, which or None, registry)
    if registry is None:
        from llmops.prompts import load_registry

        registry = load_registry(project)
    # A bare word is a label or version of the suite's prompt, else another prompt's name.
    is_prompt = text in registry.names() and text not in _known_refs(registry, prompt)
    reference = text if "@" in text or is_prompt else f"{prompt}@{text}"
    return _from_version(text, "version", registry.resolve(reference))


def _known_refs(registry: Any, prompt: str) -> set[str]:
    try:
        versions = {v.version for v in registry.versions(prompt)}
        return versions | set(registry.labels(prompt))
    except PromptError:
        return set()


def _from_version(
    spec: str, kind: Literal["version", "git"], version: PromptVersion, git_ref: str | None = None
) -> Baseline:
    return Baseline(
        spec=spec,
        kind=kind,
        name=version.name,
        version=version.version,
        digest=version.digest,
        prompt_version=version,
        git_ref=git_ref,
    )


# --- git:REF -------------------------------------------------------------------------


def version_at_git_ref(project: Project, ref: str, reference: str) -> PromptVersion:
    """The prompt version ``reference`` resolves to in the prompts directory at ``ref``.

    The prompts directory as it was at ``ref`` is read from git's object store (no
    checkout, the working tree is untouched) into a temporary directory and loaded by the
    same code as the working tree, so labels, ``rag:`` references and digests mean
    exactly what they meant at that commit.
    """
    with registry_at_git_ref(project, ref) as registry:
        tmp = registry.prompts_dir
        try:
            version = registry.resolve(reference)
        except PromptError as exc:
            # Name the file as git does (REF:path), not the temporary copy.
            if exc.file is not None and exc.file.startswith(str(tmp)):
                exc.file = f"{ref}:{_prefix(project)}{exc.file[len(str(tmp)):]}"
            exc.message = f"at git ref {ref!r}: {exc.message}"
            raise
    rel = version.path.relative_to(tmp) if version.path.is_absolute() else None
    path = project.prompts_dir / rel if rel is not None else version.path
    return replace(version, path=path)


def _prefix(project: Project) -> str:
    top = Path(_git(project.root, "rev-parse", "--show-toplevel").strip())
    try:
        return project.prompts_dir.resolve().relative_to(top.resolve()).as_posix()
    except ValueError:
        raise UserError(f"the prompts directory is not inside the git repository {top}") from None


@contextmanager
def registry_at_git_ref(project: Project, ref: str) -> Iterator[Registry]:
    """The registry of the prompts directory at ``ref``, valid inside the ``with`` block."""
    from llmops.project import Project as ProjectClass
    from llmops.prompts import load_registry

    top = Path(_git(project.root, "rev-parse", "--show-toplevel").strip())
    commit = _git(project.root, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}",
                  what=f"git ref {ref!r}").strip()
    prefix = _prefix(project)
    with tempfile.TemporaryDirectory(prefix="llmops-git-") as tmp:
        n_files = _export_tree(top, commit, prefix, Path(tmp) / "prompts")
        if n_files == 0:
            raise PromptError(f"no prompts directory {prefix!r} at git ref {ref!r}")
        config = project.config.model_copy(update={"prompts_dir": str(Path(tmp) / "prompts")})
        yield load_registry(ProjectClass(project.root, config, project.config_path))


def _export_tree(top: Path, commit: str, prefix: str, dest: Path) -> int:
    """Write every file under ``prefix`` at ``commit`` into ``dest``; return the count."""
    listing = _git(top, "ls-tree", "-r", "-z", "--name-only", commit, "--", prefix)
    paths = [p for p in listing.split("\0") if p]
    if not paths:
        return 0
    batch = "".join(f"{commit}:{p}\n" for p in paths).encode()
    out = subprocess.run(
        ["git", "-C", str(top), "cat-file", "--batch"], input=batch, capture_output=True,
        check=True,
    ).stdout
    pos = 0
    for path in paths:
        header_end = out.index(b"\n", pos)
        header = out[pos:header_end].split()
        pos = header_end + 1
        if len(header) != 3:  # "<name> missing": a submodule entry, not a file
            continue
        size = int(header[2])
        body = out[pos : pos + size]
        pos += size + 1  # the object, then a newline
        target = dest / Path(path).relative_to(prefix)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(body)
    return len(paths)


def _git(cwd: Path, *args: str, what: str | None = None) -> str:
    try:
        proc = subprocess.run(["git", "-C", str(cwd), *args], capture_output=True, text=True)
    except FileNotFoundError:
        raise UserError("git is not installed; git: baselines need it") from None
    if proc.returncode != 0:
        if what is not None:
            raise UserError(f"unknown {what}", hint="check `git log` for the ref")
        detail = proc.stderr.strip().splitlines()[-1] if proc.stderr.strip() else "failed"
        raise UserError(f"git {args[0]}: {detail}", hint=f"is {cwd} in a git repository?")
    return proc.stdout


# --- run:RUN_ID ----------------------------------------------------------------------


def _from_run(
    project: Project,
    spec: str,
    store: ResultsStore,
    run_id: str,
    prompt: str,
    which: str | None,
    registry: Registry | None = None,
) -> Baseline:
    store.run(run_id)  # UserError naming `runs list` when unknown
    variants = [v for v in store.variants(run_id) if v.prompt == prompt]
    if which is not None:
        variants = [v for v in variants if v.version == which]
    if not variants:
        raise UserError(
            f"run {run_id!r} has no results for {prompt}{'@' + which if which else ''}",
            hint="see `llmops runs show " + run_id + "`",
        )
    if len(variants) > 1:
        choices = ", ".join(f"run:{run_id}:{v.version}" for v in variants)
        raise UserError(f"run {run_id!r} evaluated several versions of {prompt}",
                        hint=f"pick one: {choices}")
    v = variants[0]
    prompt_version = _current_version(project, prompt, v.version, v.digest, registry)
    return Baseline(
        spec=spec, kind="run", name=prompt, version=v.version, digest=v.digest,
        prompt_version=prompt_version, run_id=run_id, variant_id=v.variant_id,
    )


def _current_version(
    project: Project, prompt: str, version: str, digest: str, registry: Registry | None = None
) -> Any:
    """The working tree's version file, only if it still has the digest the run used."""
    from llmops.prompts import load_registry

    try:
        found = (registry or load_registry(project)).resolve(f"{prompt}@{version}")
    except PromptError:  # the version file is gone: the stored results still stand
        return None
    return found if found.digest == digest else None


# --- reuse ---------------------------------------------------------------------------


@dataclass
class VariantScores:
    """A stored variant's per-case values, ready for :func:`llmops.eval.stats.compare_many`."""

    values: dict[str, dict[str, list[float | None]]] = field(default_factory=dict)
    passed: dict[str, dict[str, list[bool | None]]] = field(default_factory=dict)
    outputs: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


def variant_scores(store: ResultsStore, variant_id: int) -> VariantScores:
    """Scorer → case id → values across repeats (None where the call or scorer failed)."""
    keys = list(store.scorer_signatures(variant_id=variant_id))
    figures = store.variant_figures(variant_id, keys)
    outputs, errors = store.case_outputs(variant_id)
    return VariantScores(values=figures.values, passed=figures.passed, outputs=outputs,
                         errors=errors)
