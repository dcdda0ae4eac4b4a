"""The judge prompt: the packaged template, or a project prompt version, rendered safely."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmops.errors import PromptError, UserError

if TYPE_CHECKING:
    from llmops.scorers.base import Sample, ScorerContext

VARIABLES = ("criteria", "question", "answer", "expected", "context")
PACKAGED = "rubric@v1"


@dataclass(frozen=True)
class JudgePrompt:
    """A judge template with its reference (``name@version``) and content digest."""

    ref: str
    digest: str
    path: Path
    messages: list[dict[str, str]]
    params: dict[str, Any] = field(default_factory=dict)
    version: Any = None  # the project's PromptVersion when the user chose one

    def render(self, variables: dict[str, Any]) -> list[dict[str, Any]]:
        if self.version is not None:
            from llmops.prompts import render_messages

            declared = set(getattr(self.version, "variables", []) or [])
            return list(render_messages(self.version, {k: variables[k] for k in declared}))
        return _render_sandboxed(self.messages, variables, self.path)


def _render_sandboxed(
    messages: list[dict[str, str]], variables: dict[str, Any], path: Path
) -> list[dict[str, Any]]:
    from llmops.prompts.render import render_text

    return [{"role": m["role"], "content": render_text(m["content"], variables,
                                                      what="judge prompt", file=path)}
            for m in messages]


def _digest(payload: Any) -> str:
    blob = json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()


def packaged(name: str = "rubric", version: str = "v1") -> JudgePrompt:
    """A judge prompt shipped in ``llmops/judge/<name>/<version>.yaml``."""
    import yaml

    from llmops.judge import JUDGE_DIR

    path = JUDGE_DIR / name / f"{version}.yaml"
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    messages = [{"role": m["role"], "content": m["content"]} for m in data["messages"]]
    params = dict(data.get("params") or {})
    # Same fields as a project prompt's digest: what changes the judge's behaviour.
    payload = {
        "kind": "prompt",
        "variables": sorted(data.get("variables") or []),
        "rag": None,
        "params": params,
        "messages": messages,
    }
    return JudgePrompt(f"{name}@{version}", _digest(payload), path, messages, params)


def load(ref: str | None, ctx: ScorerContext) -> JudgePrompt:
    """The packaged judge prompt, or the project prompt version ``ref`` names."""
    if ref is None:
        return packaged()
    if ctx.project is None:
        raise UserError("scorer 'rubric': `prompt:` needs a project to find the prompt in")
    try:
        from llmops.prompts import load_registry
    except ImportError:
        raise UserError("scorer 'rubric': project prompts are not available") from None
    try:
        version = load_registry(ctx.project).resolve(ref)
    except PromptError:
        raise
    unknown = sorted(set(version.variables) - set(VARIABLES))
    if unknown:
        raise PromptError(
            f"judge prompt {ref} declares variables the rubric scorer cannot fill: "
            f"{', '.join(unknown)}",
            file=version.path,
            hint=f"a judge prompt may use {', '.join(VARIABLES)}",
        )
    return JudgePrompt(
        version.ref, version.digest, version.path, list(version.messages), dict(version.params),
        version,
    )


def question_of(sample: Sample) -> str:
    """What was asked: the last user message of the rendered input, else the case's vars."""
    for message in reversed(sample.messages or []):
        if message.get("role") == "user" and isinstance(message.get("content"), str):
            return str(message["content"])
    vars_ = sample.case.vars or {}
    if "question" in vars_:
        return str(vars_["question"])
    return "\n".join(f"{k}: {v}" for k, v in vars_.items())
