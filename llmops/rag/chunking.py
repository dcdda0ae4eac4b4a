"""Cutting a document into chunks of at most ``size`` characters.

Markdown headings are hard boundaries: a chunk never spans two sections, so an edit in
one section leaves the chunks of every other section (and their embeddings) unchanged.
Inside a section the text is cut at paragraphs, then lines, sentences and words, and
only as a last resort inside a word; pieces are packed greedily up to ``size``, and each
chunk after the first of a section starts with the last ``overlap`` characters of the
previous one (moved forward to a word boundary). The result depends on the text and
the two numbers only.
"""

from __future__ import annotations

import itertools
import re

from llmops.errors import IndexConfigError

_HEADING = re.compile(r"^#{1,6}[ \t]+\S", re.MULTILINE)
_FENCE = re.compile(r"^(```|~~~)", re.MULTILINE)
_SEPARATORS = ("\n\n", "\n", ". ", " ")


def check_chunking(size: int, overlap: int) -> None:
    """Raise :class:`IndexConfigError` unless ``0 <= overlap < size``."""
    if size <= 0:
        raise IndexConfigError(f"chunk size must be positive, got {size}", field="chunking.size")
    if overlap < 0 or overlap >= size:
        raise IndexConfigError(
            f"chunk overlap ({overlap}) must be at least 0 and smaller than the size ({size})",
            field="chunking.overlap",
        )


def chunk_text(text: str, size: int, overlap: int) -> list[str]:
    """Split ``text`` into chunks of at most ``size`` characters.

    Args:
        text: the document.
        size: the largest chunk, in characters.
        overlap: characters of a chunk repeated at the start of the next one in the
            same section.

    Returns:
        The chunks, stripped, in document order; none for blank text.
    """
    check_chunking(size, overlap)
    chunks: list[str] = []
    for section in split_sections(text):
        chunks.extend(_pack(_pieces(section, size - overlap), size, overlap))
    return chunks


def split_sections(text: str) -> list[str]:
    """Cut markdown text before every heading line that is outside a code fence."""
    fences = [m.start() for m in _FENCE.finditer(text)]
    starts = [0]
    for m in _HEADING.finditer(text):
        inside = sum(1 for f in fences if f < m.start()) % 2 == 1
        if m.start() > 0 and not inside:
            starts.append(m.start())
    starts.append(len(text))
    return [text[a:b] for a, b in itertools.pairwise(starts) if text[a:b].strip()]


def _pieces(text: str, limit: int, level: int = 0) -> list[str]:
    """Cut ``text`` into pieces of at most ``limit`` characters; they concatenate to it."""
    if len(text) <= limit:
        return [text]
    if level == len(_SEPARATORS):
        return [text[i : i + limit] for i in range(0, len(text), limit)]
    sep = _SEPARATORS[level]
    parts = text.split(sep)
    # Keep each separator at the end of the piece before it, so nothing is lost.
    units = [p + sep for p in parts[:-1]] + [parts[-1]]
    out: list[str] = []
    for unit in units:
        if not unit:
            continue
        if len(unit) <= limit:
            out.append(unit)
        else:
            out.extend(_pieces(unit, limit, level + 1))
    return out


def _pack(pieces: list[str], size: int, overlap: int) -> list[str]:
    chunks: list[str] = []
    current = ""
    fresh = True  # current holds nothing but the overlap carried from the previous chunk
    for piece in pieces:
        if len(current) + len(piece) <= size:
            current += piece
            fresh = fresh and not piece.strip()
            continue
        if not fresh and current.strip():
            chunks.append(current.strip())
        current = _tail(current, overlap) + piece
        fresh = False
    if not fresh and current.strip():
        chunks.append(current.strip())
    return chunks


def _tail(text: str, overlap: int) -> str:
    if overlap == 0:
        return ""
    tail = text[-overlap:]
    cut = re.search(r"\s", tail)
    if cut is not None and cut.end() < len(tail):
        tail = tail[cut.end() :]
    return tail
