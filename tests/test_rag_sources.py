"""Source listing: the same files as Python's recursive glob, read and hash results."""

from __future__ import annotations

import glob
import os
from pathlib import Path

import pytest

from llmops.errors import IndexConfigError
from llmops.rag.sources import list_sources, read_source

FILES = [
    "a.md", "b.txt", ".hidden.md", "docs/x.md", "docs/y.txt", "docs/sub/z.md",
    "docs/sub/deep/w.md", ".git/c.md", "docs/.priv/q.md", "docs/[x].md", "c1.md", "c2.md",
    "docs/sub/.dot.md",
]  # fmt: skip
PATTERNS = [
    "*.md", "**/*.md", "docs/**/*.md", "docs/*.md", "docs/**", "**", "docs/*/*.md", "c?.md",
    "c[12].md", "c[!1].md", "docs/sub/z.md", ".*.md", "docs/**/.*.md", "**/sub/*.md",
    "./docs/*.md", "docs/sub/**/*.md",
]  # fmt: skip


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    for name in FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text("x")
    (tmp_path / "docs" / "folder.md").mkdir()  # a folder is never a source
    return tmp_path


@pytest.mark.parametrize("pattern", PATTERNS)
def test_same_files_as_recursive_glob(tree: Path, pattern: str) -> None:
    expected = sorted(
        {
            os.path.normpath(r).replace(os.sep, "/")
            for r in glob.glob(pattern, root_dir=tree, recursive=True)
            if (tree / r).is_file()
        }
    )
    assert [f.path for f in list_sources(tree, [pattern])] == expected


def test_a_glob_matching_nothing_names_the_pattern_and_config(tree: Path) -> None:
    with pytest.raises(IndexConfigError) as info:
        list_sources(tree, ["docs/*.md", "nothing/**/*.rst"], origin="prompts/h/v1.yaml")
    assert "'nothing/**/*.rst' matches no file" in str(info.value)
    assert str(info.value).startswith("prompts/h/v1.yaml: ")


def test_stat_and_read(tree: Path) -> None:
    (tree / "docs" / "x.md").write_text("héllo", encoding="utf-8")
    (f,) = list_sources(tree, ["docs/x.md"])
    assert f.size == len("héllo".encode())
    read = read_source(tree, "docs/x.md")
    assert read.text == "héllo" and len(read.sha256) == 64
    (tree / "bad.md").write_bytes(b"ok \xff\xfe")
    bad = read_source(tree, "bad.md")
    assert bad.text is None and bad.problem == "not valid UTF-8 (byte 3)" and bad.sha256
