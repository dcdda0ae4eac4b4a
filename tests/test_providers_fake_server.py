"""The test server itself: OpenAI shapes, deterministic faults, counters, standalone mode."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.openai_server import FakeOpenAI, Reply, embed_text

ROOT = Path(__file__).resolve().parents[1]


_http = httpx.Client(timeout=5)  # one client: building one per request costs ~50 ms


def post(base_url: str, path: str, body: dict[str, Any], key: str | None = None) -> httpx.Response:
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    return _http.post(base_url + path, json=body, headers=headers)


def chat(text: str, **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


def outcomes(fake: FakeOpenAI, n: int) -> list[int]:
    codes = []
    for i in range(n):
        try:
            codes.append(post(fake.base_url, "/chat/completions", chat(f"p{i % 7}")).status_code)
        except httpx.TransportError:
            codes.append(0)
    return codes


def test_faults_are_the_same_on_every_run() -> None:
    runs = []
    for _ in range(2):
        with FakeOpenAI() as fake:
            fake.set_faults(rate_500=0.2, rate_429=0.1, rate_drop=0.1, rate_malformed=0.1,
                            retry_after_s=0.01, seed=5)
            runs.append((outcomes(fake, 60), dict(fake.requests.faults)))
    assert runs[0] == runs[1]
    codes, faults = runs[0]
    assert {500, 429, 0, 200} <= set(codes)
    assert faults["500"] == codes.count(500) and faults["drop"] == codes.count(0)


def test_429_fault_carries_both_retry_headers() -> None:
    with FakeOpenAI() as fake:
        fake.set_faults(rate_429=1.0, retry_after_s=2.5)
        r = post(fake.base_url, "/chat/completions", chat("x"))
    assert r.status_code == 429
    assert r.headers["retry-after"] == "2.5" and r.headers["retry-after-ms"] == "2500"
    assert r.json()["error"]["type"] == "rate_limit_error"


def test_key_is_checked(openai_server: FakeOpenAI) -> None:
    assert post(openai_server.base_url, "/chat/completions", chat("x")).status_code == 401
    ok = post(openai_server.base_url, "/chat/completions", chat("x"), openai_server.api_key)
    assert ok.status_code == 200 and ok.json()["choices"][0]["message"]["content"] == "x"


def test_json_mode_default_answer_and_scripted_raw_body() -> None:
    with FakeOpenAI() as fake:
        r = post(fake.base_url, "/chat/completions",
                 chat("hi", response_format={"type": "json_object"}))
        assert json.loads(r.json()["choices"][0]["message"]["content"]) == {"answer": "hi"}
        fake.script(Reply(body=b"not json at all", status=200, headers={"X-Test": "1"}))
        r = post(fake.base_url, "/chat/completions", chat("hi"))
        assert r.content == b"not json at all" and r.headers["x-test"] == "1"
        assert fake.pending() == 0


def test_counters_per_path_and_prompt() -> None:
    with FakeOpenAI() as fake:
        for text in ("a", "b", "a"):
            post(fake.base_url, "/chat/completions", chat(text))
        post(fake.base_url, "/embeddings", {"model": "e", "input": "a"})
        log = fake.requests
        assert log.count() == 4 and len(log) == 4
        assert log.count("/v1/chat/completions") == 3 and log.count("/v1/embeddings") == 1
        assert log.prompt_count("a") == 2 and log.repeated_prompts() == {"a": 2}
        fake.reset()
        assert log.count() == 0 and log.prompt_count("a") == 0


def test_models_and_embeddings_through_the_sdk() -> None:
    with FakeOpenAI() as fake:
        client = openai.OpenAI(base_url=fake.base_url, api_key="x", max_retries=0)
        assert [m.id for m in client.models.list()] == ["fake-model"]
        as_b64 = client.embeddings.create(model="e", input=["refund policy", "the refund"])
        as_float = client.embeddings.create(model="e", input=["refund policy", "the refund"],
                                            encoding_format="float")
        client.close()
    for a, b in zip(as_b64.data, as_float.data, strict=True):
        assert a.embedding == pytest.approx(b.embedding, abs=1e-6)
    assert as_float.data[0].embedding == pytest.approx(embed_text("refund policy"))


def test_embeddings_are_unit_vectors_and_share_words() -> None:
    def cos(a: list[float], b: list[float]) -> float:
        return sum(x * y for x, y in zip(a, b, strict=True))

    a, b, c = (embed_text(t) for t in ("Refunds within 30 days", "refunds within thirty days",
                                       "The office opens at nine"))
    assert math.isclose(cos(a, a), 1.0, abs_tol=1e-9)
    assert cos(a, b) > 0.4 > abs(cos(a, c))
    assert embed_text("same words") == embed_text("Same, words!")


def test_standalone_process(tmp_path: Path) -> None:
    proc = subprocess.Popen([sys.executable, str(ROOT / "tests" / "openai_server.py"),
                             "--port", "0", "--latency-ms", "20", "--rate-500", "0"],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        base = line.split()[-1]
        root = base.removesuffix("/v1")
        client = openai.OpenAI(base_url=base, api_key="x", max_retries=0)
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hey"}])
        assert reply.choices[0].message.content == "hey"
        post(root, "/_config", {"latency_ms": 0, "rate_500": 1.0})
        with pytest.raises(openai.InternalServerError):
            client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
        client.close()
        stats = json.load(urllib.request.urlopen(root + "/_stats"))
        assert stats["total"] == 2 and stats["faults"] == {"500": 1}
        post(root, "/_reset", {})
        assert json.load(urllib.request.urlopen(root + "/_stats"))["total"] == 0
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(10) == 0
