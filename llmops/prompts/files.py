"""Reading version files, and finding lines only when an error needs one.

:func:`llmops._yaml.load_yaml` parses with libyaml's C loader and composes the
line-tracking node tree only when an error asks for a line, so loading a project of
thousands of versions stays fast.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from llmops._yaml import YamlDocument, load_yaml, pydantic_error
from llmops.errors import PromptError
from llmops.prompts.model import PromptFile, RagFile

_HINTS = {
    ("messages", "missing"): "add `messages:`, a list of {role, content}",
    ("kind", "literal_error"): "use `kind: rag` for a RAG config, or leave `kind` out",
}


def parse_yaml(path: Path) -> Any:
    """The data of a YAML file; a syntax error names the file and line."""
    return load_yaml(path, PromptError).data


def document(path: Path) -> YamlDocument:
    """The file with its node tree, for line lookups."""
    return load_yaml(path, PromptError)


def line_of(path: Path, loc: Sequence[str | int]) -> int | None:
    """1-based line of ``loc`` in the file, or None if it cannot be found."""
    try:
        return document(path).line_of(loc)
    except PromptError:
        return None


def load_version_file(path: Path) -> PromptFile | RagFile:
    """Parse and validate one ``prompts/<name>/<version>.yaml``."""
    doc = document(path)
    data = doc.data
    if not isinstance(data, dict):
        raise PromptError(
            "expected a mapping with `messages:` (or `kind: rag`)",
            file=path,
            line=1,
            hint="see docs/prompts.md for the format",
        )
    model: type[PromptFile | RagFile] = RagFile if data.get("kind") == "rag" else PromptFile
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        error = pydantic_error(doc, exc, PromptError)
        first = exc.errors()[0]
        key = (".".join(map(str, first["loc"])), first["type"])
        error.hint = error.hint or _HINTS.get(key)
        raise error from None
