"""The response cache: hits cost no model call, misses on any change, safe across processes."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from llmops.project import ProviderConfig
from llmops.providers import (
    Completion,
    EmbeddingProvider,
    Provider,
    ProviderCallError,
    RetryPolicy,
    make_provider,
)
from llmops.providers.base import TokenLogprob
from llmops.providers.cache import ResponseCache, cache_key
from tests.openai_server import FakeOpenAI, Reply

ROOT = Path(__file__).resolve().parents[1]


def msgs(text: str) -> list[dict[str, Any]]:
    return [{"role": "user", "content": text}]


def cached(fake: FakeOpenAI, path: Path, *, no_cache: bool = False, **conf: Any) -> Provider:
    config = ProviderConfig.model_validate(fake.provider_config(**conf))
    return make_provider(config, cache_path=path, no_cache=no_cache,
                         retry=RetryPolicy(max_retries=1, base_s=0.01))


def ask(p: Provider, *calls: tuple[str, dict[str, Any]]) -> list[Completion]:
    async def go() -> list[Completion]:
        try:
            return [await p.complete(msgs(text), params) for text, params in calls]
        finally:
            await p.aclose()

    return asyncio.run(go())


def test_second_identical_call_is_served_from_the_cache(openai_server: FakeOpenAI,
                                                        tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    first, second = ask(cached(openai_server, db), ("hello", {"temperature": 0}),
                        ("hello", {"temperature": 0}))
    assert openai_server.requests.count() == 1
    assert not first.cached and second.cached
    assert (second.text, second.prompt_tokens, second.completion_tokens) == (
        first.text, first.prompt_tokens, first.completion_tokens)
    assert second.latency_ms == first.latency_ms and second.attempts == 0
    # a new process (a new provider on the same file) hits too
    (again,) = ask(cached(openai_server, db), ("hello", {"temperature": 0}))
    assert again.cached and openai_server.requests.count() == 1


def test_any_change_is_a_miss(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    ask(cached(openai_server, db), ("hello", {"temperature": 0}))
    ask(cached(openai_server, db),
        ("hello", {"temperature": 0.1}),           # a param value
        ("hello", {"temperature": 0, "seed": 1}),  # an extra param
        ("hello ", {"temperature": 0}),            # the messages
        ("hello", {"temperature": 0, "_sample": 1}))  # a caller's sample salt
    ask(cached(openai_server, db, model="other"), ("hello", {"temperature": 0}))
    ask(cached(openai_server, db, params={"top_p": 0.5}), ("hello", {"temperature": 0}))
    assert openai_server.requests.count() == 7
    assert "_sample" not in openai_server.requests.bodies[4]


def test_the_endpoint_is_part_of_the_key(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    ask(cached(openai_server, db), ("hello", {}))
    with FakeOpenAI() as other:
        conf = ProviderConfig(kind="openai", base_url=other.base_url, api_key_env="",
                              model="fake-model")
        ask(make_provider(conf, cache_path=db), ("hello", {}))
        assert other.requests.count() == 1


def test_no_cache_skips_reads_but_still_writes(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    openai_server.script("old answer", "new answer")
    ask(cached(openai_server, db), ("q", {}))
    (fresh,) = ask(cached(openai_server, db, no_cache=True), ("q", {}))
    assert fresh.text == "new answer" and not fresh.cached
    (hit,) = ask(cached(openai_server, db), ("q", {}))
    assert hit.cached and hit.text == "new answer"
    assert openai_server.requests.count() == 2


def test_failures_are_not_cached(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    openai_server.script(Reply.error(400, "nope"))
    with pytest.raises(ProviderCallError):
        ask(cached(openai_server, db), ("q", {}))
    (ok,) = ask(cached(openai_server, db), ("q", {}))
    assert not ok.cached and openai_server.requests.count() == 2


def test_identical_calls_in_flight_are_made_once(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    openai_server.set_latency(100)
    p = cached(openai_server, tmp_path / "cache.db")

    async def go() -> list[Completion]:
        try:
            return await asyncio.gather(*(p.complete(msgs("same"), {}) for _ in range(5)))
        finally:
            await p.aclose()

    results = asyncio.run(go())
    assert {c.text for c in results} == {"same"}
    assert openai_server.requests.count() == 1


def test_logprobs_survive_the_cache(openai_server: FakeOpenAI, tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    params = {"logprobs": True, "top_logprobs": 2}
    first, second = ask(cached(openai_server, db), ("score 3", params), ("score 3", params))
    assert second.cached and second.logprobs == first.logprobs
    assert second.logprobs is not None and isinstance(second.logprobs[0], TokenLogprob)


def test_key_is_canonical() -> None:
    a = cache_key("id", "m", {"b": 1, "a": [1, 2]}, msgs("x"))
    b = cache_key("id", "m", {"a": [1, 2], "b": 1}, msgs("x"))
    assert a == b and len(a) == 64
    assert a != cache_key("id", "m", {"a": [2, 1], "b": 1}, msgs("x"))
    assert a != cache_key("id2", "m", {"a": [1, 2], "b": 1}, msgs("x"))


def test_processes_writing_one_cache_lose_nothing(tmp_path: Path) -> None:
    db = tmp_path / "shared.db"
    script = textwrap.dedent(f"""
        import sys
        from pathlib import Path
        from llmops.providers.base import Completion
        from llmops.providers.cache import ResponseCache
        cache = ResponseCache(Path({str(db)!r}))
        me = int(sys.argv[1])
        for i in range(300):
            key = f"k{{i}}" if i % 2 else f"p{{me}}-{{i}}"  # half shared, half private
            cache.put(key, "id", Completion(text=f"{{me}}:{{i}}", model="m", latency_ms=1.0))
            assert cache.get(key) is not None
    """)
    procs = [subprocess.Popen([sys.executable, "-c", script, str(n)], cwd=ROOT,
                              stderr=subprocess.PIPE) for n in range(3)]
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err.decode()
    cache = ResponseCache(db)
    assert len(cache) == 150 + 3 * 150
    hit = cache.get("k1")
    assert hit is not None and hit.cached and hit.text.endswith(":1")
    cache.close()


def test_usable_after_aclose_and_serves_embeddings(openai_server: FakeOpenAI,
                                                   tmp_path: Path) -> None:
    p = cached(openai_server, tmp_path / "cache.db")
    ask(p, ("q", {}))
    (again,) = ask(p, ("q", {}))  # ask() closed it once already
    assert again.cached
    assert isinstance(p, EmbeddingProvider)

    async def go() -> list[list[float]]:
        try:
            return await p.embed(["a", "b"], "e")
        finally:
            await p.aclose()

    assert len(asyncio.run(go())) == 2


def test_an_unusable_cache_costs_calls_not_results(openai_server: FakeOpenAI,
                                                   tmp_path: Path) -> None:
    db = tmp_path / "cache.db"
    p = cached(openai_server, db)
    ask(p, ("q", {}))  # closes the connection; the next use reopens the file
    for f in tmp_path.glob("cache.db*"):
        f.unlink()
    db.mkdir()  # a directory where the database file should be: sqlite cannot open it
    with pytest.warns(UserWarning, match="response cache .* unusable"):
        a, b = ask(p, ("q", {}), ("q", {}))
    assert (a.text, b.text) == ("q", "q") and not a.cached and not b.cached
    assert openai_server.requests.count() == 3


@pytest.mark.parametrize("damage", ["truncated", "garbage"])
def test_a_corrupt_cache_file_is_moved_aside_and_the_run_goes_on(
    openai_server: FakeOpenAI, tmp_path: Path, damage: str
) -> None:
    db = tmp_path / "cache.db"
    ask(cached(openai_server, db), *[(f"q{i}", {}) for i in range(200)])
    ResponseCache(db).close()  # checkpoint the WAL: every row is in cache.db now
    size = db.stat().st_size
    with db.open("r+b") as f:
        if damage == "truncated":
            f.truncate(size // 3)
        else:
            f.write(b"this is not a database" * 200)
    with pytest.warns(UserWarning, match=r"response cache .*cache.db is corrupt .* moved it "
                                          r"to cache\.db\.corrupt-\d{8}T\d{6}"):
        answers = ask(cached(openai_server, db), ("q1", {}), ("q1", {}))
    assert [a.text for a in answers] == ["q1", "q1"]
    assert not answers[0].cached and answers[1].cached  # the fresh cache works
    moved = list(tmp_path.glob("cache.db.corrupt-*"))
    assert len([m for m in moved if not m.name.endswith(("-wal", "-shm"))]) == 1
    assert len(ResponseCache(db)) == 1


def test_a_cache_from_before_migrations_keeps_its_rows(tmp_path: Path) -> None:
    import sqlite3

    db = tmp_path / "cache.db"
    old = sqlite3.connect(db)
    old.execute("create table completions (key text primary key, identity text not null,"
                " model text, value blob not null, created_at real not null)")
    old.execute("insert into completions values ('k', 'id', 'm', ?, 0)",
                (b'{"text": "kept", "model": "m", "latency_ms": 1.0}',))
    old.commit()
    old.close()
    cache = ResponseCache(db)
    hit = cache.get("k")
    assert hit is not None and hit.text == "kept" and hit.cached
    cache.close()
    names = [r[0] for r in sqlite3.connect(db).execute("select name from _migrations")]
    assert names == ["m001_completions"]
