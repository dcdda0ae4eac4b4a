"""The fast YAML path gives exactly what yaml.safe_load gives."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import yaml

from llmops._yaml import DuplicateKeyError, fast_load, load_yaml
from llmops.errors import UserError

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


@pytest.mark.parametrize(
    ("text", "key", "first", "line"),
    [
        ("a: 1\nb: 2\na: 3\n", "a", 1, 3),
        ("x:\n  y: [1, {z: 1, z: 2}]\n", "z", 2, 2),
        ("x: &a {b: 1}\ny: *a\nx: 2\n", "x", 1, 3),  # PyYAML path (anchors)
        ("d: 2001-12-14\nd: 2001-12-15\n", "d", 1, 2),  # PyYAML path (timestamps)
        ("1: a\n0x1: b\n", 1, 1, 2),
    ],
)
def test_duplicate_keys_are_refused(text: str, key: object, first: int, line: int) -> None:
    with pytest.raises(DuplicateKeyError) as info:
        fast_load(text)
    assert info.value.key == key and info.value.first_line == first
    assert info.value.problem_mark is not None and info.value.problem_mark.line + 1 == line


def test_merge_keys_may_be_overridden() -> None:
    text = "base: &b {x: 1, y: 1}\nd:\n  <<: *b\n  x: 2\n"
    assert fast_load(text) == yaml.safe_load(text)


def test_duplicate_key_is_one_user_error(tmp_path: Path) -> None:
    path = tmp_path / "labels.yaml"
    path.write_text("production: v1\nstaging: v1\nproduction: v2\n", encoding="utf-8")
    with pytest.raises(UserError) as info:
        load_yaml(path)
    assert info.value.line == 3
    assert str(info.value).endswith("labels.yaml:3: duplicate key 'production' (first on line 1)")


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
