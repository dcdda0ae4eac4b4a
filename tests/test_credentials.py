"""Masking the credentials detectors cannot know: the project's key values, URL passwords."""

from __future__ import annotations

import pytest

from llmops._credentials import (
    key_variables,
    mask_credentials,
    remember_key,
    remember_keys,
    without_credentials,
)
from llmops.guard.redact import redact


def test_the_values_of_key_variables_are_masked_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMOPS_T_GATEWAY", "gwKey-0123456789abcdef")
    monkeypatch.setenv("LLMOPS_T_SHORT", "abc")
    remember_keys(["LLMOPS_T_GATEWAY", "LLMOPS_T_SHORT", ""])
    text = "401: Bearer gwKey-0123456789abcdef rejected; abc stays"
    assert mask_credentials(text) == "401: Bearer [$LLMOPS_T_GATEWAY] rejected; abc stays"
    assert redact(text) == mask_credentials(text)  # the one function every read path calls


def test_a_longer_key_containing_a_shorter_one_is_masked_whole() -> None:
    remember_key("LLMOPS_T_A", "shortkey1")
    remember_key("LLMOPS_T_B", "shortkey1-and-more")
    assert mask_credentials("x shortkey1-and-more y shortkey1") == (
        "x [$LLMOPS_T_B] y [$LLMOPS_T_A]"
    )


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("http://user:pa55@host:8000/v1", "http://***@host:8000/v1"),
        ("https://token@gateway.example/v1", "https://***@gateway.example/v1"),
        ("https://h.example/v1?api_key=abc123&x=1", "https://h.example/v1?api_key=***&x=1"),
        ("https://h.example/v1?sig=zz#f", "https://h.example/v1?sig=***#f"),
        ("https://h.example/@user/page", "https://h.example/@user/page"),
        ("mail me at john@example.com", "mail me at john@example.com"),
    ],
)
def test_url_credentials(url: str, shown: str) -> None:
    assert without_credentials(url) == shown
    assert mask_credentials(f"failed: {url}") == f"failed: {shown}"


def test_key_variables_are_found_anywhere_in_a_config() -> None:
    config = {"provider": {"api_key_env": "A"}, "judge": None,
              "suites": {"s": {"provider": {"api_key_env": "B"}, "judge": {"api_key_env": ""}}},
              "embedder": {"api_key_env": "C"}}
    assert sorted(key_variables(config)) == ["A", "B", "C"]


def test_variables_read_by_default_headers_are_key_variables() -> None:
    config = {"provider": {"api_key_env": "", "default_headers": {
        "api-key": "${GATEWAY_KEY}", "X-Team": "team ${TEAM_TOKEN} / ${TEAM_TOKEN}"}},
        "suites": {"s": {"judge": {"default_headers": {"X-Plain": "no variable"}}}}}
    assert sorted(set(key_variables(config))) == ["GATEWAY_KEY", "TEAM_TOKEN"]
