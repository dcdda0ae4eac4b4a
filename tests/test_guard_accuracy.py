"""Recall and precision of the guard detectors on the labelled set (tests/guard_data)."""

from __future__ import annotations

import pytest

from llmops.guard import detect
from tests.guard_data.labelled import CHECKS, build, load_labelled, score

STRUCTURED = [
    "pii.credit_card", "pii.email", "pii.iban", "pii.ipv4", "pii.ipv6", "pii.phone", "pii.ssn",
    "secret.anthropic_key", "secret.aws_access_key", "secret.generic_assignment",
    "secret.github_token", "secret.gitlab_token", "secret.google_api_key", "secret.jwt",
    "secret.openai_key", "secret.private_key", "secret.slack_token", "secret.stripe_key",
]  # fmt: skip


def ours(text: str) -> list[tuple[str, int, int]]:
    return [(f.detector, f.start, f.end) for f in detect(text, checks=CHECKS)]


@pytest.fixture(scope="module")
def results() -> dict[str, dict[str, float]]:
    return score(ours)


def test_committed_set_matches_its_generator() -> None:
    assert load_labelled() == build()


def test_set_has_hard_negatives_and_support() -> None:
    items = load_labelled()
    assert sum(1 for i in items if i["kind"] == "hard_negative") >= 80
    assert sum(1 for i in items if i["kind"] == "benign") >= 30


@pytest.mark.parametrize("detector", STRUCTURED)
def test_structured_pii_and_secrets_goal(
    results: dict[str, dict[str, float]], detector: str
) -> None:
    m = results[detector]
    assert m["support"] >= 16
    assert m["recall"] >= 0.95, (detector, m, results["_missed"].get(detector))
    assert m["precision"] >= 0.95, (
        detector,
        m,
        results["_missed"].get(f"{detector} (false positive)"),
    )


def test_injection_recall_and_precision(results: dict[str, dict[str, float]]) -> None:
    m = results["injection"]
    # The set keeps paraphrases the phrase rules are known to miss (another language,
    # typos, unmarked base64, indirect wording): recall is below 1 on purpose.
    assert m["recall"] >= 0.85, results["_missed"].get("injection")
    assert m["precision"] >= 0.95, results["_missed"].get("injection (false positive)")
