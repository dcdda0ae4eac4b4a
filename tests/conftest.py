"""Shared fixtures. Each area keeps its fixtures in a ``fixtures_*.py`` plugin listed here."""

from __future__ import annotations

import os
from typing import Any

import pytest

pytest_plugins: list[str] = [
    "tests.fixtures_servers",
    "tests.fixtures_eval",
    "tests.fixtures_chroma",
    "tests.fixtures_prompts",
    "tests.fixtures_cloud",
    "tests.fixtures_postgres",
    "tests.fixtures_view",
]


def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """In CI a skipped test is a missing install step: report it as a failure."""
    if os.environ.get("CI") and call.excinfo is not None and call.excinfo.errisinstance(
        pytest.skip.Exception
    ):
        call.excinfo = None
        raise_in_ci = RuntimeError(f"skipped in CI: {item.nodeid}")
        return pytest.TestReport.from_item_and_call(
            item, pytest.CallInfo.from_call(lambda: _raise(raise_in_ci), call.when)
        )
    return None


def _raise(exc: Exception) -> None:
    raise exc
