"""The fast YAML path gives exactly what yaml.safe_load gives."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from llmops._yaml import fast_load

ROOT = Path(__file__).resolve().parent.parent

DOCUMENTS = [
    "",
    "---\n",
    "a: 1",
    "ints: [0x1f, 1_000, 0o17, 017, 1:30, -5, +7]\n"
    "floats: [1.5, 1e3, 1.5e3, .inf, -.inf, 6.8523015e+5]",
    "bools: [yes, no, on, off, true, False, Y]\nnulls: [~, null, ]\nempty:\n",
    "quoted: ['1', \"true\", '~', '']\nplain: 2001-12-14\nts: 2001-12-14t21:59:43.10-05:00",
    "x: &a {b: 1}\ny: *a",
    "base: &b {x: 1}\nd:\n  <<: *b\n  y: 2",
    "a: !!str 12\nb: !!int '3'",
    "- a\n- [1, [2, {c: d}]]\n- {e: [f]}\n",
    "literal: |\n  hi\n  there\nfolded: >\n  folded\n  text\nstrip: |-\n  x\nkeep: |+\n  y\n\n",
    "a: 1\na: 2",
    "%YAML 1.1\n---\na: 1",
    "True: 1\n3: x\n1.5: y\nnull: z",
    "? [a, b]\n: 1",
    "---\na\n---\nb",
    "a: !custom 1",
    "a: [unclosed",
    "a:\n  - b\n - c",
    "unicode: café ✓\n'key with: colon': v",
]


def outcome(loader, text):  # type: ignore[no-untyped-def]
    try:
        return "ok", loader(text)
    except yaml.YAMLError as exc:
        return "error", type(exc).__name__


@pytest.mark.parametrize("text", DOCUMENTS)
def test_same_as_safe_load(text: str) -> None:
    assert outcome(fast_load, text) == outcome(yaml.safe_load, text)


def test_nan() -> None:
    assert math.isnan(fast_load("a: .nan")["a"])


def test_every_yaml_file_in_the_repo() -> None:
    files = [ROOT / "llmops.yaml"] + [
        p
        for folder in ("prompts", "examples", "tests", "llmops")
        for p in (ROOT / folder).rglob("*.y*ml")
        if p.suffix in (".yaml", ".yml")
    ]
    assert len(files) >= 5
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert outcome(fast_load, text) == outcome(yaml.safe_load, text), path
