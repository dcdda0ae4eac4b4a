"""``llmops init``: a small project that works as soon as it is written."""

from __future__ import annotations

import json
from pathlib import Path

from llmops.errors import UserError

FILES: dict[str, str] = {
    "llmops.yaml": """\
# llmops project. `llmops --help` lists the commands, `llmops COMMAND --help` explains
# one. First steps: `llmops eval` compares the draft prompts/answer/v2.yaml with
# production (v1); `llmops prompts promote answer@v2 --label production` releases it.
provider:
  kind: local            # the bundled small model: no key, no network
embedder:
  model: all-MiniLM-L6-v2
store: .llmops/results.db
suites:
  answer:
    prompt: answer       # the `production` label of prompts/answer/
    evalset: evalsets/answer.jsonl
    scorers:
      - similarity: {threshold: 0.5}
    gate:
      max_regression: 0.05
""",
    "prompts/answer/v1.yaml": """\
description: Answer a customer question in one sentence
variables: [question]
params: {temperature: 0, max_tokens: 64}
messages:
  - role: system
    content: |
      You are a helpful support agent for a small online shop.
      Orders ship within 2 business days. Returns are accepted within 30 days.
      Answer in one short sentence.
  - role: user
    content: "{{ question }}"
""",
    "prompts/answer/v2.yaml": """\
description: Friendlier tone, still one sentence
variables: [question]
params: {temperature: 0, max_tokens: 64}
messages:
  - role: system
    content: |
      You are a warm, friendly support agent for a small online shop.
      Orders ship within 2 business days. Returns are accepted within 30 days.
      Answer in one short sentence and thank the customer.
  - role: user
    content: "{{ question }}"
""",
    "prompts/answer/labels.yaml": """\
production: v1
""",
    ".gitignore": """\
# llmops: the results store and caches, and the reports of each run
.llmops/
reports/
""",
}
CASES = [
    ("ship-1", "How fast do you ship?", "Orders ship within 2 business days."),
    ("ship-2", "When will my order leave the warehouse?", "Within 2 business days."),
    ("ship-3", "Do you ship on the same day?", "No, orders ship within 2 business days."),
    ("return-1", "Can I return an item after three weeks?",
     "Yes, returns are accepted within 30 days."),
    ("return-2", "Can I return something after two months?",
     "No, returns are only accepted within 30 days."),
    ("return-3", "How long do I have to return a product?",
     "You can return it within 30 days."),
    ("return-4", "Can I send back shoes I bought ten days ago?",
     "Yes, returns are accepted within 30 days."),
    ("ship-4", "I ordered on Monday; when does it ship?",
     "It ships within 2 business days, so by Wednesday."),
]
FILES["evalsets/answer.jsonl"] = "".join(
    json.dumps({"id": case_id, "vars": {"question": question}, "expected": expected}) + "\n"
    for case_id, question, expected in CASES
)
LOCK = "prompts/llmops.lock"


def scaffold(directory: Path) -> list[Path]:
    """Write the starter project into ``directory`` and lock its released version (v1).

    v2 is left a draft, so the first ``llmops eval`` compares it with production.

    Raises:
        UserError: a file it would write already exists (nothing is written), or
            ``directory`` is a file.
    """
    if directory.exists() and not directory.is_dir():
        raise UserError("not a directory", file=directory)
    targets = [directory / rel for rel in [*FILES, LOCK]]
    for path in targets:
        if path.exists():
            raise UserError(
                "already exists; llmops init never overwrites files",
                file=path,
                hint="run it in an empty directory",
            )
    for rel, text in FILES.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")

    from llmops.project import load_project
    from llmops.prompts import load_registry, lock

    lock(load_registry(load_project(directory)), ["answer@v1"])
    return targets
