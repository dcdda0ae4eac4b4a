"""Provider kind python: a real module in a project, imported and called per case."""

from __future__ import annotations

import asyncio
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from llmops.errors import ConfigError
from llmops.evalsets import Case
from llmops.project import ProviderConfig
from llmops.providers import Completion, Provider, ProviderCallError, make_provider

APP = '''
"""A small application: a retrieval step, then an answer."""
import asyncio
import threading
import time

CALLS = []
DOCS = {"refund": "Refunds within 30 days.", "hours": "Open 9 to 5."}


def answer(messages, variables, params):
    CALLS.append((messages, variables, params))
    return f"{params.get('style', 'plain')}: {variables['question']}"


async def rag(messages, variables, params):
    await asyncio.sleep(0.01)
    hits = [k for k in DOCS if k in variables["question"]]
    return {"output": " ".join(DOCS[k] for k in hits) or "I don't know.",
            "contexts": [{"text": DOCS[k], "source": f"docs/{k}.md"} for k in hits],
            "usage": {"prompt_tokens": 12, "completion_tokens": 5}}


def plain_contexts(messages, variables, params):
    return {"output": "ok", "contexts": ["first passage", "second passage"]}


def fails(messages, variables, params):
    if variables["question"] == "bad":
        raise ValueError("no such customer: 42")
    return "fine"


def hangs(messages, variables, params):
    if variables["question"] == "hang":
        threading.Event().wait()
    return "quick"


async def hangs_async(messages, variables, params):
    await asyncio.sleep(3600)


def wrong_type(messages, variables, params):
    return 42


def no_output(messages, variables, params):
    return {"answer": "x"}


def slow(messages, variables, params):
    time.sleep(0.2)
    return variables["question"]

def bad_contexts(messages, variables, params):
    return {"output": "ok", "contexts": 5}

NOT_CALLABLE = 3
'''


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Path]:
    (tmp_path / "shop").mkdir()
    (tmp_path / "shop" / "__init__.py").write_text("")
    (tmp_path / "shop" / "app.py").write_text(textwrap.dedent(APP))
    (tmp_path / "shop" / "broken.py").write_text('raise RuntimeError("no database configured")\n')
    yield tmp_path
    for name in [m for m in sys.modules if m == "shop" or m.startswith("shop.")]:
        del sys.modules[name]
    if str(tmp_path) in sys.path:
        sys.path.remove(str(tmp_path))


def target(root: Path, name: str, **overrides: Any) -> Provider:
    config = ProviderConfig.model_validate({"kind": "python", "target": f"shop.app:{name}",
                                            "timeout_s": 1, **overrides})
    return make_provider(config, cache_path=root / ".llmops" / "cache.db", root=root)


def case(question: str, cid: str = "c1") -> Case:
    return Case(id=cid, vars={"question": question})


def ask(p: Provider, *questions: str, params: dict[str, Any] | None = None,
        ) -> list[Completion | Exception]:
    async def one(i: int, q: str) -> Completion | Exception:
        try:
            return await p.complete([{"role": "user", "content": q}], params or {},
                                    case=case(q, f"c{i}"))
        except ProviderCallError as exc:
            return exc

    async def go() -> list[Completion | Exception]:
        try:
            return await asyncio.gather(*(one(i, q) for i, q in enumerate(questions)))
        finally:
            await p.aclose()

    return asyncio.run(go())


def test_sync_target_gets_messages_variables_and_params(project: Path) -> None:
    p = target(project, "answer", params={"style": "terse", "temperature": 0})
    (c,) = ask(p, "Can I return it?", params={"_sample": 1, "temperature": 0.5})
    assert isinstance(c, Completion) and c.text == "terse: Can I return it?"
    assert c.model == "shop.app:answer" and not c.cached and c.contexts is None
    app = sys.modules["shop.app"]
    messages, variables, params = app.CALLS[-1]
    assert messages == [{"role": "user", "content": "Can I return it?"}]
    assert variables == {"question": "Can I return it?"}
    assert params == {"style": "terse", "temperature": 0.5}  # `_` keys are not passed
    assert p.identity.startswith("python:shop.app:answer:")


def test_async_target_returns_output_contexts_and_usage(project: Path) -> None:
    c, none = ask(target(project, "rag"), "refund please", "what's new")
    assert isinstance(c, Completion) and c.text == "Refunds within 30 days."
    assert c.contexts == [{"text": "Refunds within 30 days.", "source": "docs/refund.md"}]
    assert (c.prompt_tokens, c.completion_tokens) == (12, 5)
    assert isinstance(none, Completion) and none.contexts == []


