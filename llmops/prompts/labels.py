"""``prompts/<name>/labels.yaml``: label → version, edited in place by promotion."""

from __future__ import annotations

import re
from pathlib import Path

import yaml

from llmops._yaml import load_plain_strings, load_yaml
from llmops.errors import PromptError
from llmops.prompts.files import line_of
from llmops.prompts.model import NAME_RE

LABELS_FILE = "labels.yaml"
LABEL_FILES = ("labels.yaml", "labels.yml")


def load_labels(path: Path, name: str, versions: set[str]) -> dict[str, str]:
    """Read a labels file and check every label points at an existing version.

    Keys and values are read as written: ``on``, ``true`` and ``007`` are names, not
    YAML 1.1 booleans or numbers.
    """
    data = load_yaml(path, PromptError, strings=True).data
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise PromptError(
            "expected a mapping of label to version",
            file=path,
            line=1,
            hint="e.g. `production: v1`",
        )
    labels: dict[str, str] = {}
    for label, version in data.items():
        label_s = str(label)
        problem, hint = _label_problem(label_s, version, name, versions)
        if problem:
            raise PromptError(problem, file=path, line=line_of(path, [label_s]), hint=hint)
        labels[label_s] = str(version)
    return labels


def _label_problem(
    label: str, version: object, name: str, versions: set[str]
) -> tuple[str | None, str | None]:
    if not NAME_RE.match(label):
        return f"{label!r} is not a valid label name", "use letters, digits, '.', '_', '-'"
    if not isinstance(version, str):
        return f"label {label!r} must name a version, got {version!r}", None
    if str(version) not in versions:
        known = ", ".join(sorted(versions)) or "none"
        return (
            f"label {label!r} points to {name}@{version}, which does not exist",
            f"versions: {known}",
        )
    if label in versions:
        return f"label {label!r} has the same name as a version of {name}", "rename the label"
    return None, None


def labels_text(current: str, label: str, version: str) -> str:
    """Set ``label: version`` in the text of a labels file, keeping everything else.

    Other labels, their order and comments stay as they were; a label that is not yet
    there is appended.
    """
    pattern = re.compile(
        rf"^(['\"]?){re.escape(label)}\1[ \t]*:[ \t]*[^#\n]*?([ \t]+#[^\n]*)?$", re.MULTILINE
    )
    replacement = f"{_plain(label)}: {_plain(version)}"
    match = pattern.search(current)
    if match:
        comment = match.group(2) or ""
        text = current[: match.start()] + replacement + comment + current[match.end() :]
    else:
        text = current + ("\n" if current and not current.endswith("\n") else "") + replacement
    if not text.endswith("\n"):
        text += "\n"
    try:
        loaded = load_plain_strings(current) if current.strip() else None
    except yaml.YAMLError:
        loaded = None
    expected = {str(k): str(v) for k, v in loaded.items()} if isinstance(loaded, dict) else {}
    expected[label] = version
    try:
        parsed = load_plain_strings(text) or {}
    except yaml.YAMLError:
        parsed = None
    if not isinstance(parsed, dict) or {str(k): str(v) for k, v in parsed.items()} != expected:
        # An unusual layout (flow mapping, anchors): rewrite the file plainly instead.
        text = yaml.safe_dump(expected, sort_keys=False)
    return text


def _plain(name: str) -> str:
    """``name`` as a YAML scalar every reader takes for a string (``'true'``, ``'007'``)."""
    resolved = yaml.resolver.Resolver().resolve(  # type: ignore[no-untyped-call]
        yaml.ScalarNode, name, (True, False)
    )
    return name if resolved == "tag:yaml.org,2002:str" else f"'{name}'"
