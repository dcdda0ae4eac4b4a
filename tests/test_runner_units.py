"""Runner bookkeeping with an in-process provider: chunked scoring, flushing, failures."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from llmops.eval.runner import Runner, Variant, scorer_slots
from llmops.evalsets import load_evalset
from llmops.project import load_project
from llmops.prompts import load_registry
from llmops.providers.base import Completion, ProviderCallError
from llmops.scorers import build_scorers
from llmops.scorers.base import Sample, Score
from llmops.store.sqlite import SqliteStore

MakeProject = Callable[..., Path]


class EchoProvider:
    """Answers with the last message; fails for questions listed in ``fail``."""

    identity = "echo"

    def __init__(self, fail: set[str] | None = None) -> None:
        self.fail = fail or set()
        self.calls = 0
        self.in_flight = 0
        self.max_in_flight = 0

    async def complete(self, messages: list[dict[str, Any]], params: dict[str, Any], *,
                       case: Any = None) -> Completion:
        self.calls += 1
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0)
            text = messages[-1]["content"]
            if text in self.fail:
                raise ProviderCallError(f"refused: {text}")
            return Completion(text=text, model="echo", latency_ms=1.0, prompt_tokens=2,
                              completion_tokens=2)
        finally:
            self.in_flight -= 1

    async def aclose(self) -> None:
        pass


class CountingScorer:
    """Records the size of every batch it is given."""

    name = "counting"
    version = "1"

    def __init__(self) -> None:
        self.args: dict[str, Any] = {}
        self.batches: list[int] = []

    def validate(self, cases: list[Any]) -> None:
        pass

    async def score(self, samples: list[Sample]) -> list[Score]:
        self.batches.append(len(samples))
        await asyncio.sleep(0.001)
        return [Score(1.0, True) for _ in samples]


def _runner(root: Path, provider: Any, scorers: list[Any], **kw: Any) -> tuple[Runner, SqliteStore]:
    project = load_project(root)
    version = load_registry(project).resolve("qa@v1")
    evalset = load_evalset(root / "evalsets" / "qa.jsonl")
    store = SqliteStore(project.store.path)
    store.create_run("r1", "qa")
    vid = store.add_variant("r1", prompt="qa", version="v1", digest=version.digest, model="m",
                            params={}, provider="echo")
    runner = Runner(project, store, "r1", provider, evalset, [Variant(vid, version, {})],
                    scorer_slots(scorers), **kw)
    return runner, store


def test_chunked_scoring_scores_every_result_once(
    make_project: MakeProject, openai_server: Any
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=700)
    counting = CountingScorer()
    exact = build_scorers([{"exact": {}}])[0]
    provider = EchoProvider()
    runner, store = _runner(root, provider, [counting, exact], concurrency=16, score_chunk=256)
    stats = asyncio.run(runner.run())
    assert stats.calls == 700 and provider.calls == 700 and stats.errors == 0
    assert provider.max_in_flight == 16
    assert sum(counting.batches) == 700 and max(counting.batches) <= 256
    assert len(counting.batches) >= 3
    n = store.db.execute("select count(*), count(distinct result_id) from scores"
                         " where scorer = 'counting'").fetchone()
    assert tuple(n) == (700, 700)
    assert store.db.execute("select count(*) from scores where scorer = 'exact' and passed = 1"
                            ).fetchone()[0] == 700


def test_failed_calls_are_rows_with_errors_and_no_scores(
    make_project: MakeProject, openai_server: Any
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=20)
    provider = EchoProvider(fail={"question number 3", "question number 7"})
    runner, store = _runner(root, provider, build_scorers([{"exact": {}}]), concurrency=4)
    stats = asyncio.run(runner.run())
    assert stats.errors == 2 and "refused: question number" in (stats.first_error or "")
    rows = store.db.execute("select case_id, error from results where error is not null"
                            " order by case_id").fetchall()
    assert [r[0] for r in rows] == ["case-00003", "case-00007"]
    assert store.db.execute("select count(*) from scores").fetchone()[0] == 18
    # A resume retries only the two failures.
    retry = EchoProvider()
    runner2, _ = _runner_again(root, store, retry)
    asyncio.run(runner2.run())
    assert retry.calls == 2
    assert store.db.execute("select count(*) from results where error is null").fetchone()[0] == 20
    assert store.db.execute("select count(*) from scores").fetchone()[0] == 20


def _runner_again(root: Path, store: SqliteStore, provider: Any) -> tuple[Runner, SqliteStore]:
    project = load_project(root)
    version = load_registry(project).resolve("qa@v1")
    evalset = load_evalset(root / "evalsets" / "qa.jsonl")
    vid = store.variants("r1")[0].variant_id
    runner = Runner(project, store, "r1", provider, evalset, [Variant(vid, version, {})],
                    scorer_slots(build_scorers([{"exact": {}}])), concurrency=4)
    return runner, store


def test_scorer_crash_is_an_error_on_each_case_not_a_pass(
    make_project: MakeProject, openai_server: Any
) -> None:
    class Broken(CountingScorer):
        name = "broken"

        async def score(self, samples: list[Sample]) -> list[Score]:
            raise RuntimeError("model file missing")

    root = make_project(openai_server.provider_config(), n_cases=5)
    runner, store = _runner(root, EchoProvider(), [Broken()])
    asyncio.run(runner.run())
    rows = store.db.execute("select value, passed, error from scores").fetchall()
    assert len(rows) == 5
    assert all(r[0] is None and r[1] is None and "model file missing" in r[2] for r in rows)


def test_scorer_keys_for_repeated_names() -> None:
    scorers = build_scorers([{"max_words": {"limit": 5}}, {"max_words": {"limit": 50}},
                             {"exact": {}}])
    assert [s.key for s in scorer_slots(scorers)] == ["max_words", "max_words#2", "exact"]


@pytest.mark.parametrize("flush_rows", [1, 64])
def test_flush_policy_writes_everything(
    make_project: MakeProject, openai_server: Any, flush_rows: int
) -> None:
    root = make_project(openai_server.provider_config(), n_cases=50)
    runner, store = _runner(root, EchoProvider(), [], concurrency=8, flush_rows=flush_rows)
    asyncio.run(runner.run())
    assert store.count_results("r1") == 50


def test_a_scorer_user_error_stops_the_run(make_project: MakeProject, openai_server: Any) -> None:
    from llmops.errors import UserError

    class Picky(CountingScorer):
        name = "picky"

        async def score(self, samples: list[Sample]) -> list[Score]:
            raise UserError("scorer 'picky': case has no expected answer")

    root = make_project(openai_server.provider_config(), n_cases=30)
    runner, store = _runner(root, EchoProvider(), [Picky()], score_chunk=10)
    with pytest.raises(UserError, match="no expected answer"):
        asyncio.run(runner.run())
    assert store.count_results("r1") == 30  # the outputs are kept for a resume


@pytest.mark.parametrize("batch_rows", [16, 40])
def test_results_are_written_in_batches_of_the_stores_size(
    make_project: MakeProject, openai_server: Any, batch_rows: int
) -> None:
    # flush_rows unset: the store says how many results are worth a transaction (more on
    # PostgreSQL than on SQLite); only the final write of the run is smaller.
    root = make_project(openai_server.provider_config(), n_cases=200)
    runner, store = _runner(root, EchoProvider(), [], concurrency=8, flush_s=60.0)
    sizes: list[int] = []
    write = store.write_results

    def counted(run_id: str, rows: Any) -> list[int]:
        sizes.append(len(rows))
        return write(run_id, rows)

    store.batch_rows = batch_rows  # type: ignore[misc]
    store.write_results = counted  # type: ignore[method-assign]
    asyncio.run(runner.run())
    assert sum(sizes) == 200 and store.count_results("r1") == 200
    assert len(sizes) > 1 and all(n >= batch_rows for n in sizes[:-1])
    assert min(sizes[:-1]) < 2 * batch_rows + 8  # not one batch of everything
