"""What a pull request changed: new prompt versions and moved labels against a base.

With a ``git:`` or ``run:`` baseline and no ``--prompt``, the candidates of a suite are
every version of its prompt whose digest is not on the base, and the version every moved
label points at on the head (a label is compared as ``name@label`` on the head against
the same label on the base), locked or not. A ``run:`` baseline's base is the commit the
run was made at.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from llmops.prompts.registry import natural_key

if TYPE_CHECKING:
    from llmops.project import Project
    from llmops.prompts import PromptVersion
    from llmops.prompts.registry import Registry


@dataclass(frozen=True)
class MovedLabel:
    """A label that points at another version on the head than on the base."""

    prompt: str
    label: str
    before: str | None  # None: the label is new
    after: str

    def __str__(self) -> str:
        return f"{self.prompt}@{self.label} ({self.before or 'none'} → {self.after})"


@dataclass
class BaseState:
    """The prompts as they are on the base: every version's digest and every label."""

    where: str  # how messages name the base, e.g. ``git:origin/main``
    digests: dict[str, set[str]] = field(default_factory=dict)
    labels: dict[str, dict[str, str]] = field(default_factory=dict)


def state_at_git_ref(project: Project, ref: str) -> BaseState:
    """The prompts directory at ``ref``, read from git's object store (nothing checked out)."""
    from llmops.eval.baselines import registry_at_git_ref

    state = BaseState(where=f"git:{ref}")
    with registry_at_git_ref(project, ref) as registry:
        for name in registry.names():
            state.digests[name] = {v.digest for v in registry.versions(name)}
            state.labels[name] = registry.labels(name)
    return state


def moved_labels(registry: Registry, base: BaseState) -> list[MovedLabel]:
    """Every label of every prompt whose version on the head differs from the base's."""
    moved = []
    for name in registry.names():
        before = base.labels.get(name, {})
        for label, version in sorted(registry.labels(name).items()):
            if before.get(label) != version:
                moved.append(MovedLabel(name, label, before.get(label), version))
    return moved


def changed_versions(registry: Registry, base: BaseState, prompt: str) -> list[PromptVersion]:
    """The prompt's versions the base does not have, and those its moved labels point at."""
    on_base = base.digests.get(prompt, set())
    refs = {v.version for v in registry.versions(prompt) if v.digest not in on_base}
    refs |= {m.after for m in moved_labels(registry, base) if m.prompt == prompt}
    return [registry.get(prompt, v) for v in sorted(refs, key=natural_key)]
