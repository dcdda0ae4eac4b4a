"""Reading a judge's answer: the 1-5 score, from JSON or from loose text, and G-Eval weights.

G-Eval (Liu et al., 2023) scores with the expectation of the score under the judge's
token distribution rather than the single sampled digit: ``sum(p(s) * s) / sum(p(s))``
over the candidate score tokens at the position where the score is written. It breaks
ties between cases the sampled integer cannot tell apart.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from llmops.providers.base import TokenLogprob

LOW, HIGH = 1, 5

_SCORE_KEY = re.compile(r'"?\b(?:score|rating|grade)\b"?\s*[:=]\s*"?(-?\d+(?:\.\d+)?)', re.I)
_OUT_OF = re.compile(r"\b(-?\d+(?:\.\d+)?)\s*(?:/|out of)\s*5\b", re.I)
_BARE = re.compile(r"^\s*\**\s*(-?\d+(?:\.\d+)?)\s*\**\s*\.?\s*$")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.S)
_VALUE_IN_JSON = re.compile(r'"score"\s*:\s*"?(\d)')


class JudgeParseError(ValueError):
    """The judge's answer holds no usable score."""


@dataclass
class Verdict:
    """What a judge's answer says: the score on the 1-5 scale and its reason."""

    score: float
    reason: str | None
    via: str  # "json" or "text"


def _from_mapping(data: Any) -> Verdict | None:
    if not isinstance(data, dict):
        return None
    lowered = {str(k).lower(): v for k, v in data.items()}
    for key in ("score", "rating", "grade"):
        if key in lowered:
            value = lowered[key]
            if isinstance(value, str):
                try:
                    value = float(value.strip())
                except ValueError:
                    raise JudgeParseError(f"score {lowered[key]!r} is not a number") from None
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise JudgeParseError(f"score {value!r} is not a number")
            reason = lowered.get("reason") or lowered.get("reasoning") or lowered.get("explanation")
            return Verdict(float(value), str(reason) if reason is not None else None, "json")
    return None


def _json_candidates(text: str) -> list[str]:
    out = [text.strip()]
    out += [m.group(1).strip() for m in _FENCE.finditer(text)]
    start = text.find("{")
    while start != -1:
        depth = 0
        for i in range(start, len(text)):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    out.append(text[start : i + 1])
                    break
        start = text.find("{", start + 1)
    return out


def parse_verdict(text: str) -> Verdict:
    """The judge's score, tolerant of prose, code fences and trailing text.

    Raises:
        JudgeParseError: no score found, or a score outside 1-5.
    """
    if not text or not text.strip():
        raise JudgeParseError("the judge's answer is empty")
    verdict = None
    for candidate in _json_candidates(text):
        try:
            verdict = _from_mapping(json.loads(candidate))
        except (json.JSONDecodeError, RecursionError):
            continue
        if verdict is not None:
            break
    if verdict is None:
        for pattern in (_SCORE_KEY, _OUT_OF, _BARE):
            match = pattern.search(text)
            if match:
                verdict = Verdict(float(match.group(1)), None, "text")
                break
    if verdict is None:
        raise JudgeParseError(f"no score in the judge's answer: {text.strip()[:120]!r}")
    if not math.isfinite(verdict.score) or not LOW <= verdict.score <= HIGH:
        raise JudgeParseError(f"the judge's score {verdict.score:g} is outside {LOW}..{HIGH}")
    return verdict


def _digit(token: str) -> int | None:
    # A score token may carry JSON punctuation with it (' 4', '4,', ':4').
    stripped = token.strip(" \t\n\"':,{}")
    if len(stripped) == 1 and stripped.isdigit() and LOW <= int(stripped) <= HIGH:
        return int(stripped)
    return None


def weighted_score(
    logprobs: list[TokenLogprob] | None, parsed: float | None = None
) -> tuple[float, dict[str, float]] | None:
    """The G-Eval score from the tokens' log probabilities, with the distribution used.

    None when the answer's score token cannot be found among the logprobs, or is not
    the ``parsed`` score (then the parsed score stands).
    """
    if not logprobs:
        return None
    offsets = []
    joined = ""
    for entry in logprobs:
        offsets.append(len(joined))
        joined += entry.token
    match = _VALUE_IN_JSON.search(joined)
    if match is None:
        return None
    at = match.start(1)
    index = max(i for i, off in enumerate(offsets) if off <= at)
    chosen = logprobs[index]
    digit = _digit(chosen.token)
    if digit is None or (parsed is not None and parsed != digit):
        return None
    candidates = dict(chosen.top)
    candidates.setdefault(chosen.token, chosen.logprob)
    probs: dict[int, float] = {}
    for token, lp in candidates.items():
        d = _digit(token)
        if d is not None and lp is not None and math.isfinite(lp):
            probs[d] = probs.get(d, 0.0) + math.exp(lp)
    total = sum(probs.values())
    if total <= 0:
        return None
    mean = sum(d * p for d, p in probs.items()) / total
    dist = {str(d): round(p / total, 4) for d, p in sorted(probs.items())}
    return mean, dist


INFORMATIVE_MASS = 0.5  # the most likely score must hold at least this much probability


def informative(distribution: dict[str, float]) -> bool:
    """Whether the judge's probabilities over 1-5 say something: one score holds at least
    half of the mass. A flat distribution (e.g. 0.26/0.14/0.13/0.31/0.16 from a small
    model) would pull every score towards 3, so the parsed score stands instead."""
    return bool(distribution) and max(distribution.values()) >= INFORMATIVE_MASS


def normalise(score: float) -> float:
    """1-5 → 0-1."""
    return (score - LOW) / (HIGH - LOW)
