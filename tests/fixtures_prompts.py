"""Fixtures for prompt tests: a small project on disk and a CLI runner bound to it."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from llmops.cli import app

GREETING_V1 = """\
description: Greets the user
variables: [name]
params: {temperature: 0, max_tokens: 32}
messages:
  - role: system
    content: You are friendly.
  - role: user
    content: "Say hello to {{ name }}."
"""

GREETING_V2 = """\
description: Greets the user by name and town
variables: [name, town]
params: {temperature: 0, max_tokens: 48}
messages:
  - role: system
    content: |
      You are friendly.
      Keep it short.
  - role: user
    content: |
      Say hello to {{ name }} from {{ town }}.
"""

KB_V1 = """\
kind: rag
sources: docs/**/*.md
chunking: {size: 400, overlap: 50}
top_k: 2
"""

ASK_V1 = """\
variables: [question]
rag: kb@production
messages:
  - role: user
    content: |
      {% for c in context %}[{{ loop.index }}] {{ c.text }}
      {% endfor %}Q: {{ question }}
"""


@dataclass
class PromptProject:
    """A temporary project with prompts `greeting` (v1, v2), `kb` (rag) and `ask`."""

    root: Path

    def write(self, rel: str, text: str) -> Path:
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def read(self, rel: str) -> str:
        return (self.root / rel).read_text(encoding="utf-8")

    def cli(self, *args: str) -> Result:
        return CliRunner().invoke(app, ["--project", str(self.root), *args])

    def snapshot(self) -> dict[str, bytes]:
        """Every file under the project, to assert that nothing was written."""
        return {
            str(p.relative_to(self.root)): p.read_bytes()
            for p in sorted(self.root.rglob("*"))
            if p.is_file()
        }


def make_project(root: Path) -> PromptProject:
    project = PromptProject(root)
    project.write("llmops.yaml", "provider: {kind: local}\n")
    project.write("prompts/greeting/v1.yaml", GREETING_V1)
    project.write("prompts/greeting/v2.yaml", GREETING_V2)
    project.write(
        "prompts/greeting/labels.yaml", "# where each version runs\nproduction: v1\nstaging: v2\n"
    )
    project.write("prompts/kb/v1.yaml", KB_V1)
    project.write("prompts/kb/labels.yaml", "production: v1\n")
    project.write("prompts/ask/v1.yaml", ASK_V1)
    project.write("prompts/ask/labels.yaml", "production: v1\n")
    return project


@pytest.fixture
def prompt_project(tmp_path: Path) -> Iterator[PromptProject]:
    yield make_project(tmp_path / "proj")