def test_string_contexts_become_passages(project: Path) -> None:
    (c,) = ask(target(project, "plain_contexts"), "q")
    assert isinstance(c, Completion)
    assert c.contexts == [{"text": "first passage", "source": "first passage"},
                          {"text": "second passage", "source": "second passage"}]


def test_an_exception_is_that_cases_error(project: Path) -> None:
    bad, good = ask(target(project, "fails"), "bad", "good")
    assert isinstance(bad, ProviderCallError)
    assert str(bad) == "python target shop.app:fails raised ValueError: no such customer: 42"
    assert isinstance(good, Completion) and good.text == "fine"


@pytest.mark.parametrize("name", ["hangs", "hangs_async"])
def test_a_hanging_target_is_cut_at_timeout_s(project: Path, name: str) -> None:
    start = time.perf_counter()
    results = ask(target(project, name), "hang", "other")
    assert time.perf_counter() - start < 2.5
    assert isinstance(results[0], ProviderCallError)
    assert "no answer within 1 s (timeout_s)" in str(results[0])
    if name == "hangs":
        assert isinstance(results[1], Completion) and results[1].text == "quick"


@pytest.mark.parametrize(("name", "message"), [
    ("wrong_type", "returned int; expected str or a mapping with a string `output`"),
    ("no_output", "returned a mapping without a string `output` (keys: ['answer'])"),
    ("bad_contexts", "returned contexts of type int; expected a list of strings"),
])
def test_a_wrong_return_type_names_target_and_type(project: Path, name: str,
                                                   message: str) -> None:
    (result,) = ask(target(project, name), "q")
    assert isinstance(result, ProviderCallError)
    assert f"python target shop.app:{name} {message}" in str(result)


@pytest.mark.parametrize(("spec", "message"), [
    ("shop.nowhere:answer", "cannot be imported: ModuleNotFoundError"),
    ("shop.app:missing", "cannot be imported: AttributeError"),
    ("shop.app:NOT_CALLABLE", "is not callable (it is of type int)"),
    ("shop.broken:answer", "cannot be imported: RuntimeError: no database configured"),
    ("shop.app", "is not `package.module:function`"),
])
def test_a_target_that_cannot_be_imported_is_a_config_error(project: Path, spec: str,
                                                            message: str) -> None:
    config = ProviderConfig(kind="python", target=spec)
    with pytest.raises(ConfigError) as info:
        make_provider(config, cache_path=None, root=project)
    assert info.value.exit_code == 2 and spec in str(info.value) and message in str(info.value)


def test_kind_python_needs_a_target() -> None:
    with pytest.raises(ValueError, match="kind python needs `target"):
        ProviderConfig(kind="python")
    with pytest.raises(ValueError, match="`target` is for kind python"):
        ProviderConfig(kind="openai", target="a:b")


def test_concurrency_is_bounded_by_max_concurrency(project: Path) -> None:
    start = time.perf_counter()
    results = ask(target(project, "slow", max_concurrency=4), *[f"q{i}" for i in range(8)])
    assert all(isinstance(r, Completion) for r in results)
    assert 0.38 <= time.perf_counter() - start < 1.0  # two waves of 0.2 s


def test_cache_is_opt_in_for_targets_and_keyed_on_the_variables(project: Path) -> None:
    uncached = target(project, "answer")
    ask(uncached, "one")
    ask(uncached, "one")
    app = sys.modules["shop.app"]
    assert len(app.CALLS) == 2
    cached = target(project, "answer", cache=True)
    first = ask(cached, "one", "two")
    again = ask(cached, "one", "two")
    assert len(app.CALLS) == 4  # two new calls, then both from the cache
    assert [c.text for c in again if isinstance(c, Completion)] == [
        c.text for c in first if isinstance(c, Completion)]
    assert all(isinstance(c, Completion) and c.cached for c in again)


def test_cached_answers_depend_on_the_variables_not_only_the_messages(project: Path) -> None:
    p = target(project, "answer", cache=True)
    same = [{"role": "user", "content": "the same rendered prompt"}]

    async def go() -> list[Completion]:
        try:
            return [await p.complete(same, {}, case=case(q)) for q in ("a", "b", "a")]
        finally:
            await p.aclose()

    a, b, a_again = asyncio.run(go())
    assert (a.text, b.text, a_again.text) == ("plain: a", "plain: b", "plain: a")
    assert not b.cached and a_again.cached
