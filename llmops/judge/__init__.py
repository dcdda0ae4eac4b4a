"""Judge prompts shipped with llmops, versioned like a project's prompts."""

from __future__ import annotations

from pathlib import Path

JUDGE_DIR = Path(__file__).parent
