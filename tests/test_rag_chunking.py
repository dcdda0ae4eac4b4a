"""Chunking: sizes, overlap, headings as boundaries, determinism, bad settings."""

from __future__ import annotations

import itertools
import re

import pytest

from llmops.errors import IndexConfigError
from llmops.rag.chunking import chunk_text, split_sections
from tests.fixtures_chroma import make_doc


@pytest.mark.parametrize(("size", "overlap"), [(100, 100), (100, 150), (0, 0), (-5, 0), (10, -1)])
def test_size_not_above_overlap_is_an_error(size: int, overlap: int) -> None:
    with pytest.raises(IndexConfigError, match="chunk"):
        chunk_text("some text", size, overlap)


@pytest.mark.parametrize(("size", "overlap"), [(50, 0), (80, 20), (300, 50), (800, 100)])
def test_every_chunk_fits_and_every_word_is_kept(size: int, overlap: int) -> None:
    text = "\n".join(make_doc(i, sections=3, paragraphs=3, words=60) for i in range(3))
    chunks = chunk_text(text, size, overlap)
    assert chunks and all(0 < len(c) <= size for c in chunks)
    assert chunks == chunk_text(text, size, overlap)  # deterministic
    joined = " ".join(chunks)
    for word in set(re.findall(r"\w+", text)):
        assert word in joined


def test_headings_are_hard_boundaries() -> None:
    text = "# Title\n\nShort intro.\n\n## Refunds\n\nWithin 30 days.\n\n## Shipping\n\nTwo days.\n"
    chunks = chunk_text(text, 1000, 0)
    assert chunks == [
        "# Title\n\nShort intro.",
        "## Refunds\n\nWithin 30 days.",
        "## Shipping\n\nTwo days.",
    ]


def test_heading_inside_a_code_fence_is_not_a_boundary() -> None:
    text = "## Script\n\n```bash\n# not a heading\necho hi\n```\n\n## Next\n\nMore.\n"
    assert len(split_sections(text)) == 2


def test_paragraphs_are_split_before_characters() -> None:
    para = "word " * 30  # 150 characters
    text = f"{para.strip()}\n\n{para.strip()}\n\n{para.strip()}"
    chunks = chunk_text(text, 200, 0)
    assert len(chunks) == 3 and all(c == para.strip() for c in chunks)


def test_overlap_repeats_the_end_of_the_previous_chunk() -> None:
    text = " ".join(f"w{i:03d}" for i in range(200))  # one long paragraph
    chunks = chunk_text(text, 100, 30)
    assert len(chunks) > 5
    for prev, nxt in itertools.pairwise(chunks):
        head = nxt.split()[0]
        assert head in prev.split()[-8:]  # starts inside the last 30 characters


def test_long_word_is_cut_by_characters() -> None:
    chunks = chunk_text("x" * 250, 100, 10)
    assert all(len(c) <= 100 for c in chunks)
    assert "".join(c for c in chunks).count("x") >= 250


def test_blank_text_has_no_chunks() -> None:
    assert chunk_text("", 100, 10) == []
    assert chunk_text("\n \n\t\n", 100, 10) == []
