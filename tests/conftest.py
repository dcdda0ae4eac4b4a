"""Shared fixtures. Each area keeps its fixtures in a ``fixtures_*.py`` plugin listed here."""

from __future__ import annotations

pytest_plugins: list[str] = [
    "tests.fixtures_servers",
    "tests.fixtures_eval",
    "tests.fixtures_chroma",
    "tests.fixtures_prompts",
]
